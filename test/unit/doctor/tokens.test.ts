// The doctor's token verification section (src/doctor/checks/tokens.ts) through the real
// verifiers over real HTTP: the homeserver stand-in's whoami, a scripted introspection
// endpoint and JWKS on loopback. A random token refused as unknown proves the upstream
// answers; an upstream down, or refusing our client credentials, is a failure with its
// cause; --token verifies that token and prints its user id.

import { generateKeyPairSync } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { Registry } from 'prom-client';
import { systemClock, systemTimers } from '../../../src/clock.js';
import { loadConfig } from '../../../src/config/index.js';
import { tokenSection } from '../../../src/doctor/checks/tokens.js';
import { createLogger } from '../../../src/logger.js';
import { createMetrics } from '../../../src/metrics.js';
import { startHomeserver, type StandInHomeserver } from '../../helpers/homeserver.js';
import { listen, type Listening } from '../../helpers/listen.js';
import { freePort } from '../../helpers/ports.js';

const TURN = { TURN_URIS: 'turn:turn.example.org:3478', TURN_SHARED_SECRET: 'doctor-token-test-secret' };
const deps = () => ({
  clock: systemClock,
  timers: systemTimers,
  logger: createLogger('silent'),
  metrics: createMetrics(new Registry(), { defaultMetrics: false }),
});
const section = (env: Record<string, string>, token?: string) => tokenSection(loadConfig({ ...TURN, ...env }), token, deps());

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

describe('whoami', () => {
  let homeserver: StandInHomeserver;
  beforeAll(async () => {
    homeserver = await startHomeserver();
    homeserver.addToken('alice-token-5e2f', { userId: '@alice:example.org' });
    homeserver.addToken('guest-token-77c1', { userId: '@guest:example.org', isGuest: true });
  });
  afterAll(() => homeserver.close());
  beforeEach(() => (homeserver.mode = 'normal'));

  it('the homeserver refusing a random token as unknown proves it answers whoami', async () => {
    const calls = homeserver.calls;
    expect(await section({ HOMESERVER_URL: homeserver.url })).toEqual({
      title: 'Token verification',
      checks: [
        {
          status: 'ok',
          what: 'the homeserver answers whoami',
          detail: `${homeserver.url}: a random token is refused as unknown (homeserver: M_UNKNOWN_TOKEN)`,
        },
      ],
    });
    expect(homeserver.calls).toBe(calls + 1);
  });

  it('a homeserver that is down fails, naming it and why', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const { checks } = await section({ HOMESERVER_URL: url });
    expect(checks).toEqual([
      {
        status: 'fail',
        what: 'the homeserver answers whoami',
        detail: 'homeserver unreachable (ECONNREFUSED)',
        cause:
          `the homeserver at ${url} does not answer: homeserver unreachable (ECONNREFUSED) ` +
          '(check HOMESERVER_URL, and that this host can reach it)',
      },
    ]);
  });

  it('a homeserver answering 500 or HTML fails the same way', async () => {
    for (const mode of ['error500', 'html'] as const) {
      homeserver.mode = mode;
      const [found] = (await section({ HOMESERVER_URL: homeserver.url })).checks;
      expect(found).toMatchObject({
        status: 'fail',
        cause: expect.stringMatching(new RegExp(`^the homeserver at ${homeserver.url} does not answer: `)),
      });
    }
  });

  it('a 200 that is not a whoami answer fails, as the homeserver answering nonsense', async () => {
    homeserver.mode = 'notWhoami200';
    const [found] = (await section({ HOMESERVER_URL: homeserver.url })).checks;
    expect(found).toMatchObject({ status: 'fail', detail: 'homeserver answered a 200 that is not a whoami answer' });
  });

  it('something that accepts a random token is not the homeserver', async () => {
    const everyone = await listen((_req, res) => json(res, 200, { user_id: '@anyone:example.org', is_guest: false }));
    try {
      const [found] = (await section({ HOMESERVER_URL: everyone.url })).checks;
      expect(found).toEqual({
        status: 'fail',
        what: 'the homeserver answers whoami',
        detail: 'a random token was accepted as @anyone:example.org',
        cause: `HOMESERVER_URL (${everyone.url}) may name something that accepts every token, not the homeserver`,
      });
    } finally {
      await everyone.close();
    }
  });

  it('--token: verified end to end, its user id printed and never the token', async () => {
    const found = await section({ HOMESERVER_URL: homeserver.url }, 'alice-token-5e2f');
    expect(found.checks[1]).toEqual({ status: 'ok', what: 'the token given with --token is verified', detail: 'user @alice:example.org' });
    expect(JSON.stringify(found)).not.toContain('alice-token-5e2f');
  });

  it('--token: an unknown token fails; a guest while guests are refused is a warning', async () => {
    const unknown = await section({ HOMESERVER_URL: homeserver.url }, 'nobody-has-this-token');
    expect(unknown.checks[1]).toMatchObject({ status: 'fail', detail: 'homeserver: M_UNKNOWN_TOKEN' });
    expect(JSON.stringify(unknown)).not.toContain('nobody-has-this-token');
    const guest = await section({ HOMESERVER_URL: homeserver.url, TURN_ALLOW_GUESTS: 'false' }, 'guest-token-77c1');
    expect(guest.checks[1]).toMatchObject({ status: 'warn', detail: 'user @guest:example.org (a guest)' });
  });
});

