// Runs the real service in this process on free ports, configured from an environment
// map exactly as main.ts is, with its logs captured.

import { Registry } from 'prom-client';
import type { BaseDeps } from '../../src/app.js';
import type { Clock } from '../../src/clock.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { createLogger } from '../../src/logger.js';
import { startService, type RunningService, type ServerLimits } from '../../src/server.js';
import { captureLogs, type CapturedLogs } from './logs.js';

export interface TestService {
  readonly url: string;
  readonly metricsUrl: string;
  readonly config: Config;
  readonly logs: CapturedLogs;
  readonly running: RunningService;
  turnServer(token?: string, init?: { path?: string; headers?: Record<string, string> }): Promise<Response>;
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

export const TEST_SECRET = 'test-shared-secret-0f9e8d';

/** `env` overrides the defaults below; a name set to undefined removes its default (e.g. to take it from CONFIG_FILE). */
export async function startTestService(
  env: Record<string, string | undefined>,
  options: { clock?: Clock; limits?: Partial<ServerLimits>; probe?: BaseDeps['probe'] } = {},
): Promise<TestService> {
  const config = loadConfig({
    PORT: '0',
    METRICS_PORT: '0',
    HOST: '127.0.0.1',
    TURN_URIS: 'turn:turn.example.org:3478?transport=udp,turns:turn.example.org:5349?transport=tcp',
    TURN_SHARED_SECRET: TEST_SECRET,
    // turn.example.org is no server: a test that wants health checks turns them on.
    TURN_HEALTH_CHECK_INTERVAL: '0',
    LOG_LEVEL: 'debug',
    ...env,
  });
  const logs = captureLogs();
  const logger = createLogger(config.logLevel, logs.stream);
  const running = await startService(config, {
    logger,
    registry: new Registry(),
    defaultMetrics: false,
    ...(options.clock && { clock: options.clock }),
    ...(options.limits && { limits: options.limits }),
    ...(options.probe && { probe: options.probe }),
  });
  const url = `http://127.0.0.1:${running.port}`;
  const metricsUrl = `http://127.0.0.1:${running.metricsPort}/metrics`;
  return {
    url,
    metricsUrl,
    config,
    logs,
    running,
    turnServer(token, init = {}) {
      const headers: Record<string, string> = { ...init.headers };
      if (token !== undefined) headers.authorization = `Bearer ${token}`;
      return fetch(`${url}${init.path ?? '/_matrix/client/v3/voip/turnServer'}`, { headers });
    },
    metrics: () => fetch(metricsUrl).then((r) => r.text()),
    stop: () => running.stop(),
  };
}
