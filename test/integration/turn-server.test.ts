// The service end to end in whoami mode: the real service in-process, asked over HTTP as a
// Matrix client asks it, with the stand-in homeserver behind it. Every row of DESIGN.md's
// answer table that applies to whoami mode, credentials on every path prefix, the token
// cache and single flight, the per-user limit on an injected clock, secret rotation by
// file, a Synapse-style YAML file, and the operational endpoints.

import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TURN_SERVER_PATHS } from '../../src/http/routes.js';
import { manualClock, type ManualClock } from '../helpers/clock.js';
import { startHomeserver, type HomeserverMode, type StandInHomeserver } from '../helpers/homeserver.js';
import { metricValue } from '../helpers/replicas.js';
import { TEST_SECRET, startTestService, type TestService } from '../helpers/service.js';
import { waitFor } from '../helpers/wait.js';

const START_MS = 1_700_000_000_000;
const URIS = ['turn:turn.example.org:3478?transport=udp', 'turns:turn.example.org:5349?transport=tcp'];
const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, PUT, DELETE, OPTIONS',
  'access-control-allow-headers': 'X-Requested-With, Content-Type, Authorization',
};

const hmac = (secret: string, username: string) => createHmac('sha1', secret).update(username).digest('base64');

interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

async function answer(pending: Promise<Response>): Promise<Answer> {
  const res = await pending;
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

function corsOf(headers: Headers): Record<string, string | null> {
  return Object.fromEntries(Object.keys(CORS).map((name) => [name, headers.get(name)]));
}

let homeserver: StandInHomeserver;
let tmp: string;
const running: TestService[] = [];

/** A service against the stand-in homeserver; stopped after all tests. */
async function service(env: Record<string, string | undefined> = {}, clock?: ManualClock): Promise<TestService> {
  const started = await startTestService(
    {
      HOMESERVER_URL: homeserver.url,
      // The per-address guard against token guessing is tested elsewhere; here it would
      // only get in the way of the many unknown tokens these tests present.
      UNKNOWN_TOKEN_RATE_LIMIT_BURST: '100000',
      LOG_LEVEL: 'info',
      ...env,
    },
    clock ? { clock } : {},
  );
  running.push(started);
  return started;
}

beforeAll(async () => {
  homeserver = await startHomeserver();
  homeserver.addToken('alice-token', { userId: '@alice:example.org' });
  homeserver.addToken('guest-token', { userId: '@guest42:example.org', isGuest: true });
  homeserver.addToken('expired-token', { userId: '@bob:example.org', expired: true });
  tmp = mkdtempSync(join(tmpdir(), 'mtc-turn-server-'));
});
afterAll(async () => {
  await Promise.all(running.map((s) => s.stop()));
  await homeserver.close();
  rmSync(tmp, { recursive: true, force: true });
});
beforeEach(() => {
  homeserver.mode = 'normal';
  homeserver.delayMs = 0;
});

describe('credentials', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await service({}, manualClock(START_MS));
  });

  it.each(TURN_SERVER_PATHS)('GET %s: "<expiry>:<user id>", HMAC-SHA1 of the shared secret, the URIs, the TTL', async (path) => {
    const res = await answer(svc.turnServer('alice-token', { path }));
    expect(res.status).toBe(200);
    const username = `${START_MS / 1000 + 3600}:@alice:example.org`;
    expect(res.body).toEqual({ username, password: hmac(TEST_SECRET, username), uris: URIS, ttl: 3600 });
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('takes the token from the access_token query parameter too', async () => {
    const res = await answer(fetch(`${svc.url}/_matrix/client/v3/voip/turnServer?access_token=alice-token`));
    expect(res.status).toBe(200);
    expect(res.body.username).toBe(`${START_MS / 1000 + 3600}:@alice:example.org`);
  });

  it('gives guests credentials while TURN_ALLOW_GUESTS is true (the default)', async () => {
    const res = await answer(svc.turnServer('guest-token'));
    expect(res.status).toBe(200);
    expect(res.body.username).toBe(`${START_MS / 1000 + 3600}:@guest42:example.org`);
  });

  it('signs with the first of several shared secrets, and honours TURN_TTL', async () => {
    const rotating = await service({ TURN_SHARED_SECRET: 'new-secret,old-secret', TURN_TTL: '600' }, manualClock(START_MS));
    const res = await answer(rotating.turnServer('alice-token'));
    const username = `${START_MS / 1000 + 600}:@alice:example.org`;
    expect(res.body).toEqual({ username, password: hmac('new-secret', username), uris: URIS, ttl: 600 });
  });

  it('hands out the static TURN_USERNAME / TURN_PASSWORD instead when configured so', async () => {
    const fixed = await service({ TURN_SHARED_SECRET: undefined, TURN_USERNAME: 'turn-user', TURN_PASSWORD: 'turn-pass' });
    const res = await answer(fixed.turnServer('alice-token'));
    expect(res.body).toEqual({ username: 'turn-user', password: 'turn-pass', uris: URIS, ttl: 3600 });
  });
});

