// A provider entry as built (src/turn/providers/index.ts): one provider call per user, the
// credential handed out again until half its lifetime is gone (on the injected clock), the
// lifetime asked for clamped to the provider's longest, an opaque identifier for each user,
// its health logged once per change (a refused key naming the setting to check, never a
// secret), and its figures.

import { Registry } from 'prom-client';
import { createLogger } from '../../../../src/logger.js';
import { createMetrics, type Metrics } from '../../../../src/metrics.js';
import type { TurnCredentials } from '../../../../src/turn/credentials.js';
import { createProviderServer, type ProviderApi, type ProviderServer } from '../../../../src/turn/providers/index.js';
import { manualClock, type ManualClock } from '../../../helpers/clock.js';
import { captureLogs, type CapturedLogs } from '../../../helpers/logs.js';
import {
  startCloudflareStandIn,
  startMeteredStandIn,
  startTwilioStandIn,
  type ProviderStandIn,
} from '../../../helpers/provider-stand-ins.js';

const TOKEN = 'cf-token-never-logged-8d7c';
const SID = `AC${'0123456789abcdef'.repeat(2)}`;

let clock: ManualClock;
let metrics: Metrics;
let logs: CapturedLogs;
const standIns: ProviderStandIn[] = [];
const servers: ProviderServer[] = [];

beforeEach(() => {
  clock = manualClock(1_700_000_000_000);
  metrics = createMetrics(new Registry(), { defaultMetrics: false });
  logs = captureLogs();
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
  await Promise.all(standIns.splice(0).map((standIn) => standIn.close()));
});

async function cloudflare(ttlSeconds = 3600, cacheSize = 100_000): Promise<{ standIn: ProviderStandIn; server: ProviderServer }> {
  const standIn = await startCloudflareStandIn({ keyId: 'key-1', apiToken: TOKEN });
  standIns.push(standIn);
  const server = build({ kind: 'cloudflare', apiUrl: standIn.url, keyId: 'key-1', apiToken: { value: TOKEN } }, ttlSeconds, cacheSize);
  return { standIn, server };
}

function build(api: ProviderApi, ttlSeconds = 3600, cacheSize = 100_000): ProviderServer {
  const server = createProviderServer(
    {
      name: 'cf',
      ttlSeconds,
      provider: {
        api,
        cacheSize,
        upstream: { timeoutMs: 2000, maxConcurrency: 64, breakerFailureThreshold: 1000, breakerResetMs: 5000 },
        settingPrefix: 'turn_servers[cf]',
      },
    },
    { clock, timers: clock, logger: createLogger('debug', logs.stream), metrics },
  );
  servers.push(server);
  return server;
}

const mint = (server: ProviderServer, userId: string): Promise<TurnCredentials> => Promise.resolve(server.minter.mint(userId));
const sent = (standIn: ProviderStandIn) =>
  standIn.requests.filter((request) => request.method === 'POST').map((request) => JSON.parse(request.body) as Record<string, unknown>);

async function metricValue(name: string, labels: Record<string, string>): Promise<number | undefined> {
  // A histogram's series are listed under its own name, each value named by its metricName (…_count).
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => name === m.name || name.startsWith(`${m.name}_`));
  const values = metric?.values as { labels: Record<string, unknown>; value: number; metricName?: string }[] | undefined;
  return values?.find((v) => (v.metricName ?? name) === name && Object.entries(labels).every(([key, value]) => v.labels[key] === value))
    ?.value;
}

