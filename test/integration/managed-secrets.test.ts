// Managed secrets against a real coturn (use-auth-secret, realm, redis-userdb, no static
// secret) reading a real Redis (a password, database 5, its data kept on disk as coturn's
// user database should be): the service adds its secrets to turn/realm/<realm>/secret and
// coturn accepts what it signs. With an interval of 2 s and a TTL of 4 s: a credential
// minted before a rotation still allocates after it; the set never holds more of ours than
// ceil((ttl + margin) / interval) + 2; a credential signed with a removed secret is refused;
// a member added by hand survives every rotation. Two replicas started together add one
// secret per interval between them, and both replicas' credentials allocate. With Redis
// stopped for a few intervals, credentials keep being issued, signed with the newest
// secret, /readyz says degraded and the log says so once; once Redis is back they
// allocate, and rotation resumes. No secret in a log line, a metric or /readyz.
// Allocations are probeUri's (an Allocate, then a Refresh to 0): quick, and real.

import type { Redis } from 'ioredis';
import { systemClock, systemTimers } from '../../src/clock.js';
import { turnPassword } from '../../src/turn/credentials.js';
import { coturnKeys, maxManagedSecrets, type SetContents } from '../../src/turn/managed-secrets/index.js';
import { contentsOf } from '../../src/turn/managed-secrets/secret-store.js';
import { runDoctor } from '../../src/doctor/index.js';
import { probeUri, type ProbeResult } from '../../src/turn/probe/probe-uri.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { startHomeserver, type StandInHomeserver } from '../helpers/homeserver.js';
import { adminConnection } from '../helpers/redis-admin.js';
import { startRedis, type RedisProcess } from '../helpers/redis.js';
import { metricValue } from '../helpers/replicas.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { waitFor } from '../helpers/wait.js';

const REALM = 'turn.example.org';
const PASSWORD = 'coturn-redis-password-8c1f';
const DB = 5;
const INTERVAL_S = 2;
const TTL_S = 4;
const MARGIN_S = 1;
const BOUND = maxManagedSecrets(TTL_S, MARGIN_S, INTERVAL_S);
const keys = coturnKeys(REALM);

interface Answer {
  username: string;
  password: string;
  uris: string[];
  ttl: number;
}

interface Readiness {
  status: string;
  components: Record<string, { ready: boolean; degraded: boolean; detail: string; secrets?: number }>;
}

let homeserver: StandInHomeserver;
let redis: RedisProcess;
let admin: Redis;
let coturn: Coturn;
const services: TestService[] = [];

beforeAll(async () => {
  homeserver = await startHomeserver();
  homeserver.addToken('alice-token', { userId: '@alice:example.org' });
  homeserver.addToken('bob-token', { userId: '@bob:example.org' });
  // appendfsync always: a Redis killed and started again has every secret it had (coturn's user database persists).
  redis = await startRedis({ args: ['--requirepass', PASSWORD, '--appendonly', 'yes', '--appendfsync', 'always'] });
  admin = adminConnection(`redis://:${PASSWORD}@127.0.0.1:${redis.port}/${DB}`);
  coturn = await startCoturn({
    secrets: [],
    realm: REALM,
    extraArgs: [`--redis-userdb=ip=127.0.0.1 dbname=${DB} password=${PASSWORD} port=${redis.port} connect_timeout=2`],
  });
});

afterEach(async () => {
  await Promise.all(services.splice(0).map((service) => service.stop()));
  await admin.flushall();
});

afterAll(async () => {
  admin?.disconnect();
  await coturn?.stop();
  await redis?.stop();
  await homeserver?.close();
});

/** The settings of a replica (and of the doctor run beside it), on coturn's database or another. */
function settings(db = DB): Record<string, string | undefined> {
  return {
    HOMESERVER_URL: homeserver.url,
    TURN_URIS: `turn:127.0.0.1:${coturn.port}?transport=udp`,
    TURN_SHARED_SECRET: undefined,
    TURN_TTL: String(TTL_S),
    TURN_SECRET_ROTATION_INTERVAL: String(INTERVAL_S),
    TURN_SECRET_ROTATION_MARGIN: String(MARGIN_S),
    COTURN_REDIS_URL: `redis://:${PASSWORD}@127.0.0.1:${redis.port}/${db}`,
    COTURN_REALM: REALM,
  };
}

async function service(db = DB): Promise<TestService> {
  const started = await startTestService({
    ...settings(db),
    RATE_LIMIT_BURST: '100000',
    RATE_LIMIT_PER_SECOND: '100000',
    LOG_LEVEL: 'info',
  });
  services.push(started);
  return started;
}

async function readiness(s: TestService): Promise<Readiness> {
  return (await (await fetch(`${s.url}/readyz`)).json()) as Readiness;
}

/** Waits until the replica signs with a managed secret read from coturn's Redis. */
async function signing(s: TestService): Promise<void> {
  await waitFor(async () => (await readiness(s)).components.turn_secrets?.degraded === false, {
    what: 'the replica to sign with a managed secret',
  });
}

