// The secret a replica signs with (src/turn/managed-secrets/signing-secret.ts and index.ts),
// on the manual clock's timers: the set read every refresh interval, the first secret added
// when there is none, one new secret per interval however many replicas share the set and
// every replica signing with it within two refresh intervals; while the set cannot be read
// the newest known keeps signing, nothing rotates, /readyz says degraded and the log says
// so once, and the first read after catches up; the static secrets sign until a managed one
// is known, and without them no credential is minted; no secret in a log line, a metric or
// /readyz. Against a real redis-server: read as soon as the client connects, and again
// after a reconnection.

import { Registry } from 'prom-client';
import { MatrixError } from '../../../../src/errors.js';
import { createLogger } from '../../../../src/logger.js';
import { createMetrics, type Metrics } from '../../../../src/metrics.js';
import { createRedisClient, type RedisClient } from '../../../../src/redis/client.js';
import { sharedSecretMinter, turnPassword } from '../../../../src/turn/credentials.js';
import { createManagedSecrets, managedSecretMinter } from '../../../../src/turn/managed-secrets/index.js';
import { coturnKeys } from '../../../../src/turn/managed-secrets/secret-store.js';
import {
  createSigningSecret,
  refreshIntervalMs,
  type SigningSecret,
  type SigningSecretOptions,
} from '../../../../src/turn/managed-secrets/signing-secret.js';
import { manualClock, type ManualClock } from '../../../helpers/clock.js';
import { captureLogs, type CapturedLogs } from '../../../helpers/logs.js';
import { adminConnection } from '../../../helpers/redis-admin.js';
import { startRedis } from '../../../helpers/redis.js';
import { metricValue } from '../../../helpers/replicas.js';
import { waitFor } from '../../../helpers/wait.js';
import { memoryStore, type MemoryStore } from './memory-store.js';

const INTERVAL_MS = 8000;
const REFRESH_MS = refreshIntervalMs(INTERVAL_MS);
const OPTIONS: SigningSecretOptions = {
  server: 'eu',
  realm: 'turn.example.org',
  rotationIntervalMs: INTERVAL_MS,
  marginMs: 1000,
  commandTimeoutMs: 250,
  ttlSeconds: 20,
};

interface Replica {
  readonly signing: SigningSecret;
  readonly metrics: Metrics;
  readonly logs: CapturedLogs;
}

const opened: SigningSecret[] = [];
afterEach(() => {
  for (const signing of opened.splice(0)) signing.close();
});

function replica(clock: ManualClock, store: MemoryStore, extra: Partial<Parameters<typeof createSigningSecret>[1]> = {}): Replica {
  const logs = captureLogs();
  const metrics = createMetrics(new Registry(), { defaultMetrics: false });
  const signing = createSigningSecret(OPTIONS, {
    store,
    clock,
    timers: clock,
    logger: createLogger('debug', logs.stream),
    metrics,
    ...extra,
  });
  opened.push(signing);
  return { signing, metrics, logs };
}

/** Moves the clock by `ms` and lets the refreshes it started end. */
async function advance(clock: ManualClock, ms: number, replicas: readonly Replica[]): Promise<void> {
  clock.advance(ms);
  await Promise.all(replicas.map((r) => r.signing.refresh()));
}

const newest = (store: MemoryStore) => store.read().then((contents) => contents.ours.at(-1));