describe('introspection', () => {
  let endpoint: Listening;
  let reply: (res: ServerResponse) => void;
  beforeAll(async () => {
    endpoint = await listen((req, res) => {
      req.resume();
      req.on('end', () => reply(res));
    });
  });
  afterAll(() => endpoint.close());
  const env = () => ({
    AUTH_METHOD: 'introspection',
    INTROSPECTION_URL: `${endpoint.url}/oauth2/introspect`,
    INTROSPECTION_CLIENT_ID: 'turn-service',
    INTROSPECTION_CLIENT_SECRET: 'introspection-client-secret-31',
    SERVER_NAME: 'example.org',
  });

  it('a random token answered inactive proves the endpoint and our client authentication', async () => {
    reply = (res) => json(res, 200, { active: false });
    const [found] = (await section(env())).checks;
    expect(found).toEqual({
      status: 'ok',
      what: 'the OAuth server answers introspection and accepts our client credentials',
      detail: `${endpoint.url}/oauth2/introspect: a random token is refused as unknown (introspection: token not active)`,
    });
  });

  it('a 401 from it: the OAuth server refused our client credentials', async () => {
    reply = (res) => json(res, 401, { error: 'invalid_client' });
    const [found] = (await section(env())).checks;
    expect(found).toMatchObject({
      status: 'fail',
      cause:
        'the OAuth server refused our client credentials: INTROSPECTION_CLIENT_ID/SECRET ' +
        '(and INTROSPECTION_CLIENT_AUTH, how they are sent) are not a client it knows',
    });
    expect(JSON.stringify(found)).not.toContain('introspection-client-secret-31');
  });

  it('a 503 from it: the OAuth server does not answer', async () => {
    reply = (res) => json(res, 503, {});
    const [found] = (await section(env())).checks;
    expect(found!.cause).toMatch(new RegExp(`^the OAuth server at ${endpoint.url}/oauth2/introspect does not answer: `));
  });
});

describe('jwt and appservice', () => {
  const publicKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
  const jwk = publicKey.export({ format: 'jwk' });
  const jwt = { AUTH_METHOD: 'jwt', JWT_ISSUER: 'https://auth.example.org/', JWT_AUDIENCE: 'matrix', SERVER_NAME: 'example.org' };

  it('a JWKS is fetched and its keys counted; one that is not found or empty fails', async () => {
    let answer: [number, unknown] = [200, { keys: [jwk, { ...jwk, kid: 'second' }] }];
    const jwks = await listen((_req, res) => json(res, ...answer));
    try {
      const env = { ...jwt, JWT_JWKS_URL: `${jwks.url}/jwks.json` };
      expect((await section(env)).checks).toEqual([
        { status: 'ok', what: 'the JWKS endpoint serves keys', detail: `${jwks.url}/jwks.json: 2 keys` },
      ]);
      answer = [404, { error: 'not found' }];
      expect((await section(env)).checks[0]).toMatchObject({ status: 'fail', detail: 'HTTP 404' });
      answer = [200, { keys: [] }];
      expect((await section(env)).checks[0]).toMatchObject({ status: 'fail', cause: 'the key set is empty: no token can be verified' });
    } finally {
      await jwks.close();
    }
  });

  it('a static key has nothing to reach; nor has the appservice method, whose --token is the hs_token', async () => {
    const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
    expect((await section({ ...jwt, JWT_PUBLIC_KEY: pem })).checks).toEqual([
      { status: 'ok', what: 'JWT signatures are checked with JWT_PUBLIC_KEY', detail: 'a static key: nothing to reach' },
    ]);
    const appservice = { AUTH_METHOD: 'appservice', APPSERVICE_HS_TOKEN: 'hs-token-of-the-registration', SERVER_NAME: 'example.org' };
    expect((await section(appservice)).checks.map((c) => c.status)).toEqual(['ok']);
    expect((await section(appservice, 'hs-token-of-the-registration')).checks[1]).toMatchObject({ status: 'ok' });
    expect((await section(appservice, 'another-token')).checks[1]).toMatchObject({
      status: 'fail',
      detail: 'appservice: not the hs_token',
    });
  });
});