async function answer(s: TestService, token = 'alice-token'): Promise<Answer> {
  const res = await s.turnServer(token);
  expect(res.status).toBe(200);
  return (await res.json()) as Answer;
}

async function otherDb(): Promise<[string[], Record<string, string>]> {
  const other = adminConnection(`redis://:${PASSWORD}@127.0.0.1:${redis.port}/${DB + 1}`);
  try {
    return await Promise.all([other.smembers(keys.set), other.hgetall(keys.marks)]);
  } finally {
    other.disconnect();
  }
}

async function contents(): Promise<SetContents> {
  const [members, marks] = await Promise.all([admin.smembers(keys.set), admin.hgetall(keys.marks)]);
  return contentsOf(members, marks);
}

function allocate(credential: { username: string; password: string }): Promise<ProbeResult> {
  return probeUri(`turn:127.0.0.1:${coturn.port}?transport=udp`, { timeoutMs: 3000, timers: systemTimers, credential });
}

/** A credential for `userId` valid for another hour, signed with `secret` (as a replica still signing with it would). */
function signedWith(secret: string, userId: string): { username: string; password: string } {
  const username = `${Math.floor(systemClock.nowMs() / 1000) + 3600}:${userId}`;
  return { username, password: turnPassword(secret, username) };
}

/** Samples the set every 100 ms until stopped: the most of ours seen, every value of ours seen, whether `keep` was always there. */
function sampleSet(keep: string) {
  let most = 0;
  let kept = true;
  const values = new Set<string>();
  let running = true;
  const loop = (async () => {
    while (running) {
      const now = await contents();
      most = Math.max(most, now.ours.length);
      for (const secret of now.ours) values.add(secret.value);
      if (!(await admin.sismember(keys.set, keep))) kept = false;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { most, kept, values };
    },
  };
}

describe('managed secrets with a real coturn reading a real Redis', () => {
  it('rotates: old credentials work on, the set keeps within its bound, a removed secret is refused, a hand-added one stays', async () => {
    await admin.sadd(keys.set, 'an-operator-secret');
    const s = await service();
    await signing(s);
    const sampling = sampleSet('an-operator-secret');
    const first = (await contents()).ours.at(-1)!;
    const before = await answer(s);
    expect(before.password).toBe(turnPassword(first.value, before.username));

    // A rotation: the replica signs with a newer secret, and the credential minted before still allocates.
    const after = await waitFor(
      async () => {
        const next = await answer(s);
        return next.password !== turnPassword(first.value, next.username) ? next : undefined;
      },
      { timeoutMs: 3 * INTERVAL_S * 1000, what: 'a credential signed with a newer secret' },
    );
    expect(await allocate(before)).toMatchObject({ ok: true });
    expect(await allocate(after)).toMatchObject({ ok: true });

    // The first secret leaves the set once ttl + margin (+ the switch) have passed since its successor took over.
    await waitFor(async () => !(await admin.sismember(keys.set, first.value)), {
      timeoutMs: (3 * INTERVAL_S + TTL_S + MARGIN_S) * 1000,
      what: 'the first secret to be removed',
    });
    expect(await allocate(signedWith(first.value, '@late:example.org'))).toMatchObject({ ok: false, reason: 'unauthorized' });
    expect(await allocate(signedWith('an-operator-secret', '@operator:example.org'))).toMatchObject({ ok: true });
    expect(await allocate(await answer(s, 'bob-token'))).toMatchObject({ ok: true });

    // A few more intervals for the bound.
    const rotationsBefore = metricValue(await s.metrics(), 'matrix_turn_secret_rotations_total', { server: 'default' })!;
    await waitFor(
      async () => metricValue(await s.metrics(), 'matrix_turn_secret_rotations_total', { server: 'default' })! >= rotationsBefore + 2,
      { timeoutMs: 4 * INTERVAL_S * 1000, what: 'two more rotations' },
    );
    const seen = await sampling.stop();
    expect(seen.kept).toBe(true);
    expect(seen.most).toBeLessThanOrEqual(BOUND);
    expect(seen.most).toBeGreaterThanOrEqual(3);
    expect(seen.values.size).toBeGreaterThanOrEqual(4);

    const shown = [s.logs.text(), await s.metrics(), JSON.stringify(await readiness(s))].join('\n');
    for (const value of seen.values) expect(shown).not.toContain(value);
    expect(metricValue(await s.metrics(), 'matrix_turn_secrets', { server: 'default' })).toBeLessThanOrEqual(BOUND);
  });

  it('two replicas started together add one secret per interval between them, and both credentials allocate', async () => {
    const [a, b] = await Promise.all([service(), service()]);
    await Promise.all([signing(a), signing(b)]);
    const created = new Map<string, number>();
    const startedMs = Date.now();
    while (Date.now() - startedMs < 4 * INTERVAL_S * 1000) {
      for (const secret of (await contents()).ours) created.set(secret.id, secret.createdMs);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const times = [...created.values()].sort((x, y) => x - y);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(INTERVAL_S * 1000);
    // The first at start, then one per interval: 4 or 5 in 4 intervals, whatever the phase.
    expect(times.length).toBeGreaterThanOrEqual(4);
    expect(times.length).toBeLessThanOrEqual(6);
    const rotations = async (s: TestService) =>
      metricValue(await s.metrics(), 'matrix_turn_secret_rotations_total', { server: 'default' })!;
    // A secret added since the last sample is counted by its replica and not yet seen: sample again after reading the counters.
    const counted = (await rotations(a)) + (await rotations(b));
    for (const secret of (await contents()).ours) created.set(secret.id, secret.createdMs);
    expect(counted).toBeGreaterThanOrEqual(times.length);
    expect(counted).toBeLessThanOrEqual(created.size);

    const [fromA, fromB] = await Promise.all([answer(a), answer(b, 'bob-token')]);
    expect(await allocate(fromA)).toMatchObject({ ok: true });
    expect(await allocate(fromB)).toMatchObject({ ok: true });
  });

  it('with Redis stopped: credentials keep coming, signed with the newest secret; degraded, logged once; rotation resumes', async () => {
    const s = await service();
    await signing(s);
    // Stopped just after a rotation, so the newest read here is the newest the replica knows.
    const newest = await waitFor(
      async () => {
        const latest = (await contents()).ours.at(-1);
        return latest !== undefined && Date.now() - latest.createdMs < 500 ? latest : undefined;
      },
      { timeoutMs: 3 * INTERVAL_S * 1000, intervalMs: 50, what: 'a rotation' },
    );
    await signing(s);
    const rotationsBefore = metricValue(await s.metrics(), 'matrix_turn_secret_rotations_total', { server: 'default' })!;
    await redis.kill();
    const during: Answer[] = [];
    const outageMs = 3 * INTERVAL_S * 1000;
    const startedMs = Date.now();
    while (Date.now() - startedMs < outageMs) {
      during.push(await answer(s));
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const signedWithNewest = during.filter((a) => a.password === turnPassword(newest.value, a.username));
    // The first answers may come before the replica notices; every later one is signed with the newest known.
    expect(signedWithNewest.length).toBeGreaterThanOrEqual(during.length - 2);
    expect(during.at(-1)!.password).toBe(turnPassword(newest.value, during.at(-1)!.username));
    const report = await readiness(s);
    expect(report.status).toBe('degraded');
    expect(report.components.turn_secrets).toMatchObject({ ready: true, degraded: true });
    expect(s.logs.text().match(/cannot read coturn's Redis/g)).toHaveLength(1);
    expect(metricValue(await s.metrics(), 'matrix_turn_secret_rotations_total', { server: 'default' })).toBe(rotationsBefore);

    await redis.restart();
    // coturn reconnects at its next authentication: the credential issued during the outage allocates.
    await waitFor(async () => (await allocate(during.at(-1)!)).ok, {
      timeoutMs: 10_000,
      intervalMs: 200,
      what: 'coturn to read Redis again',
    });
    await waitFor(
      async () => metricValue(await s.metrics(), 'matrix_turn_secret_rotations_total', { server: 'default' })! > rotationsBefore,
      { timeoutMs: 2 * INTERVAL_S * 1000, what: 'rotation to resume' },
    );
    await signing(s);
    expect(s.logs.text()).toMatch(/coturn's Redis answers again/);
    const resumed = await answer(s);
    expect(resumed.password).not.toBe(turnPassword(newest.value, resumed.username));
    expect(await allocate(resumed)).toMatchObject({ ok: true });
  });

  it('the doctor allocates with a credential signed by the newest managed secret, and names a coturn that reads another set', async () => {
    const s = await service();
    await signing(s);
    const healthy = await runDoctor(settings(), { json: false });
    expect(healthy.text).toMatch(
      /ok\s+coturn's Redis holds a managed secret \(turn\/realm\/turn\.example\.org\/secret\): 1 of the service's/,
    );
    expect(healthy.text).toMatch(/ok\s+an Allocate succeeds with a credential minted for @turn-health-check:/);
    expect(healthy.exitCode).toBe(0);

    // A replica on another database than the one coturn's redis-userdb names.
    const elsewhere = await service(DB + 1);
    await signing(elsewhere);
    const wrong = await runDoctor(settings(DB + 1), { json: false });
    expect(wrong.exitCode).toBe(1);
    expect(wrong.text).toMatch(/FAIL\s+an Allocate succeeds/);
    expect(wrong.text).toMatch(
      /cause: coturn refused a credential signed with the newest secret of turn\/realm\/\S+: coturn does not read that set/,
    );
    const values = [...(await contents()).ours, ...contentsOf(...(await otherDb())).ours].map((secret) => secret.value);
    expect(values.length).toBeGreaterThanOrEqual(2);
    for (const value of values) expect(`${healthy.text}\n${wrong.text}`).not.toContain(value);
  });
});