describe("DESIGN.md's answer table, whoami mode", () => {
  let svc: TestService;
  let guestsRefused: TestService;
  beforeAll(async () => {
    // No cache, so every request reaches the homeserver in the mode the test set; a
    // breaker that never opens, so each failure is answered as itself.
    svc = await service({ TOKEN_CACHE_TTL: '0', UPSTREAM_BREAKER_FAILURES: '10000', RATE_LIMIT_BURST: '100000' });
    guestsRefused = await service({ TURN_ALLOW_GUESTS: 'false' });
  });

  it('no token: 401 M_MISSING_TOKEN', async () => {
    const res = await answer(svc.turnServer());
    expect(res).toMatchObject({ status: 401, body: { errcode: 'M_MISSING_TOKEN' } });
    expect(corsOf(res.headers)).toEqual(CORS);
  });

  it('token unknown: 401 M_UNKNOWN_TOKEN, soft_logout false', async () => {
    const res = await answer(svc.turnServer('never-issued'));
    expect(res).toMatchObject({ status: 401, body: { errcode: 'M_UNKNOWN_TOKEN', soft_logout: false } });
    expect(corsOf(res.headers)).toEqual(CORS);
  });

  it('token expired: 401 M_UNKNOWN_TOKEN with the soft_logout the homeserver gave', async () => {
    expect(await answer(svc.turnServer('expired-token'))).toMatchObject({
      status: 401,
      body: { errcode: 'M_UNKNOWN_TOKEN', soft_logout: true },
    });
  });

  it('token revoked: 401 M_UNKNOWN_TOKEN from then on', async () => {
    homeserver.addToken('soon-revoked', { userId: '@dave:example.org' });
    expect((await answer(svc.turnServer('soon-revoked'))).status).toBe(200);
    homeserver.revoke('soon-revoked');
    expect(await answer(svc.turnServer('soon-revoked'))).toMatchObject({ status: 401, body: { errcode: 'M_UNKNOWN_TOKEN' } });
  });

  it('token forged: 401 M_UNKNOWN_TOKEN; one no issuer could mint is refused without asking the homeserver', async () => {
    expect(await answer(svc.turnServer('syt_YWxpY2U_forgedforgedforged_0abcde'))).toMatchObject({
      status: 401,
      body: { errcode: 'M_UNKNOWN_TOKEN' },
    });
    const callsBefore = homeserver.calls;
    const impossible = await answer(
      fetch(`${svc.url}/_matrix/client/v3/voip/turnServer?access_token=${encodeURIComponent('tök\u0001en')}`),
    );
    expect(impossible).toMatchObject({ status: 401, body: { errcode: 'M_UNKNOWN_TOKEN' } });
    expect(homeserver.calls).toBe(callsBefore);
  });

  it('guest while guests are refused: 403 M_GUEST_ACCESS_FORBIDDEN, as Synapse', async () => {
    const res = await answer(guestsRefused.turnServer('guest-token'));
    expect(res).toEqual(
      expect.objectContaining({ status: 403, body: { errcode: 'M_GUEST_ACCESS_FORBIDDEN', error: 'Guest access not allowed' } }),
    );
    expect(corsOf(res.headers)).toEqual(CORS);
    expect((await answer(guestsRefused.turnServer('alice-token'))).status).toBe(200);
  });

  it('token in both the header and the query string: 401 M_MISSING_TOKEN, as Synapse', async () => {
    const res = await answer(
      fetch(`${svc.url}/_matrix/client/v3/voip/turnServer?access_token=alice-token`, { headers: { authorization: 'Bearer alice-token' } }),
    );
    expect(res).toMatchObject({
      status: 401,
      body: { errcode: 'M_MISSING_TOKEN', error: 'Mixing Authorization headers and access_token query parameters.' },
    });
  });

  it('a malformed Authorization header: 401 M_MISSING_TOKEN, as Synapse', async () => {
    const res = await answer(
      fetch(`${svc.url}/_matrix/client/v3/voip/turnServer`, { headers: { authorization: 'Basic YWxpY2U6cGFzcw==' } }),
    );
    expect(res).toMatchObject({ status: 401, body: { errcode: 'M_MISSING_TOKEN' } });
  });

  describe('homeserver unreachable, slow or answering nonsense: 5xx M_UNKNOWN, never M_UNKNOWN_TOKEN', () => {
    it.each([
      ['answers 500', 'error500', 502],
      ['answers an HTML error page', 'html', 502],
      ['answers 200 with HTML', 'garbage200', 502],
      ['answers 200 with JSON that is not a whoami answer', 'notWhoami200', 502],
      ['sits behind a proxy that drops the Authorization header', 'stripsAuthorization', 502],
      ['answers 429 itself', 'rateLimited', 503],
    ] as [string, HomeserverMode, number][])('homeserver %s (%s) → %i', async (_what, mode, status) => {
      homeserver.mode = mode;
      const res = await answer(svc.turnServer('alice-token'));
      expect(res.status).toBe(status);
      expect(res.body.errcode).toBe('M_UNKNOWN');
      expect(typeof res.body.error).toBe('string');
      expect(corsOf(res.headers)).toEqual(CORS);
    });

    it('homeserver hanging → 504 once UPSTREAM_TIMEOUT_MS (300) has passed', async () => {
      // Only here is the timeout short: elsewhere a loaded machine may be slow to answer.
      const impatient = await service({ TOKEN_CACHE_TTL: '0', UPSTREAM_TIMEOUT_MS: '300' });
      homeserver.mode = 'hang';
      const res = await answer(impatient.turnServer('alice-token'));
      expect(res).toMatchObject({ status: 504, body: { errcode: 'M_UNKNOWN', error: 'Timed out verifying the access token' } });
      expect(corsOf(res.headers)).toEqual(CORS);
    });

    it('homeserver refusing connections (the stand-in stopped) → 502', async () => {
      const doomed = await startHomeserver();
      doomed.addToken('alice-token', { userId: '@alice:example.org' });
      const orphaned = await service({ HOMESERVER_URL: doomed.url });
      expect((await answer(orphaned.turnServer('alice-token'))).status).toBe(200);
      await doomed.close();
      const res = await answer(orphaned.turnServer('another-token'));
      expect(res).toMatchObject({ status: 502, body: { errcode: 'M_UNKNOWN' } });
    });

    it('says in the log what went wrong, and recovers by itself', async () => {
      homeserver.mode = 'error500';
      await svc.turnServer('alice-token');
      expect(svc.logs.entries().some((e) => e.level === 'warn' && String(e.detail).includes('HTTP 500'))).toBe(true);
      homeserver.mode = 'normal';
      expect((await answer(svc.turnServer('alice-token'))).status).toBe(200);
    });
  });

  it('unknown path: 404 M_UNRECOGNIZED', async () => {
    const res = await answer(fetch(`${svc.url}/_matrix/client/v3/voip/turnServers`));
    expect(res).toMatchObject({ status: 404, body: { errcode: 'M_UNRECOGNIZED' } });
    expect(corsOf(res.headers)).toEqual(CORS);
  });

  it.each(['POST', 'PUT', 'DELETE', 'PATCH', 'PROPFIND'])('%s on the endpoint: 405 M_UNRECOGNIZED', async (method) => {
    const res = await answer(
      fetch(`${svc.url}/_matrix/client/v3/voip/turnServer`, { method, headers: { authorization: 'Bearer alice-token' } }),
    );
    expect(res).toMatchObject({ status: 405, body: { errcode: 'M_UNRECOGNIZED' } });
    expect(corsOf(res.headers)).toEqual(CORS);
  });
});

