// A Redis that answers but refuses writes (out of memory: maxmemory 1, noeviction) while
// requests flow through two replicas. Users' decisions need writes, so the replicas stay in
// the fallback for the whole of it: one 'redis unreachable' line each, /readyz degraded and
// matrix_turn_redis_up 0 at every sample, however full the probe's own bucket was before
// (here: full, as `burst` probes of the users' kind leave it). Memory back: shared again.

import { PROBE_KEY, RATE_LIMIT_SCRIPT, rateLimitKey } from '../../src/ratelimit/redis.js';
import { MAX_RETRY_AFTER_MS } from '../../src/ratelimit/synapse-bucket.js';
import { startHomeserver, type StandInHomeserver } from '../helpers/homeserver.js';
import { adminConnection, storedBucket } from '../helpers/redis-admin.js';
import { startRedis, type RedisProcess } from '../helpers/redis.js';
import { metricValue, readiness, spreadRequests, startReplicas, stopReplicas, waitForSharedLimit } from '../helpers/replicas.js';
import type { TestService } from '../helpers/service.js';
import { waitFor } from '../helpers/wait.js';

const BURST = 3;
const PER_SECOND = 0.01;
/** Probe rounds each replica must have made while Redis refused writes (one a second). */
const PROBE_ROUNDS = 6;

let homeserver: StandInHomeserver;
let redis: RedisProcess;
let replicas: TestService[];
let admin: ReturnType<typeof adminConnection>;
let userCounter = 0;

function newUser(): { userId: string; token: string } {
  const userId = `@oom${(userCounter += 1)}:example.org`;
  const token = `token-${userId}`;
  homeserver.addToken(token, { userId });
  return { userId, token };
}

/** Every script call Redis was asked for, run or refused, since the server started. */
async function scriptCalls(): Promise<number> {
  const info = await admin.info('commandstats');
  let total = 0;
  for (const match of info.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+)(?:.*?rejected_calls=(\d+))?/g))
    total += Number(match[1]) + Number(match[2] ?? 0);
  return total;
}

/**
 * Clients calling without pause, two per replica, each request for a user not seen before:
 * as in production, most decisions are allowed ones, which write (a limited user's denial
 * writes nothing and would pass on a Redis out of memory).
 */
function startFreshUserTraffic() {
  const results: { status: number }[] = [];
  let stopping = false;
  const loops = [...replicas, ...replicas].map(async (replica) => {
    while (!stopping) {
      const response = await replica.turnServer(newUser().token);
      await response.arrayBuffer();
      results.push({ status: response.status });
    }
  });
  return {
    results,
    async stop() {
      stopping = true;
      await Promise.all(loops);
    },
  };
}

const linesOf = (replica: TestService, pattern: RegExp) => replica.logs.entries().filter((e) => pattern.test(String(e.msg)));

beforeAll(async () => {
  homeserver = await startHomeserver();
  redis = await startRedis();
  admin = adminConnection(redis.url);
  replicas = await startReplicas(2, {
    HOMESERVER_URL: homeserver.url,
    REDIS_URL: redis.url,
    RATE_LIMIT_BURST: String(BURST),
    RATE_LIMIT_PER_SECOND: String(PER_SECOND),
    REDIS_COMMAND_TIMEOUT_MS: '1000',
  });
  await waitForSharedLimit(replicas);
});

afterAll(async () => {
  await stopReplicas(replicas ?? []);
  admin?.disconnect();
  await redis?.stop();
  await homeserver?.close();
});

test(
  'out of memory: in the fallback throughout, no flapping in logs, /readyz or matrix_turn_redis_up; ' + 'memory back: shared again',
  async () => {
    // The probe's bucket as BURST decisions with the users' settings leave it: full.
    for (let i = 0; i < BURST; i += 1) {
      await admin.eval(RATE_LIMIT_SCRIPT, 1, rateLimitKey(PROBE_KEY), String(PER_SECOND), String(BURST), String(MAX_RETRY_AFTER_MS));
    }
    const traffic = startFreshUserTraffic();
    const { results } = traffic;
    const samples: { replica: number; ready: number; status: string; up: number | undefined }[] = [];
    let sampling = true;
    let sampler: Promise<void> | undefined;
    try {
      await waitFor(() => results.length >= 20, { what: 'requests before memory runs out' });
      await admin.config('SET', 'maxmemory-policy', 'noeviction');
      await admin.config('SET', 'maxmemory', '1');
      await Promise.all(
        replicas.map((replica) =>
          waitFor(async () => metricValue(await replica.metrics(), 'matrix_turn_redis_up') === 0, {
            what: 'matrix_turn_redis_up 0 once writes fail',
          }),
        ),
      );
      // From here on the replicas must not leave the fallback: sample both until enough
      // probes have been refused.
      sampler = (async () => {
        while (sampling) {
          for (const [i, replica] of replicas.entries()) {
            const { status, body } = await readiness(replica);
            samples.push({
              replica: i,
              ready: status,
              status: body.status,
              up: metricValue(await replica.metrics(), 'matrix_turn_redis_up'),
            });
          }
        }
      })();
      const atOom = await scriptCalls();
      await waitFor(async () => (await scriptCalls()) >= atOom + PROBE_ROUNDS * replicas.length, {
        timeoutMs: 30_000,
        intervalMs: 100,
        what: `${PROBE_ROUNDS} probe rounds while out of memory`,
      });
      sampling = false;
      await sampler;

      expect(samples.length).toBeGreaterThan(10);
      expect(samples.filter((s) => s.up !== 0 || s.status !== 'degraded' || s.ready !== 200)).toEqual([]);
      for (const replica of replicas) {
        expect(linesOf(replica, /^redis unreachable/)).toHaveLength(1);
        expect(linesOf(replica, /^redis unreachable/)[0]!.reason).toMatch(/OOM/);
        // The one 'reachable' line is the first connection's.
        expect(linesOf(replica, /^redis reachable/)).toHaveLength(1);
      }

      await admin.config('SET', 'maxmemory', '0');
      await waitForSharedLimit(replicas);
      const atBack = results.length;
      await waitFor(() => results.length >= atBack + 10, { what: 'requests after memory came back' });
    } finally {
      sampling = false;
      await sampler;
      await traffic.stop();
    }
    expect(results.filter((r) => r.status !== 200 && r.status !== 429)).toEqual([]);
    for (const replica of replicas) {
      const [, back] = linesOf(replica, /^redis reachable/);
      expect(back).toMatchObject({ downForMs: expect.any(Number), fallbackDecisions: expect.any(Number) });
    }
    const { userId, token } = newUser();
    const responses = await spreadRequests(replicas, token, BURST * 4);
    expect(responses.filter((r) => r.status === 200)).toHaveLength(BURST);
    expect(await storedBucket(admin, rateLimitKey(userId))).toMatchObject({ actionCount: BURST });
  },
  90_000,
);
