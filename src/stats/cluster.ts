// Cluster-wide figures that only Redis can know: credentials issued by every replica, and
// distinct users served in about the last hour and day (HyperLogLog), on the Redis client
// the composition root (app.ts) hands in, which records each issuance here. Kept off the
// request path: an issued credential only touches an in-process batch, which is written
// to Redis every flushIntervalMs and before each scrape, in the same pipeline (one round
// trip) that reads the figures back for the gauges.
//
// All keys share the hash tag {stats}, so in Redis Cluster they live in one slot and one
// pipeline (and a multi-key PFCOUNT) may touch them all; the volume is a few writes per
// replica per flush. Users are bucketed per minute (the hour: the last 60 buckets) and per
// hour (the day: the last 24), each bucket expiring once no window needs it.

import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { systemTimers, type Clock, type Timers } from '../clock.js';
import type { Logger } from '../logger.js';
import { registerClusterGauges, type ClusterFigures } from '../metrics.js';
import { describeRedisError, withTimeout, type RedisClient } from '../redis/client.js';

export const ISSUED_KEY = 'mtc:{stats}:issued';
const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const minuteKey = (minute: number) => `mtc:{stats}:users:m:${minute}`;
const hourKey = (hour: number) => `mtc:{stats}:users:h:${hour}`;
/** A bucket lives a little longer than the last window that counts it. */
const MINUTE_BUCKET_TTL_MS = 61 * MINUTE_MS;
const HOUR_BUCKET_TTL_MS = 25 * HOUR_MS;
/** Users per PFADD, so a large batch never becomes one huge command. */
const PFADD_CHUNK = 1000;

/** Something that records an issuance for a user: what the minter is wrapped with (turn/index.ts). */
export interface IssuanceRecorder {
  /** Counts one credential issued to `userId`; in memory only, never waits. */
  recordIssued(userId: string): void;
}

export interface ClusterStats extends IssuanceRecorder {
  /** Writes this replica's batch now (bounded by the timeout); a failed batch is kept for the next try. */
  flush(): Promise<void>;
  /** Reads the figures (after writing this replica's batch), or undefined if Redis did not answer in time. */
  read(): Promise<ClusterFigures | undefined>;
  /** Stops the periodic flush and writes what is left. */
  close(): Promise<void>;
}

export interface ClusterStatsOptions {
  client: RedisClient;
  clock: Clock;
  /** What the periodic flush and the timeouts run on; default Node's. */
  timers?: Timers;
  logger: Logger;
  /** Longest wait for one flush or read, in milliseconds. */
  timeoutMs: number;
  /** How often the batch is written, in milliseconds. Default 5000. */
  flushIntervalMs?: number;
  /**
   * Distinct users kept while Redis cannot be written, default 100000; past that, users
   * are left out of the distinct-user figures (the issued count stays exact).
   */
  maxPendingUsers?: number;
}

interface Batch {
  readonly issued: number;
  readonly users: readonly string[];
}

type Pipeline = ReturnType<Redis['pipeline']>;

export function createClusterStats(options: ClusterStatsOptions): ClusterStats {
  const { client, clock, logger, timeoutMs } = options;
  const timers = options.timers ?? systemTimers;
  const maxPendingUsers = options.maxPendingUsers ?? 100_000;
  let pendingIssued = 0;
  let pendingUsers = new Set<string>();

  const take = (): Batch => {
    const batch = { issued: pendingIssued, users: [...pendingUsers] };
    pendingIssued = 0;
    pendingUsers = new Set();
    return batch;
  };
  // A batch whose write failed goes back; if the write did land and only the answer was
  // lost, the issued count is counted twice (PFADD is idempotent): rare, and visible.
  const restore = (batch: Batch) => {
    pendingIssued += batch.issued;
    for (const user of batch.users) {
      if (pendingUsers.size >= maxPendingUsers) break;
      pendingUsers.add(user);
    }
  };

  const queueWrites = (pipeline: Pipeline, batch: Batch, nowMs: number): number => {
    let commands = 0;
    if (batch.issued > 0) {
      pipeline.incrby(ISSUED_KEY, batch.issued);
      commands += 1;
    }
    if (batch.users.length > 0) {
      for (const [key, ttlMs] of [
        [minuteKey(Math.floor(nowMs / MINUTE_MS)), MINUTE_BUCKET_TTL_MS],
        [hourKey(Math.floor(nowMs / HOUR_MS)), HOUR_BUCKET_TTL_MS],
      ] as const) {
        for (let i = 0; i < batch.users.length; i += PFADD_CHUNK) {
          pipeline.pfadd(key, ...batch.users.slice(i, i + PFADD_CHUNK));
          commands += 1;
        }
        pipeline.pexpire(key, ttlMs);
        commands += 1;
      }
    }
    return commands;
  };

  /** Runs the pipeline; the replies, or an error if any command failed. */
  const execute = async (pipeline: Pipeline, what: string): Promise<unknown[]> => {
    const results = await withTimeout(pipeline.exec(), timeoutMs, what, timers);
    if (results === null) throw new Error(`${what}: the pipeline was discarded`);
    return results.map(([error, value]) => {
      if (error) throw error;
      return value;
    });
  };

  let flushing: Promise<void> | undefined;
  const flush = () =>
    (flushing ??= (async () => {
      const batch = take();
      if (batch.issued === 0 && batch.users.length === 0) return;
      const pipeline = client.pipeline();
      queueWrites(pipeline, batch, clock.nowMs());
      try {
        await execute(pipeline, 'cluster stats flush');
      } catch (error) {
        restore(batch);
        logger.debug({ detail: describeRedisError(error) }, 'cluster stats not written; kept for the next flush');
      }
    })().finally(() => (flushing = undefined)));

  const read = async (): Promise<ClusterFigures | undefined> => {
    await flushing;
    const nowMs = clock.nowMs();
    const batch = take();
    const pipeline = client.pipeline();
    const writes = queueWrites(pipeline, batch, nowMs);
    const minute = Math.floor(nowMs / MINUTE_MS);
    const hour = Math.floor(nowMs / HOUR_MS);
    pipeline.get(ISSUED_KEY);
    pipeline.pfcount(...Array.from({ length: 60 }, (_, i) => minuteKey(minute - i)));
    pipeline.pfcount(...Array.from({ length: 24 }, (_, i) => hourKey(hour - i)));
    try {
      const replies = await execute(pipeline, 'cluster stats read');
      const [issued, lastHour, lastDay] = replies.slice(writes);
      return {
        credentialsIssued: Number(issued ?? 0),
        usersLastHour: Number(lastHour),
        usersLastDay: Number(lastDay),
      };
    } catch (error) {
      restore(batch);
      logger.debug({ detail: describeRedisError(error) }, 'cluster stats unavailable for this scrape');
      return undefined;
    }
  };

  const timer = timers.setInterval(() => void flush(), options.flushIntervalMs ?? 5000);

  return {
    recordIssued(userId) {
      pendingIssued += 1;
      if (pendingUsers.size < maxPendingUsers) pendingUsers.add(userId);
    },
    flush,
    read,
    async close() {
      timers.clearInterval(timer);
      await flush();
    },
  };
}

/** Exports the figures as gauges read at scrape time (see metrics.ts). */
export function exportClusterStats(stats: ClusterStats, registry: Registry): void {
  registerClusterGauges(registry, () => stats.read());
}