describe('CORS preflight', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await service();
  });

  it.each(TURN_SERVER_PATHS)('OPTIONS %s: 200 {} with the Matrix CORS headers, no token needed', async (path) => {
    const callsBefore = homeserver.calls;
    const res = await answer(
      fetch(`${svc.url}${path}`, {
        method: 'OPTIONS',
        headers: {
          origin: 'https://app.element.io',
          'access-control-request-method': 'GET',
          'access-control-request-headers': 'authorization',
        },
      }),
    );
    expect(res.status).toBe(200);
    expect(res.body).toEqual({});
    expect(corsOf(res.headers)).toEqual(CORS);
    expect(homeserver.calls).toBe(callsBefore);
  });
});

describe('the token cache', () => {
  let svc: TestService;
  let clock: ManualClock;
  beforeAll(async () => {
    clock = manualClock(START_MS);
    svc = await service({ TOKEN_CACHE_TTL: '60', TOKEN_CACHE_NEGATIVE_TTL: '10', RATE_LIMIT_BURST: '100000' }, clock);
  });

  it('asks the homeserver once per token per TOKEN_CACHE_TTL', async () => {
    homeserver.addToken('cached-token', { userId: '@erin:example.org' });
    const callsBefore = homeserver.calls;
    for (let i = 0; i < 5; i += 1) expect((await svc.turnServer('cached-token')).status).toBe(200);
    expect(homeserver.calls - callsBefore).toBe(1);
    clock.advance(60_000);
    expect((await svc.turnServer('cached-token')).status).toBe(200);
    expect(homeserver.calls - callsBefore).toBe(1);
    clock.advance(1);
    expect((await svc.turnServer('cached-token')).status).toBe(200);
    expect(homeserver.calls - callsBefore).toBe(2);
  });

  it('keeps a refusal for TOKEN_CACHE_NEGATIVE_TTL only', async () => {
    const callsBefore = homeserver.calls;
    expect((await svc.turnServer('not-yet-valid')).status).toBe(401);
    expect((await svc.turnServer('not-yet-valid')).status).toBe(401);
    expect(homeserver.calls - callsBefore).toBe(1);
    homeserver.addToken('not-yet-valid', { userId: '@frank:example.org' });
    clock.advance(10_001);
    expect((await svc.turnServer('not-yet-valid')).status).toBe(200);
    expect(homeserver.calls - callsBefore).toBe(2);
  });

  it('never keeps an upstream failure', async () => {
    homeserver.addToken('flaky-token', { userId: '@gina:example.org' });
    const callsBefore = homeserver.calls;
    homeserver.mode = 'error500';
    expect((await svc.turnServer('flaky-token')).status).toBe(502);
    homeserver.mode = 'normal';
    expect((await svc.turnServer('flaky-token')).status).toBe(200);
    expect(homeserver.calls - callsBefore).toBe(2);
  });

  it('single flight: N concurrent requests with one new token make exactly one whoami call', async () => {
    homeserver.addToken('brand-new-token', { userId: '@hank:example.org' });
    homeserver.delayMs = 300;
    const callsBefore = homeserver.calls;
    const cacheBefore = await svc.metrics();
    const answers = await Promise.all(Array.from({ length: 30 }, () => answer(svc.turnServer('brand-new-token'))));
    expect(answers.map((a) => a.status)).toEqual(Array(30).fill(200));
    expect(new Set(answers.map((a) => a.body.username))).toEqual(new Set([`${Math.floor(clock.nowMs() / 1000) + 3600}:@hank:example.org`]));
    expect(homeserver.calls - callsBefore).toBe(1);
    // One miss; the rest waited on it, or (on a slow machine) arrived after it and hit.
    const cacheAfter = await svc.metrics();
    const delta = (result: string) =>
      (metricValue(cacheAfter, 'matrix_turn_token_cache_requests_total', { result }) ?? 0) -
      (metricValue(cacheBefore, 'matrix_turn_token_cache_requests_total', { result }) ?? 0);
    expect(delta('miss')).toBe(1);
    expect(delta('coalesced')).toBeGreaterThanOrEqual(1);
    expect(delta('coalesced') + delta('hit')).toBe(29);
  });

  it('holds at most TOKEN_CACHE_SIZE tokens', async () => {
    const small = await service({ TOKEN_CACHE_SIZE: '1' });
    homeserver.addToken('size-a', { userId: '@ivy:example.org' });
    homeserver.addToken('size-b', { userId: '@jack:example.org' });
    const callsBefore = homeserver.calls;
    for (const token of ['size-a', 'size-a', 'size-b', 'size-a']) expect((await small.turnServer(token)).status).toBe(200);
    expect(homeserver.calls - callsBefore).toBe(3);
  });
});

