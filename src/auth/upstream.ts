// Calls to an upstream (the homeserver, the OAuth server, the JWKS endpoint, which jose
// fetches through it: jwt-keys.ts): one keep-alive connection pool per origin, a timeout
// on every call, the duration recorded, and every failure turned into the right 5xx
// MatrixError. The caller decides what an answer means; this module decides whether there
// was one, and a 5xx is none (no protocol we speak puts a verdict on a token in one): 503
// passes on as 503, any other as 502. Every upstream also gets a cap on calls in flight
// and a circuit breaker: 5xx answers, timeouts and refused connections count as failures
// (a 401 for a bad token never does), and while the breaker is open or the cap is
// exhausted callers get 503 at once instead of waiting on it. Outages are logged by
// outage.ts, once when they start and once when they end; the breaker's own changes are
// steps of that story, logged at debug.

import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import { systemClock, systemTimers, type Clock, type Timers } from '../clock.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { errorCode } from '../error-fields.js';
import { MatrixError } from '../errors.js';
import { createBreaker, type CircuitBreaker } from './breaker.js';
import { concurrencyLimit } from './concurrency.js';
import { outageLog } from './outage.js';

export interface UpstreamResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The parsed JSON body, or undefined when the body was not JSON. */
  readonly json: unknown;
}