describe('the signing secret', () => {
  it('adds the first secret to an empty set and signs with it, counted and shown without its value', async () => {
    const clock = manualClock();
    const store = memoryStore(clock);
    store.members.add('operator-secret');
    const r = replica(clock, store);
    expect(r.signing.canSign()).toBe(false);
    await r.signing.refresh();
    const first = await newest(store);
    expect(first?.createdMs).toBe(clock.nowMs());
    expect(r.signing.current()).toBe(first?.value);
    await expect(r.signing.ready).resolves.toBeUndefined();
    const text = await r.metrics.registry.metrics();
    expect(metricValue(text, 'matrix_turn_secret_rotations_total', { server: 'eu' })).toBe(1);
    expect(metricValue(text, 'matrix_turn_secrets', { server: 'eu' })).toBe(1);
    expect(metricValue(text, 'matrix_turn_signing_secret_age_seconds', { server: 'eu' })).toBe(0);
    expect(metricValue(text, 'matrix_turn_secret_rotation_interval_seconds', { server: 'eu' })).toBe(INTERVAL_MS / 1000);
    expect(r.signing.status()).toMatchObject({ ready: true, degraded: false, server: 'eu', secrets: 1, maxSecrets: 5 });
    expect(store.members.has('operator-secret')).toBe(true);
  });

  it('shared by replicas: one new secret per interval, every replica signing with it within two refresh intervals', async () => {
    const clock = manualClock();
    const store = memoryStore(clock);
    const replicas = [replica(clock, store), replica(clock, store), replica(clock, store)];
    await Promise.all(replicas.map((r) => r.signing.refresh()));
    const seen = new Map<string, number>();
    const lateSwitches: string[] = [];
    for (let step = 0; step < (10 * INTERVAL_MS) / REFRESH_MS; step++) {
      await advance(clock, REFRESH_MS, replicas);
      const latest = (await newest(store))!;
      if (!seen.has(latest.id)) seen.set(latest.id, latest.createdMs);
      if (clock.nowMs() - latest.createdMs >= 2 * REFRESH_MS && replicas.some((r) => r.signing.current() !== latest.value))
        lateSwitches.push(`${clock.nowMs() - latest.createdMs} ms after`);
    }
    expect(lateSwitches).toEqual([]);
    const created = [...seen.values()];
    expect(created).toHaveLength(11);
    for (let i = 1; i < created.length; i++) expect(created[i]! - created[i - 1]!).toBeGreaterThanOrEqual(INTERVAL_MS);
    const rotations = await Promise.all(
      replicas.map(async (r) => metricValue(await r.metrics.registry.metrics(), 'matrix_turn_secret_rotations_total', { server: 'eu' })),
    );
    expect(rotations.reduce((sum, n) => sum! + n!, 0)).toBe(11);
    // ttl 20 s + margin 1 s + two refreshes, every 8 s: at most ceil(21 / 8) + 2 = 5, and here 4 right after a rotation.
    expect((await store.read()).ours.length).toBeLessThanOrEqual(5);
  });

  it('signs with the newest known while the set cannot be read: degraded, logged once, nothing rotated; then catches up', async () => {
    const clock = manualClock();
    const store = memoryStore(clock);
    const r = replica(clock, store);
    await r.signing.refresh();
    const before = r.signing.current();
    store.failing = true;
    for (let i = 0; i < (3 * INTERVAL_MS) / REFRESH_MS; i++) await advance(clock, REFRESH_MS, [r]);
    expect(r.signing.current()).toBe(before);
    expect(r.signing.status()).toMatchObject({ ready: true, degraded: true });
    expect(String(r.signing.status().detail)).toMatch(/^coturn's Redis unreachable since .*: signing with the newest secret known$/);
    const warnings = r.logs.entries().filter((line) => /cannot read coturn's Redis/.test(String(line.msg)));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 'warn', detail: 'Error: connect ECONNREFUSED 127.0.0.1:6379' });
    let text = await r.metrics.registry.metrics();
    expect(metricValue(text, 'matrix_turn_secret_rotations_total', { server: 'eu' })).toBe(1);
    // Three intervals without a new secret: past the twice the interval that the chart's alert fires on.
    expect(metricValue(text, 'matrix_turn_signing_secret_age_seconds', { server: 'eu' })).toBe((3 * INTERVAL_MS) / 1000);
    expect(metricValue(text, 'matrix_turn_secret_rotation_interval_seconds', { server: 'eu' })).toBe(INTERVAL_MS / 1000);

    store.failing = false;
    await advance(clock, REFRESH_MS, [r]);
    expect(r.signing.current()).not.toBe(before);
    expect(r.signing.current()).toBe((await newest(store))?.value);
    expect(r.signing.status()).toMatchObject({ ready: true, degraded: false });
    expect(r.logs.text()).toMatch(/coturn's Redis answers again/);
    text = await r.metrics.registry.metrics();
    expect(metricValue(text, 'matrix_turn_secret_rotations_total', { server: 'eu' })).toBe(2);
  });

  it('signs with the static secrets until a managed one is known', async () => {
    const clock = manualClock();
    const store = memoryStore(clock);
    store.failing = true;
    const r = replica(clock, store, { fallback: { current: () => 'static-new,static-old' } });
    await r.signing.refresh();
    expect(r.signing.canSign()).toBe(true);
    await expect(r.signing.ready).resolves.toBeUndefined();
    const minter = sharedSecretMinter({ uris: ['turn:eu.example.org'], ttlSeconds: 20, sharedSecrets: r.signing, clock });
    const { username, password } = minter.mint('@alice:example.org');
    expect(password).toBe(turnPassword('static-new', username));
    expect(r.signing.status()).toMatchObject({ ready: true, degraded: true });
    store.failing = false;
    await advance(clock, REFRESH_MS, [r]);
    const managed = (await newest(store))!.value;
    const after = minter.mint('@alice:example.org');
    expect(after.password).toBe(turnPassword(managed, after.username));
  });

  it('without static secrets, mints nothing until a managed secret is known: not ready, 503 with Retry-After', async () => {
    const clock = manualClock();
    const store = memoryStore(clock);
    store.failing = true;
    const r = replica(clock, store);
    await r.signing.refresh();
    const minter = managedSecretMinter(
      sharedSecretMinter({ uris: ['turn:eu.example.org'], ttlSeconds: 20, sharedSecrets: r.signing, clock }),
      r.signing,
    );
    expect(r.signing.status()).toMatchObject({ ready: false, degraded: true });
    let refusal: unknown;
    try {
      minter.mint('@alice:example.org');
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(MatrixError);
    expect(refusal).toMatchObject({ status: 503, errcode: 'M_UNKNOWN', headers: { 'Retry-After': '1' } });
    store.failing = false;
    await advance(clock, REFRESH_MS, [r]);
    expect(minter.mint('@alice:example.org').username).toMatch(/^\d+:@alice:example\.org$/);
    expect(r.signing.status()).toMatchObject({ ready: true });
  });

  it('never shows a secret: not in the log, a metric or /readyz', async () => {
    const clock = manualClock();
    const store = memoryStore(clock);
    const r = replica(clock, store);
    const values = new Set<string>();
    for (let i = 0; i < (6 * INTERVAL_MS) / REFRESH_MS; i++) {
      await advance(clock, REFRESH_MS, [r]);
      for (const value of store.members) values.add(value);
      if (i === 10) store.failing = true;
      if (i === 14) store.failing = false;
    }
    expect(values.size).toBeGreaterThanOrEqual(6);
    const shown = [r.logs.text(), await r.metrics.registry.metrics(), JSON.stringify(r.signing.status())].join('\n');
    expect(r.logs.text()).toMatch(/rotated the TURN secrets of eu/);
    for (const value of values) expect(shown).not.toContain(value);
  });
});

describe('managed secrets on a real Redis', () => {
  it('read as soon as the client connects, and again at once after a reconnection', async () => {
    const redis = await startRedis();
    const admin = adminConnection(`${redis.url}/2`);
    let client: RedisClient | undefined;
    const clock = manualClock(Date.now());
    try {
      client = createRedisClient(
        { url: { value: `${redis.url}/2` }, tls: false, commandTimeoutMs: 1000 },
        { logger: createLogger('silent') },
      );
      const signing = createManagedSecrets(OPTIONS, {
        client,
        clock,
        // The interval's own reads never fire: only the connection's do.
        timers: clock,
        logger: createLogger('silent'),
        metrics: createMetrics(new Registry(), { defaultMetrics: false }),
      });
      opened.push(signing);
      const { set } = coturnKeys(OPTIONS.realm);
      await signing.ready;
      expect(await admin.smembers(set)).toEqual([signing.current()]);
      const first = signing.current();
      // Redis restarts without its data: the reconnection reads an empty set and adds a secret at once.
      await redis.kill();
      await redis.restart();
      await waitFor(async () => (await admin.scard(set).catch(() => 0)) === 1, { what: 'a secret in the restarted Redis' });
      await waitFor(() => signing.current() !== first, { what: 'the replica to sign with it' });
      expect(await admin.smembers(set)).toEqual([signing.current()]);
    } finally {
      client?.disconnect();
      admin.disconnect();
      await redis.stop();
    }
  });
});