describe('the per-user rate limit (in-process), on an injected clock', () => {
  let svc: TestService;
  let clock: ManualClock;
  beforeAll(async () => {
    clock = manualClock(START_MS);
    homeserver.addToken('limited-token', { userId: '@kim:example.org' });
    homeserver.addToken('other-token', { userId: '@lee:example.org' });
    homeserver.addToken('bot-token', { userId: '@bot:example.org' });
    svc = await service({ RATE_LIMIT_BURST: '3', RATE_LIMIT_PER_SECOND: '0.5', RATE_LIMIT_EXEMPT_USERS: '@bot:example.org' }, clock);
  });

  it(
    'burst 3 at 0.5/s: the fourth request is 429 M_LIMIT_EXCEEDED, retry_after_ms 2000, Retry-After 2; ' + 'allowed again 2 s later',
    async () => {
      for (let i = 0; i < 3; i += 1) expect((await svc.turnServer('limited-token')).status).toBe(200);
      const denied = await answer(svc.turnServer('limited-token'));
      expect(denied.status).toBe(429);
      expect(denied.body).toEqual({ errcode: 'M_LIMIT_EXCEEDED', error: 'Too Many Requests', retry_after_ms: 2000 });
      expect(denied.headers.get('retry-after')).toBe('2');
      expect(corsOf(denied.headers)).toEqual(CORS);

      clock.advance(1500);
      const later = await answer(svc.turnServer('limited-token'));
      expect(later.body).toMatchObject({ retry_after_ms: 500 });
      expect(later.headers.get('retry-after')).toBe('1');

      clock.advance(500);
      expect((await svc.turnServer('limited-token')).status).toBe(200);
    },
  );

  it('limits each user on their own', async () => {
    expect((await svc.turnServer('other-token')).status).toBe(200);
  });

  it('never limits an exempt user', async () => {
    for (let i = 0; i < 20; i += 1) expect((await svc.turnServer('bot-token')).status).toBe(200);
  });

  it('counts refusals in matrix_turn_rate_limited_total{scope="user"}', async () => {
    expect(metricValue(await svc.metrics(), 'matrix_turn_rate_limited_total', { scope: 'user' })).toBe(2);
  });
});

