// Waiting for a service to settle after a load, before anything stops it. A load ends when
// its time is up, not when the service's last upstream call or Redis batch does; the next
// load stops every other target (SIGSTOP), and a service stopped mid-call finds each such
// call's deadline long past when it is resumed: up to 64 timeouts at once, which open the
// upstream's breaker and turn its next round into 503s (seen: a whoami cold round of 9,564
// answers, all 503, with no upstream call counted during it). A Redis batch timed out the
// same way puts the limiter in its fallback (local limits, faster than Redis): a round
// measured then would not be Redis mode's.

import { seriesReader } from './exposition.js';

const IN_FLIGHT = 'matrix_turn_upstream_requests_in_flight';
const FALLBACK = 'matrix_turn_rate_limit_fallback_active';
const readSeries = seriesReader([IN_FLIGHT, FALLBACK]);

/** What keeps a service from being stopped safely, in a Prometheus text exposition. */
export interface Unsettled {
  /** Upstream calls in flight, over every upstream. */
  readonly upstreamCalls: number;
  /** Whether the Redis limiter decides by its fallback (Redis counted as down). */
  readonly limiterFallback: boolean;
}

export function unsettled(exposition: string): Unsettled {
  let upstreamCalls = 0;
  let limiterFallback = false;
  for (const [series, value] of readSeries(exposition)) {
    if (series.startsWith(FALLBACK)) limiterFallback ||= value !== 0;
    else upstreamCalls += value;
  }
  return { upstreamCalls, limiterFallback };
}

export interface SettleWait {
  /** Reads the service's /metrics. */
  read(): Promise<string>;
  /** Resolves after the given milliseconds: the pause between two readings. */
  pause(ms: number): Promise<void>;
  /** Readings before giving up (10 ms apart); the calls' own deadline ends them in the end anyway. */
  maxReadings?: number;
}

export interface Settling {
  /** Whether the service came to no upstream call and no fallback within its readings. */
  readonly settled: boolean;
  /** What the first reading, right after the load, found. */
  readonly first: Unsettled;
}

export async function untilSettled(wait: SettleWait): Promise<Settling> {
  const maxReadings = wait.maxReadings ?? 500;
  let first: Unsettled | undefined;
  for (let reading = 1; reading <= maxReadings; reading += 1) {
    const now = unsettled(await wait.read());
    first ??= now;
    if (now.upstreamCalls === 0 && !now.limiterFallback) return { settled: true, first };
    if (reading < maxReadings) await wait.pause(10);
  }
  return { settled: false, first: first! };
}
