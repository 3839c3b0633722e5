// The listeners: the public app and the /metrics-only listener, with the limits every
// public HTTP server needs, and a graceful stop: report not ready, stop accepting, let
// in-flight requests finish (bounded by SHUTDOWN_TIMEOUT_MS), then release everything.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildDependencies, createApp, type BaseDeps, type BuiltDependencies } from './app.js';
import type { Config } from './config/index.js';
import { answerClientError, limitUrlLength, refuseConnect } from './http/client-error.js';
import { requestIds } from './http/request-id.js';
import { createMetricsServer } from './metrics.js';

export interface RunningService {
  readonly port: number;
  readonly metricsPort: number;
  readonly deps: BuiltDependencies;
  /** Drains and closes; resolves when everything is released. */
  stop(): Promise<void>;
}

export interface ServerLimits {
  /** Longer than common load balancers' idle timeout (60 s), so they close first. */
  keepAliveTimeoutMs: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  maxHeaderSizeBytes: number;
  /** Longest request URL: a query-string token (at most 8192 characters) fits, little else. */
  maxUrlBytes: number;
  /** How often Node checks headersTimeout and requestTimeout; they can fire this much late. */
  connectionsCheckingIntervalMs: number;
}

export const SERVER_LIMITS: ServerLimits = {
  keepAliveTimeoutMs: 65_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  maxHeaderSizeBytes: 16_384,
  maxUrlBytes: 10_240,
  connectionsCheckingIntervalMs: 2_000,
};

/**
 * Starts both listeners. main.ts passes only the logger and the registry; the rest are
 * test seams: `clock` and `timers` (a manual clock), `defaultMetrics` (false spares each
 * test's registry prom-client's process collectors) and `limits` (shorter than
 * SERVER_LIMITS, so a test of a slow client need not wait 10 s).
 */
export async function startService(config: Config, base: BaseDeps & { limits?: Partial<ServerLimits> }): Promise<RunningService> {
  const deps = buildDependencies(config, base);
  // One series of ids for the app's answers and for those written before it sees a request.
  const requestIdOf = requestIds({ trustProxy: config.trustProxy });
  const app = createApp(config, { ...deps, requestIdOf });
  const limits = { ...SERVER_LIMITS, ...base.limits };
  const server = createServer(
    {
      maxHeaderSize: limits.maxHeaderSizeBytes,
      requestTimeout: limits.requestTimeoutMs,
      headersTimeout: limits.headersTimeoutMs,
      connectionsCheckingInterval: limits.connectionsCheckingIntervalMs,
    },
    limitUrlLength(app.callback(), limits.maxUrlBytes, requestIdOf),
  );
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.on('clientError', answerClientError(base.logger, requestIdOf));
  server.on('connect', refuseConnect(requestIdOf));
  const metricsServer = createMetricsServer(base.registry);
  try {
    await listen(server, config.port, config.host);
    await listen(metricsServer, config.metricsPort, config.host);
  } catch (error) {
    server.close();
    await deps.close();
    throw error;
  }
  const port = (server.address() as AddressInfo).port;
  const metricsPort = (metricsServer.address() as AddressInfo).port;
  base.logger.info({ port, metricsPort, authMethod: config.auth.method }, 'listening');

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      deps.health.startDraining();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          base.logger.warn('shutdown timeout: closing connections still open');
          server.closeAllConnections();
          resolve();
        }, config.shutdownTimeoutMs);
      });
      await Promise.race([closed, deadline]);
      clearTimeout(timer);
      await new Promise<void>((resolve) => metricsServer.close(() => resolve()));
      metricsServer.closeAllConnections();
      await deps.close();
    })());
  return { port, metricsPort, deps, stop };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