describe('a shared secret given as a file (TURN_SHARED_SECRET_FILE)', () => {
  it('is re-read when the file changes: new credentials verify against the new secret', async () => {
    const secretFile = join(tmp, 'turn-secret');
    writeFileSync(secretFile, 'first-file-secret\n');
    homeserver.addToken('rotation-token', { userId: '@mia:example.org' });
    const svc = await service({
      TURN_SHARED_SECRET: undefined,
      TURN_SHARED_SECRET_FILE: secretFile,
      RATE_LIMIT_EXEMPT_USERS: '@mia:example.org',
    });
    const before = await answer(svc.turnServer('rotation-token'));
    expect(before.body.password).toBe(hmac('first-file-secret', String(before.body.username)));

    writeFileSync(secretFile, 'second-file-secret,first-file-secret\n');
    await waitFor(
      async () => {
        const now = await answer(svc.turnServer('rotation-token'));
        return now.body.password === hmac('second-file-secret', String(now.body.username));
      },
      { intervalMs: 100, what: 'credentials signed with the rotated secret' },
    );
    expect(svc.logs.text()).not.toContain('second-file-secret');
  });
});

describe('a Synapse-style YAML file (CONFIG_FILE)', () => {
  it('serves with the turn_* keys pasted from homeserver.yaml', async () => {
    const configFile = join(tmp, 'config.yaml');
    writeFileSync(
      configFile,
      [
        `homeserver_url: ${homeserver.url}`,
        'turn_uris: [ "turn:turn.example.com:3478?transport=udp", "turn:turn.example.com:3478?transport=tcp" ]',
        'turn_shared_secret: "n0t4ctuAllymatr1Xd0TorgSshar3d5ecret4obvIousreAsons"',
        'turn_user_lifetime: 1h',
        'turn_allow_guests: false',
      ].join('\n'),
    );
    const svc = await service(
      { CONFIG_FILE: configFile, HOMESERVER_URL: undefined, TURN_URIS: undefined, TURN_SHARED_SECRET: undefined },
      manualClock(START_MS),
    );
    const res = await answer(svc.turnServer('alice-token'));
    const username = `${START_MS / 1000 + 3600}:@alice:example.org`;
    expect(res.body).toEqual({
      username,
      password: hmac('n0t4ctuAllymatr1Xd0TorgSshar3d5ecret4obvIousreAsons', username),
      uris: ['turn:turn.example.com:3478?transport=udp', 'turn:turn.example.com:3478?transport=tcp'],
      ttl: 3600,
    });
    expect((await answer(svc.turnServer('guest-token'))).status).toBe(403);
  });
});