export interface UpstreamRequest {
  method: 'GET' | 'POST';
  url: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface Upstream {
  readonly name: string;
  call(req: UpstreamRequest): Promise<UpstreamResponse>;
  close(): Promise<void>;
}

export interface UpstreamOptions {
  /** Label in metrics and logs: homeserver, introspection, jwks. */
  name: string;
  /** Milliseconds one call may take, connection included. */
  timeoutMs: number;
  metrics: Metrics;
  logger: Logger;
  /** Largest body read, in bytes. Default 64 KiB: no verification answer is larger. */
  maxBodyBytes?: number;
  /** Calls in flight at once; more wait up to queueWaitMs, then get 503. Default 64. */
  maxConcurrency?: number;
  /** Milliseconds a call waits for a free slot. Default 1000: a client retries sooner than a slow answer. */
  queueWaitMs?: number;
  /** Consecutive failures that open the circuit breaker. Default 5. */
  breakerFailureThreshold?: number;
  /** Milliseconds an open breaker fails fast before one probe call. Default 5000. */
  breakerResetMs?: number;
  clock?: Clock;
  /** What each call's deadline and the wait for a slot run on; default Node's. */
  timers?: Timers;
}

/** What every upstream of the service is held to (the UPSTREAM_* settings). */
export type UpstreamLimits = Required<Pick<UpstreamOptions, 'timeoutMs' | 'maxConcurrency' | 'breakerFailureThreshold' | 'breakerResetMs'>>;

const UPSTREAM_OUTCOMES = ['response', 'server_error', 'timeout', 'unreachable'] as const;
type UpstreamOutcome = (typeof UPSTREAM_OUTCOMES)[number];

export function createUpstream(options: UpstreamOptions): Upstream {
  const { name, timeoutMs, metrics, logger } = options;
  const maxBodyBytes = options.maxBodyBytes ?? 65_536;
  const dispatcher = new Agent({
    connect: { timeout: timeoutMs },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    keepAliveTimeout: 30_000,
    connections: 256,
    pipelining: 1,
  });
  // One bound series per outcome, resolved once: labels() builds a key and looks it up on every call.
  const durations = new Map(UPSTREAM_OUTCOMES.map((outcome) => [outcome, metrics.upstreamDuration.labels(name, outcome)]));
  const observe = (outcome: UpstreamOutcome, startNs: bigint) =>
    durations.get(outcome)!.observe(Number(process.hrtime.bigint() - startNs) / 1e9);
  const breaker = upstreamBreaker(options);
  const outages = outageLog({ upstream: name, logger, clock: options.clock ?? systemClock });
  const slots = concurrencyLimit({
    maxInFlight: options.maxConcurrency ?? 64,
    maxWaiting: options.maxConcurrency ?? 64,
    maxWaitMs: options.queueWaitMs ?? 1000,
    timers: options.timers,
  });
  const inFlight = metrics.upstreamInFlight.labels(name);
  const timers = options.timers ?? systemTimers;

  const send = async (req: UpstreamRequest): Promise<UpstreamResponse> => {
    const startNs = process.hrtime.bigint();
    // A deadline of our own, cleared when the call ends: AbortSignal.timeout's timer lives
    // its full timeoutMs after every call, 10 to 33 MiB of pending timers under a flood. The
    // signal is an EventEmitter, which undici takes as one (its documented `signal:
    // AbortSignal | EventEmitter`): an AbortController, its AbortSignal and their EventTarget
    // listeners were about 5 % of the cold path's CPU (--cpu-prof, whoami cold).
    const signal = new EventEmitter();
    let expired = false;
    const timer = timers.setTimeout(() => {
      expired = true;
      signal.emit('abort');
    }, timeoutMs);
    const requestOptions = {
      method: req.method,
      headers: { accept: 'application/json', 'user-agent': 'matrix-turn-credentials', ...req.headers },
      ...(req.body !== undefined && { body: req.body }),
      dispatcher,
      signal,
    };
    try {
      // A kept-alive connection the upstream closed just as the call went out on it (its
      // idle timeout, or a restart) fails the call before any answer. One more attempt, on
      // another connection and within the same deadline, is what a browser does; without it
      // a few such calls in a row open the breaker and every user gets 503 for resetMs.
      // Every call we make reads and is safe to repeat (GET, and introspection's POST).
      // By hand rather than undici's retry interceptor: that wraps every call in a handler
      // of its own; this costs nothing until a call fails.
      const res = await request(req.url, requestOptions).catch((error: unknown) => {
        if (expired || !CLOSED_UNDER_US.has(undiciErrorCode(error) ?? '')) throw error;
        return request(req.url, requestOptions);
      });
      const text = await readLimited(res.body, maxBodyBytes);
      observe(res.statusCode < 500 ? 'response' : 'server_error', startNs);
      return { status: res.statusCode, headers: res.headers, json: parseJson(text) };
    } catch (error) {
      const timedOut = expired || undiciTimedOut(error);
      observe(timedOut ? 'timeout' : 'unreachable', startNs);
      const code = undiciErrorCode(error) ?? 'error';
      if (timedOut) {
        throw MatrixError.upstream(504, `${name} did not answer within ${timeoutMs} ms`, { cause: error });
      }
      logger.debug({ upstream: name, code }, 'upstream call failed');
      throw MatrixError.upstream(502, `${name} unreachable (${code})`, { cause: error });
    } finally {
      timers.clearTimeout(timer);
    }
  };

  return {
    name,
    async call(req) {
      const outage = outages.call();
      const admission = breaker.admit();
      if (!admission.admitted) {
        throw outages.failedFast(
          MatrixError.upstream(503, `${name} circuit breaker open after repeated failures`, {
            retryAfterSeconds: Math.max(1, Math.ceil(admission.retryAfterMs / 1000)),
          }),
        );
      }
      const permit = await slots.acquire();
      if (!permit.granted) {
        admission.settle('neutral');
        throw outage.failed(MatrixError.upstream(503, `${name}: too many calls in flight (${permit.reason})`, { retryAfterSeconds: 1 }));
      }
      inFlight.inc();
      try {
        const res = await send(req);
        if (res.status >= 500) throw serverError(name, res.status);
        admission.settle('success');
        outage.succeeded();
        return res;
      } catch (error) {
        admission.settle('failure');
        throw error instanceof MatrixError ? outage.failed(error) : error;
      } finally {
        inFlight.dec();
        permit.release();
      }
    },
    async close() {
      await dispatcher.close();
    },
  };
}

function upstreamBreaker(options: UpstreamOptions): CircuitBreaker {
  const { name, logger } = options;
  const open = options.metrics.breakerOpen.labels(name);
  open.set(0);
  const resetMs = options.breakerResetMs ?? 5000;
  return createBreaker({
    failureThreshold: options.breakerFailureThreshold ?? 5,
    resetMs,
    clock: options.clock ?? systemClock,
    // Debug: the breaker opens inside an outage whose start is already logged, and closes
    // with the success that ends it; the calls it refused are counted there as failedFast.
    onChange(isOpen, consecutiveFailures) {
      open.set(isOpen ? 1 : 0);
      if (isOpen)
        logger.debug({ upstream: name, consecutiveFailures, resetMs }, 'circuit breaker open: failing fast, probing once per reset period');
      else logger.debug({ upstream: name }, 'circuit breaker closed: upstream answering again');
    },
  });
}

/** An upstream that answered 5xx: 503 (it says it is overloaded or down) stays 503, with Retry-After. */
function serverError(name: string, status: number): MatrixError {
  if (status === 503) return MatrixError.upstreamBusy(name, 503);
  return MatrixError.upstream(502, `${name} answered HTTP ${status}`);
}

/**
 * The body as text, or '' (then not JSON) past maxBytes, the rest not read. By its events
 * rather than for await: an async iterator costs a promise per chunk, and the cold path
 * reads a body per request.
 */
function readLimited(body: Readable, maxBytes: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    body.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      body.destroy();
      resolve('');
    });
    body.once('end', () => resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8')));
    body.once('error', reject);
  });
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** How undici reports a connection the other side closed or reset under a call. */
const CLOSED_UNDER_US: ReadonlySet<string> = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

/** The failed call's code (UND_ERR_*, ECONNREFUSED), or its cause's when the error wraps another. */
function undiciErrorCode(error: unknown): string | undefined {
  return errorCode(error, { orCause: true });
}

/** Whether undici gave up on the call for one of its own timeouts (connect, headers, body) or the abort signal's. */
function undiciTimedOut(error: unknown): boolean {
  const code = undiciErrorCode(error);
  return (
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT' ||
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    (error as Error)?.name === 'TimeoutError'
  );
}
