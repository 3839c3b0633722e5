import { Registry } from 'prom-client';
import { createUpstream, type Upstream } from '../../../src/auth/upstream.js';
import { whoamiVerifier } from '../../../src/auth/whoami.js';
import type { TokenVerifier } from '../../../src/auth/types.js';
import { createLogger } from '../../../src/logger.js';
import { createMetrics, type Metrics } from '../../../src/metrics.js';
import { startHomeserver, type StandInHomeserver } from '../../helpers/homeserver.js';
import { captureLogs } from '../../helpers/logs.js';
import { refusal } from '../../helpers/refusal.js';

// Generous for the answers a loaded machine may be slow to give; short where waiting out
// a hanging homeserver is the point.
const TIMEOUT_MS = 10_000;
const SHORT_TIMEOUT_MS = 300;

let homeserver: StandInHomeserver;
let metrics: Metrics;
let upstream: Upstream;
let verifier: TokenVerifier;

beforeAll(async () => {
  homeserver = await startHomeserver();
  homeserver.addToken('alice-token', { userId: '@alice:example.org' });
  homeserver.addToken('guest-token', { userId: '@guest123:example.org', isGuest: true });
  homeserver.addToken('expired-token', { userId: '@bob:example.org', expired: true });
  homeserver.addToken('locked-token', { userId: '@carol:example.org', locked: true });
});
afterAll(() => homeserver.close());

beforeEach(() => {
  homeserver.mode = 'normal';
  homeserver.calls = 0;
  metrics = createMetrics(new Registry(), { defaultMetrics: false });
  // A breaker that never opens here: these tests are about single answers.
  upstream = createUpstream({
    name: 'homeserver',
    timeoutMs: TIMEOUT_MS,
    metrics,
    logger: createLogger('silent', captureLogs().stream),
    breakerFailureThreshold: 1000,
  });
  verifier = whoamiVerifier({ homeserverUrl: homeserver.url, upstream });
});
afterEach(() => upstream.close());

/** What the client would see of the verification of `token`. */
const refusalOf = (token: string) => refusal(verifier.verify(token, {}));

describe("the homeserver's answer about the token", () => {
  it('a known token is its user, asked once at /_matrix/client/v3/account/whoami', async () => {
    await expect(verifier.verify('alice-token', {})).resolves.toEqual({ userId: '@alice:example.org', isGuest: false });
    expect(homeserver.calls).toBe(1);
  });

  it('a guest token is marked as a guest', async () => {
    await expect(verifier.verify('guest-token', {})).resolves.toEqual({ userId: '@guest123:example.org', isGuest: true });
  });

  it('an unknown token is 401 M_UNKNOWN_TOKEN, not a soft logout', async () => {
    const answer = await refusalOf('nobody-has-this');
    expect(answer.status).toBe(401);
    expect(answer.body).toEqual({ errcode: 'M_UNKNOWN_TOKEN', error: 'Unrecognised access token', soft_logout: false });
    expect(answer.headers).toEqual({});
  });

  it('an expired token keeps the soft_logout the homeserver gave', async () => {
    expect(await refusalOf('expired-token')).toMatchObject({ status: 401, body: { errcode: 'M_UNKNOWN_TOKEN', soft_logout: true } });
  });

  it('a locked account is passed on as the homeserver said it', async () => {
    expect(await refusalOf('locked-token')).toMatchObject({ status: 401, body: { errcode: 'M_USER_LOCKED', soft_logout: true } });
  });
});

describe('a homeserver that is unwell: 5xx M_UNKNOWN, never M_UNKNOWN_TOKEN', () => {
  it.each([
    ['answers 500', 'error500', 502],
    ['answers an HTML error page', 'html', 502],
    ['answers 200 with HTML', 'garbage200', 502],
    ['answers 200 with JSON that is not a whoami answer', 'notWhoami200', 502],
    ['answers 429', 'rateLimited', 503],
    ['loses the Authorization header on the way (M_MISSING_TOKEN)', 'stripsAuthorization', 502],
  ] as const)('%s (%s) → %i', async (_what, mode, status) => {
    homeserver.mode = mode;
    const answer = await refusalOf('alice-token');
    expect(answer.status).toBe(status);
    expect(answer.body.errcode).toBe('M_UNKNOWN');
    expect(homeserver.calls).toBe(1);
  });

  it('asks clients to come back soon when the homeserver is rate limiting us', async () => {
    homeserver.mode = 'rateLimited';
    expect((await refusalOf('alice-token')).headers).toEqual({ 'Retry-After': '1' });
  });

  it('hangs → 504 once UPSTREAM_TIMEOUT_MS has passed', async () => {
    homeserver.mode = 'hang';
    const impatient = createUpstream({
      name: 'homeserver',
      timeoutMs: SHORT_TIMEOUT_MS,
      metrics,
      logger: createLogger('silent', captureLogs().stream),
    });
    try {
      const startedMs = Date.now();
      const answer = await refusal(whoamiVerifier({ homeserverUrl: homeserver.url, upstream: impatient }).verify('alice-token', {}));
      const tookMs = Date.now() - startedMs;
      expect(answer).toMatchObject({ status: 504, body: { errcode: 'M_UNKNOWN', error: 'Timed out verifying the access token' } });
      expect(tookMs).toBeGreaterThanOrEqual(SHORT_TIMEOUT_MS - 20);
      // Bounded by the timeout, not by the homeserver: generous for a loaded machine.
      expect(tookMs).toBeLessThan(SHORT_TIMEOUT_MS + 5000);
    } finally {
      await impatient.close();
    }
  });

  it('refuses connections → 502', async () => {
    const gone = await startHomeserver();
    const url = gone.url;
    await gone.close();
    const orphan = whoamiVerifier({ homeserverUrl: url, upstream });
    await expect(orphan.verify('alice-token', {})).rejects.toMatchObject({ status: 502, errcode: 'M_UNKNOWN' });
  });

  it('records the duration of every call by outcome', async () => {
    await verifier.verify('alice-token', {});
    homeserver.mode = 'error500';
    await refusalOf('alice-token');
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/matrix_turn_upstream_request_duration_seconds_count\{upstream="homeserver",outcome="response"\} 1/);
    expect(text).toMatch(/matrix_turn_upstream_request_duration_seconds_count\{upstream="homeserver",outcome="server_error"\} 1/);
  });
});

describe('a HOMESERVER_URL that points at the wrong place', () => {
  it('answering 404 M_UNRECOGNIZED is a 502, not a bad token', async () => {
    // The stand-in serves whoami only without a path prefix, so this one is never counted.
    const misplaced = whoamiVerifier({ homeserverUrl: `${homeserver.url}/matrix`, upstream });
    await expect(misplaced.verify('alice-token', {})).rejects.toMatchObject({ status: 502, errcode: 'M_UNKNOWN' });
    expect(homeserver.calls).toBe(0);
  });
});