describe('a provider entry', () => {
  it('20 requests of one user at once, then 20 more: one provider call, the same credential every time', async () => {
    const { standIn, server } = await cloudflare();
    const first = await Promise.all(Array.from({ length: 20 }, () => mint(server, '@ann:example.org')));
    const later = await Promise.all(Array.from({ length: 20 }, () => mint(server, '@ann:example.org')));
    expect(standIn.issued).toBe(1);
    expect(new Set([...first, ...later].map((c) => c.password)).size).toBe(1);
    expect(await metricValue('matrix_turn_provider_cache_requests_total', { server: 'cf', result: 'miss' })).toBe(1);
    expect(await metricValue('matrix_turn_provider_cache_requests_total', { server: 'cf', result: 'coalesced' })).toBe(19);
    expect(await metricValue('matrix_turn_provider_cache_requests_total', { server: 'cf', result: 'hit' })).toBe(20);
    expect(await metricValue('matrix_turn_provider_requests_total', { server: 'cf', result: 'ok' })).toBe(1);
  });

  it('answers a kept credential at once, without a promise', async () => {
    const { server } = await cloudflare();
    expect(server.minter.mint('@ann:example.org')).toBeInstanceOf(Promise);
    await mint(server, '@ann:example.org');
    expect(server.minter.mint('@ann:example.org')).not.toBeInstanceOf(Promise);
  });

  it('20 users at once: 20 provider calls, not more, each user their own credential', async () => {
    const { standIn, server } = await cloudflare();
    const users = Array.from({ length: 20 }, (_, i) => `@user${i}:example.org`);
    const answers = await Promise.all(users.flatMap((user) => [mint(server, user), mint(server, user)]));
    expect(standIn.issued).toBe(20);
    expect(new Set(answers.map((c) => c.username)).size).toBe(20);
  });

  it('hands the credential out until half its lifetime is gone, its ttl the time it has left, then renews it', async () => {
    const { standIn, server } = await cloudflare(3600);
    const first = await mint(server, '@ann:example.org');
    expect(first.ttl).toBe(3600);
    clock.advance(1799_000);
    const kept = await mint(server, '@ann:example.org');
    expect({ password: kept.password, ttl: kept.ttl, calls: standIn.issued }).toEqual({ password: first.password, ttl: 1801, calls: 1 });
    clock.advance(1001);
    const renewed = await mint(server, '@ann:example.org');
    expect({ renewed: renewed.password !== first.password, ttl: renewed.ttl, calls: standIn.issued }).toEqual({
      renewed: true,
      ttl: 3600,
      calls: 2,
    });
  });

  it('keeps at most PROVIDER_CACHE_SIZE users, the least recently used dropped first', async () => {
    const { standIn, server } = await cloudflare(3600, 2);
    for (const user of ['@a:x', '@b:x', '@a:x', '@c:x']) await mint(server, user);
    expect(standIn.issued).toBe(3);
    await mint(server, '@a:x');
    expect(standIn.issued).toBe(3);
    await mint(server, '@b:x');
    expect(standIn.issued).toBe(4);
  });

  it("asks for at most the provider's longest lifetime: 48 h at Cloudflare, 24 h at Twilio", async () => {
    const { standIn, server } = await cloudflare(30 * 86_400);
    expect((await mint(server, '@ann:example.org')).ttl).toBe(172_800);
    expect(sent(standIn)[0]!.ttl).toBe(172_800);

    const twilio = await startTwilioStandIn({ accountSid: SID, user: SID, secret: 'tw' });
    standIns.push(twilio);
    const twilioServer = build(
      { kind: 'twilio', apiUrl: twilio.url, accountSid: SID, user: SID, secret: { value: 'tw' }, secretSetting: 'auth_token' },
      30 * 86_400,
    );
    expect((await mint(twilioServer, '@ann:example.org')).ttl).toBe(86_400);
    expect(twilio.requests[0]!.body).toBe('Ttl=86400');
  });

  it('tells the provider an identifier of each user that is stable, distinct per user, and not the user id', async () => {
    const { standIn, server } = await cloudflare();
    await mint(server, '@ann:example.org');
    await mint(server, '@bob:example.org');
    const again = await cloudflare();
    await mint(again.server, '@ann:example.org');
    const [ann, bob] = sent(standIn).map((body) => body.customIdentifier as string);
    const annAgain = sent(again.standIn)[0]!.customIdentifier;
    expect(ann).toMatch(/^[0-9a-f]{32}$/);
    expect(annAgain).toBe(ann);
    expect(bob).not.toBe(ann);
    expect(standIn.requests.map((r) => r.body).join()).not.toMatch(/ann|bob|example\.org/);

    const metered = await startMeteredStandIn({ secretKey: 'me' });
    standIns.push(metered);
    await mint(build({ kind: 'metered', apiUrl: metered.url, secretKey: { value: 'me' } }), '@ann:example.org');
    expect(sent(metered)[0]!.label).toMatch(/^[0-9a-f]{32}$/);
    expect(metered.requests[0]!.body).not.toContain('ann');
  });

  it('logs a refused key once per change of state, naming the setting to check and never the key', async () => {
    const { standIn, server } = await cloudflare();
    standIn.mode = 'unauthorized';
    for (const user of ['@a:x', '@b:x', '@c:x']) await expect(mint(server, user)).rejects.toMatchObject({ reason: 'refused' });
    standIn.mode = 'normal';
    await mint(server, '@a:x');
    await mint(server, '@b:x');
    const lines = logs.entries().filter((entry) => entry.server === 'cf');
    expect(lines.map((entry) => [entry.level, entry.msg])).toEqual([
      [
        'warn',
        'TURN provider cf (cloudflare) refused our key: check turn_servers[cf].api_token (revoked, mistyped, or of another account)',
      ],
      ['info', 'TURN provider cf (cloudflare) is issuing credentials again'],
    ]);
    expect(await metricValue('matrix_turn_provider_requests_total', { server: 'cf', result: 'refused' })).toBe(3);
    expect(logs.text()).not.toContain(TOKEN);
    expect(server.status()).toMatchObject({ name: 'cf', provider: 'cloudflare', state: 'up' });
  });

  it('is down in /readyz with the reason of its last failure, and fails each request that found nothing kept', async () => {
    const { standIn, server } = await cloudflare();
    expect(server.status()).toEqual({ name: 'cf', provider: 'cloudflare', state: 'unchecked' });
    standIn.mode = 'error500';
    await expect(mint(server, '@a:x')).rejects.toMatchObject({ name: 'ProviderFailure', reason: 'unavailable' });
    expect(server.status()).toMatchObject({ state: 'down', reason: 'unavailable', detail: 'provider:cf answered HTTP 500' });
    expect(await metricValue('matrix_turn_provider_request_duration_seconds_count', { server: 'cf' })).toBe(1);
  });
});
