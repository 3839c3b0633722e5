// Managed TURN providers behind the Matrix endpoint, the real service in front of
// stand-ins built from each provider's documented API (test/helpers/provider-stand-ins.ts)
// and a real coturn: a provider's credential is handed out with the URIs it gave, once per
// user; when the provider answers 500, hangs, or refuses our key, the next entry of
// turn_servers answers, and its credential allocates on coturn (turnutils_uclient); when
// every entry fails, 503 M_UNKNOWN with Retry-After. No secret reaches a log line.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { turnPassword } from '../../src/turn/credentials.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { startHomeserver, type StandInHomeserver } from '../helpers/homeserver.js';
import { startCloudflareStandIn, startMeteredStandIn, startTwilioStandIn, type ProviderStandIn } from '../helpers/provider-stand-ins.js';
import { startTestService, type TestService } from '../helpers/service.js';

const COTURN_SECRET = 'coturn-secret-never-logged-41a2';
const CF_TOKEN = 'cf-token-never-logged-77b1';
const TW_TOKEN = 'tw-token-never-logged-0c9d';
const ME_KEY = 'me-key-never-logged-5e6f';
const SID = `AC${'0123456789abcdef'.repeat(2)}`;
const UPSTREAM_TIMEOUT_MS = 500;
const ALLOCATION_TIMEOUT_MS = 60_000;

interface Answer {
  username: string;
  password: string;
  uris: string[];
  ttl: number;
}

let homeserver: StandInHomeserver;
let coturn: Coturn;
let dir: string;
const standIns: ProviderStandIn[] = [];
const services: TestService[] = [];
/** Every secret given or issued in a test, none of which may be logged. */
const secrets = new Set([COTURN_SECRET, CF_TOKEN, TW_TOKEN, ME_KEY]);

beforeAll(async () => {
  homeserver = await startHomeserver();
  for (let i = 0; i < 40; i++) homeserver.addToken(`token-${i}`, { userId: `@user${i}:example.org` });
  coturn = await startCoturn({ secrets: [COTURN_SECRET] });
  dir = mkdtempSync(join(tmpdir(), 'mtc-providers-'));
});

afterEach(async () => {
  for (const service of services) {
    const text = service.logs.text();
    expect([...secrets].filter((secret) => text.includes(secret))).toEqual([]);
  }
  await Promise.all(services.splice(0).map((service) => service.stop()));
  await Promise.all(standIns.splice(0).map((standIn) => standIn.close()));
});

afterAll(async () => {
  await coturn.stop();
  await homeserver.close();
  rmSync(dir, { recursive: true, force: true });
});

const coturnUri = () => `turn:127.0.0.1:${coturn.port}?transport=udp`;

/** What the stand-ins hand out: a credential our coturn accepts, on its URI (as if the provider ran it). */
const coturnCredential = (ttlSeconds: number) => {
  const username = `${Math.floor(Date.now() / 1000) + ttlSeconds}:provider-user`;
  const password = turnPassword(COTURN_SECRET, username);
  secrets.add(password);
  return { username, password };
};

async function kept(standIn: Promise<ProviderStandIn>): Promise<ProviderStandIn> {
  const started = await standIn;
  standIns.push(started);
  return started;
}

async function serviceWith(entries: string[]): Promise<TestService> {
  const path = join(dir, `config-${services.length}-${Date.now()}.yaml`);
  writeFileSync(path, [`homeserver_url: ${homeserver.url}`, 'turn_servers:', ...entries].join('\n'));
  const service = await startTestService({
    CONFIG_FILE: path,
    TURN_URIS: undefined,
    TURN_SHARED_SECRET: undefined,
    UPSTREAM_TIMEOUT_MS: String(UPSTREAM_TIMEOUT_MS),
    RATE_LIMIT_BURST: '100000',
    RATE_LIMIT_PER_SECOND: '100000',
  });
  services.push(service);
  return service;
}

const cloudflareEntry = (url: string) => `  - {name: cf, provider: cloudflare, api_url: "${url}", key_id: key-1, api_token: ${CF_TOKEN}}`;
const coturnEntry = () => `  - {name: coturn, uris: ["${coturnUri()}"], shared_secret: ${COTURN_SECRET}}`;

async function answer(service: TestService, token = 'token-0'): Promise<Answer> {
  const res = await service.turnServer(token);
  expect(res.status).toBe(200);
  const body = (await res.json()) as Answer;
  secrets.add(body.password);
  return body;
}

async function allocates(credentials: Answer): Promise<{ ok: boolean; output: string }> {
  const result = await coturn.allocate(credentials.username, credentials.password);
  return { ok: result.ok, output: result.ok ? '' : result.output };
}

