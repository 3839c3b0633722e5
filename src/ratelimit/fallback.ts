// Keeps the service answering when Redis does not. Tracks Redis's health from command
// outcomes and connection events; while Redis is down no request waits on it: each is
// decided by the RATE_LIMIT_ON_REDIS_ERROR policy (in-process limits, allow, or a 503),
// and a probe off the request path (every probeIntervalMs, and at once when the client
// reconnects) brings the shared limit back without a restart, once probesToRecover probes
// in a row have succeeded. Each transition is logged once (the end of an outage with how
// long it lasted and what the fallback decided meanwhile), sets matrix_turn_redis_up and
// matrix_turn_rate_limit_fallback_active, and shows in /readyz as the degraded 'redis'
// component (still ready: the service can serve). Requests refused meanwhile are not
// logged one by one above debug.

import { systemTimers, type Clock, type TimerHandle, type Timers } from '../clock.js';
import type { Health } from '../health.js';
import { MatrixError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { describeRedisError, isRedisTimeout } from '../redis/client.js';
import { ALLOWED, type RateDecision, type RateLimiter } from './types.js';

/** What decides while Redis cannot: in-process limits, every request allowed, or a 503. */
export type RedisErrorPolicy = 'local' | 'allow' | 'deny';

/** Retry-After of the 503 under the deny policy: about how long a probe takes to notice Redis is back. */
export const DENY_RETRY_AFTER_SECONDS = 5;

/** The events of an ioredis client (standalone, Sentinel or Cluster) this module listens to. */
export interface ConnectionEvents {
  readonly status: string;
  on(event: 'ready' | 'close' | 'error', listener: (error?: unknown) => void): unknown;
  off(event: 'ready' | 'close' | 'error', listener: (error?: unknown) => void): unknown;
}

export interface FallbackOptions {
  /** The Redis limiter; a rejection means Redis could not decide. */
  primary: RateLimiter;
  /**
   * Succeeds only when the limiter would work again: when Redis would record users'
   * decisions, which are writes (a probe that passes on a Redis refusing writes would
   * bring it back up for one request and down again the next). Given the last key whose
   * decision failed, so that in a Cluster it also checks that key's slot.
   */
  probe: (failedKey: string | undefined) => Promise<unknown>;
  connection: ConnectionEvents;
  /**
   * Drops the connection and reconnects. Called when a probe times out on a connection
   * that looks alive: a half-open socket (a partition, a frozen or failed-over server)
   * would otherwise never be noticed, as TCP keepalive takes hours.
   */
  reconnect: () => void;
  policy: RedisErrorPolicy;
  /** Used under the 'local' policy: one replica's view of the limit. */
  local: RateLimiter;
  metrics: Metrics;
  health: Health;
  logger: Logger;
  clock: Clock;
  /** What the probe runs on; default Node's. */
  timers?: Timers;
  /** How often a probe runs while Redis is down, in milliseconds. Default 1000. */
  probeIntervalMs?: number;
  /**
   * Consecutive successful probes that end an outage, default 2: a Redis Cluster
   * converging after a node returns answers one moment and refuses the next, and one
   * success would flip the state (and the logs) back and forth. Every path back to 'up'
   * (the periodic probe, the probe on 'ready') counts towards the same streak; a failed
   * probe, a closed connection or a failed decision starts it again. The first connection
   * needs one.
   */
  probesToRecover?: number;
}

type State = { readonly kind: 'starting' } | { readonly kind: 'up' } | { readonly kind: 'down'; readonly sinceMs: number };

const POLICY_EFFECT: Readonly<Record<RedisErrorPolicy, string>> = {
  local: 'each replica limits users on its own (RATE_LIMIT_ON_REDIS_ERROR=local)',
  allow: 'users are not limited (RATE_LIMIT_ON_REDIS_ERROR=allow)',
  deny: 'credentials are refused with 503 (RATE_LIMIT_ON_REDIS_ERROR=deny)',
};

export function withRedisFallback(options: FallbackOptions): RateLimiter {
  const { primary, connection, policy, local, metrics, health, logger, clock } = options;
  const timers = options.timers ?? systemTimers;
  const probeIntervalMs = options.probeIntervalMs ?? 1000;
  const probesToRecover = options.probesToRecover ?? 2;
  let probeSuccesses = 0;
  // Bumped whenever the streak of successful probes restarts, so a probe that was in
  // flight across a close does not count towards the new streak.
  let streak = 0;
  const restartStreak = () => {
    probeSuccesses = 0;
    streak += 1;
  };
  // What the fallback decided since the outage (or the start) began: for the line that ends it.
  let decided = 0;
  let refused = 0;
  let state: State = { kind: 'starting' };
  // Bumped on each recovery, so a command that was already failing before it (a timeout
  // landing late) does not take Redis down again.
  let generation = 0;
  let probeTimer: TimerHandle | undefined;
  let probing = false;
  let closed = false;
  let lastFailedKey: string | undefined;

  metrics.redisUp.set(0);
  metrics.rateLimitFallback.set(1);

  const markUp = () => {
    if (closed || state.kind === 'up') return;
    const figures = { fallbackDecisions: decided, fallbackRefusals: refused };
    if (state.kind === 'down') {
      const downForMs = clock.nowMs() - state.sinceMs;
      logger.info(
        { downForMs, policy, ...figures },
        `redis reachable again after ${(downForMs / 1000).toFixed(1)} s: the rate limit is shared by every replica ` +
          `(meanwhile the fallback decided ${decided} requests, refusing ${refused})`,
      );
    } else {
      logger.info(decided === 0 ? {} : figures, 'redis reachable: the rate limit is shared by every replica');
    }
    decided = 0;
    refused = 0;
    state = { kind: 'up' };
    generation += 1;
    metrics.redisUp.set(1);
    metrics.rateLimitFallback.set(0);
    timers.clearInterval(probeTimer);
    probeTimer = undefined;
  };

  const markDown = (reason: string) => {
    if (closed || state.kind === 'down') return;
    restartStreak();
    decided = 0;
    refused = 0;
    logger.warn({ reason, policy }, `redis unreachable: ${POLICY_EFFECT[policy]} until it is back`);
    state = { kind: 'down', sinceMs: clock.nowMs() };
    metrics.redisUp.set(0);
    metrics.rateLimitFallback.set(1);
    startProbing();
  };

  const probeOnce = () => {
    if (probing || closed || connection.status !== 'ready') return;
    probing = true;
    const startedIn = streak;
    options
      .probe(lastFailedKey)
      .then(
        () => {
          if (startedIn !== streak) return;
          probeSuccesses += 1;
          if (state.kind === 'starting' || probeSuccesses >= probesToRecover) {
            lastFailedKey = undefined;
            markUp();
          }
        },
        (error: unknown) => {
          restartStreak();
          markDown(describeRedisError(error));
          if (isRedisTimeout(error) && connection.status === 'ready') options.reconnect();
        },
      )
      .finally(() => {
        probing = false;
      });
  };

  const startProbing = () => {
    if (probeTimer !== undefined || closed) return;
    probeTimer = timers.setInterval(probeOnce, probeIntervalMs);
  };

  // The close that follows a connection error says nothing of why; the error does
  // (refused, a certificate that does not verify, a wrong password).
  let lastError: string | undefined;
  const onError = (error?: unknown) => {
    lastError = describeRedisError(error);
  };
  const onReady = () => {
    lastError = undefined;
    probeOnce();
  };
  const onClose = () => {
    restartStreak();
    markDown(lastError === undefined ? 'connection closed' : `connection closed: ${lastError}`);
  };
  connection.on('error', onError);
  connection.on('ready', onReady);
  connection.on('close', onClose);
  // A client that connected before we listened will not say 'ready' again.
  if (connection.status === 'ready') probeOnce();
  // Until the first connection, keep probing so a slow start still ends in 'up'.
  startProbing();

  health.register('redis', () =>
    state.kind === 'up'
      ? { ready: true, degraded: false, detail: 'redis reachable: one rate limit for every replica' }
      : {
          ready: true,
          degraded: true,
          detail:
            state.kind === 'starting'
              ? `connecting to redis: ${POLICY_EFFECT[policy]} until connected`
              : // /readyz is on the public port: the reason (addresses, TLS errors) goes to the log only.
                `redis unreachable since ${new Date(state.sinceMs).toISOString()}: ${POLICY_EFFECT[policy]}`,
        },
  );

  const fallback = async (key: string): Promise<RateDecision> => {
    decided += 1;
    switch (policy) {
      case 'local': {
        const decision = await local.consume(key);
        if (!decision.allowed) refused += 1;
        return decision;
      }
      case 'allow':
        return ALLOWED;
      case 'deny':
        refused += 1;
        // Marked reported: this module logs the outage when it starts and when it ends, with these counts.
        throw MatrixError.limiterUnavailable(DENY_RETRY_AFTER_SECONDS);
    }
  };

  return {
    consume(key) {
      if (state.kind !== 'up') return fallback(key);
      const startedIn = generation;
      return primary.consume(key).catch((error: unknown) => {
        if (startedIn === generation) {
          lastFailedKey = key;
          markDown(describeRedisError(error));
        }
        return fallback(key);
      });
    },
    async close() {
      closed = true;
      timers.clearInterval(probeTimer);
      probeTimer = undefined;
      connection.off('error', onError);
      connection.off('ready', onReady);
      connection.off('close', onClose);
      await local.close?.();
    },
  };
}