describe('operations', () => {
  let svc: TestService;
  beforeAll(async () => {
    homeserver.addToken('ops-token', { userId: '@nia:example.org' });
    svc = await service();
  });

  it('/healthz: alive', async () => {
    expect(await answer(fetch(`${svc.url}/healthz`))).toMatchObject({ status: 200, body: { status: 'alive' } });
  });

  it('/readyz: ready, with the in-process limiter in force', async () => {
    const res = await answer(fetch(`${svc.url}/readyz`));
    expect(res).toMatchObject({ status: 200, body: { ready: true, status: 'ready' } });
  });

  it('/metrics is not on the public port', async () => {
    expect(await answer(fetch(`${svc.url}/metrics`))).toMatchObject({ status: 404, body: { errcode: 'M_UNRECOGNIZED' } });
  });

  it('/metrics on METRICS_PORT moves with what the service does, and serves nothing else there', async () => {
    const before = await svc.metrics();
    expect(metricValue(before, 'matrix_turn_credentials_issued_total')).toBe(0);
    expect((await svc.turnServer('ops-token')).status).toBe(200);
    expect((await svc.turnServer('ops-token')).status).toBe(200);
    expect((await svc.turnServer('ops-unknown')).status).toBe(401);
    const after = await svc.metrics();
    expect(metricValue(after, 'matrix_turn_credentials_issued_total')).toBe(2);
    expect(metricValue(after, 'matrix_turn_token_verifications_total', { method: 'whoami', result: 'valid' })).toBe(1);
    expect(metricValue(after, 'matrix_turn_token_verifications_total', { method: 'whoami', result: 'invalid' })).toBe(1);
    expect(metricValue(after, 'matrix_turn_token_cache_requests_total', { result: 'hit' })).toBe(1);
    expect(metricValue(after, 'matrix_turn_token_cache_requests_total', { result: 'miss' })).toBe(2);
    expect(
      metricValue(after, 'matrix_turn_http_request_duration_seconds_count', {
        route: '/_matrix/client/v3/voip/turnServer',
        method: 'GET',
        status: '200',
      }),
    ).toBe(2);
    expect(
      metricValue(after, 'matrix_turn_http_request_duration_seconds_count', {
        route: '/_matrix/client/v3/voip/turnServer',
        method: 'GET',
        status: '401',
      }),
    ).toBe(1);
    expect(metricValue(after, 'matrix_turn_upstream_request_duration_seconds_count', { upstream: 'homeserver', outcome: 'response' })).toBe(
      2,
    );
    const elsewhere = await fetch(svc.metricsUrl.replace(/\/metrics$/, '/healthz'));
    expect(elsewhere.status).toBe(404);
    await elsewhere.arrayBuffer();
  });
});