describe('a Cloudflare entry before our own coturn', () => {
  it(
    "hands out the provider's credential with the URIs it gave (port 53 dropped), once per user, and it allocates",
    async () => {
      const cf = await kept(
        startCloudflareStandIn({ keyId: 'key-1', apiToken: CF_TOKEN }, { credential: coturnCredential, turnUris: [coturnUri()] }),
      );
      const service = await serviceWith([cloudflareEntry(cf.url), coturnEntry()]);
      const first = await answer(service);
      expect(first.username).toMatch(/:provider-user$/);
      expect(first.uris).toEqual(['stun:stun.cloudflare.com:3478', coturnUri()]);
      // The time the credential has left, in whole seconds: the call took some milliseconds.
      expect(first.ttl).toBeGreaterThanOrEqual(3598);
      expect(first.ttl).toBeLessThanOrEqual(3600);
      const again = await Promise.all(Array.from({ length: 20 }, () => answer(service)));
      expect(new Set(again.map((a) => a.password))).toEqual(new Set([first.password]));
      expect(cf.issued).toBe(1);
      expect(await allocates(first)).toEqual({ ok: true, output: '' });
      const metrics = await service.metrics();
      expect(metrics).toContain('matrix_turn_provider_requests_total{server="cf",result="ok"} 1');
      expect(metrics).toContain('matrix_turn_provider_cache_requests_total{server="cf",result="hit"} 20');
    },
    ALLOCATION_TIMEOUT_MS,
  );

  it.each([
    ['answers 500', 'error500', 'unavailable'],
    ['does not answer in time', 'hang', 'timeout'],
    ['refuses our key (401)', 'unauthorized', 'refused'],
  ] as const)(
    'falls through to the coturn entry when the provider %s, whose credential coturn accepts',
    async (_what, mode, reason) => {
      const cf = await kept(startCloudflareStandIn({ keyId: 'key-1', apiToken: CF_TOKEN }));
      cf.mode = mode;
      const service = await serviceWith([cloudflareEntry(cf.url), coturnEntry()]);
      const started = Date.now();
      const fallback = await answer(service, 'token-1');
      expect(Date.now() - started).toBeLessThan(UPSTREAM_TIMEOUT_MS + 2000);
      expect(fallback.username).toMatch(/^\d+:@user1:example\.org$/);
      expect(fallback.uris).toEqual([coturnUri()]);
      expect(cf.requests).toHaveLength(1);
      expect(await allocates(fallback)).toEqual({ ok: true, output: '' });
      const ready = (await (await fetch(`${service.url}/readyz`)).json()) as { components: { turn: { servers: unknown[] } } };
      expect(ready.components.turn.servers[0]).toMatchObject({ name: 'cf', provider: 'cloudflare', state: 'down', reason });
      expect(await service.metrics()).toContain(`matrix_turn_provider_requests_total{server="cf",result="${reason}"} 1`);
      if (reason === 'refused')
        expect(service.logs.entries().filter((entry) => entry.setting === 'turn_servers[cf].api_token')).toHaveLength(1);
    },
    ALLOCATION_TIMEOUT_MS,
  );
});

describe('every entry failing', () => {
  it('answers 503 M_UNKNOWN with Retry-After, and /readyz says degraded', async () => {
    const cf = await kept(startCloudflareStandIn({ keyId: 'key-1', apiToken: CF_TOKEN }));
    const tw = await kept(startTwilioStandIn({ accountSid: SID, user: SID, secret: TW_TOKEN }));
    cf.mode = 'error500';
    tw.mode = 'unauthorized';
    const service = await serviceWith([
      cloudflareEntry(cf.url),
      `  - {name: tw, provider: twilio, api_url: "${tw.url}", account_sid: ${SID}, auth_token: ${TW_TOKEN}}`,
    ]);
    const res = await service.turnServer('token-2');
    expect(res.status).toBe(503);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await res.json()).toEqual({ errcode: 'M_UNKNOWN', error: 'No TURN server can issue credentials right now' });
    const ready = (await (await fetch(`${service.url}/readyz`)).json()) as { status: string };
    expect(ready.status).toBe('degraded');
  });
});

describe('Twilio and Metered entries', () => {
  it('answer with their credential and the URIs they gave', async () => {
    const tw = await kept(startTwilioStandIn({ accountSid: SID, user: SID, secret: TW_TOKEN }, { turnUris: [coturnUri()] }));
    const me = await kept(startMeteredStandIn({ secretKey: ME_KEY }, { turnUris: [coturnUri()] }));
    const twilio = await serviceWith([
      `  - {name: tw, provider: twilio, api_url: "${tw.url}", account_sid: ${SID}, auth_token: ${TW_TOKEN}}`,
    ]);
    const fromTwilio = await answer(twilio);
    expect(fromTwilio.uris).toEqual(['stun:global.stun.twilio.com:3478', coturnUri(), 'turns:global.turn.twilio.com:443?transport=tcp']);
    expect(3600 - fromTwilio.ttl).toBeLessThanOrEqual(2);
    const metered = await serviceWith([`  - {name: me, provider: metered, api_url: "${me.url}", secret_key: ${ME_KEY}, ttl: 10m}`]);
    const fromMetered = await answer(metered);
    expect(fromMetered.uris).toEqual(['stun:stun.relay.metered.ca:80', coturnUri()]);
    expect(600 - fromMetered.ttl).toBeLessThanOrEqual(2);
    expect([tw.issued, me.issued]).toEqual([1, 1]);
  });
});
