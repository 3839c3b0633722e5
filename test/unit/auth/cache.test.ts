import { Registry } from 'prom-client';
import { tokenCache } from '../../../src/auth/cache.js';
import { tokenHash } from '../../../src/auth/token-hash.js';
import type { Identity, RequestFacts, TokenCache, TokenVerifier } from '../../../src/auth/types.js';
import { createUpstream, type Upstream } from '../../../src/auth/upstream.js';
import { whoamiVerifier } from '../../../src/auth/whoami.js';
import { createLogger } from '../../../src/logger.js';
import { createMetrics, type Metrics } from '../../../src/metrics.js';
import { manualClock, type ManualClock } from '../../helpers/clock.js';
import { startHomeserver, type StandInHomeserver } from '../../helpers/homeserver.js';
import { captureLogs } from '../../helpers/logs.js';

const TTL_SECONDS = 60;
const NEGATIVE_TTL_SECONDS = 10;

let homeserver: StandInHomeserver;
let clock: ManualClock;
let metrics: Metrics;
let upstream: Upstream;

beforeAll(async () => {
  homeserver = await startHomeserver();
});
afterAll(() => homeserver.close());

beforeEach(() => {
  homeserver.mode = 'normal';
  homeserver.calls = 0;
  homeserver.delayMs = 0;
  homeserver.tokens.clear();
  homeserver.addToken('alice-token', { userId: '@alice:example.org' });
  homeserver.addToken('bob-token', { userId: '@bob:example.org' });
  homeserver.addToken('carol-token', { userId: '@carol:example.org' });
  clock = manualClock();
  metrics = createMetrics(new Registry(), { defaultMetrics: false });
  upstream = createUpstream({
    name: 'homeserver',
    timeoutMs: 5000,
    metrics,
    logger: createLogger('silent', captureLogs().stream),
    breakerFailureThreshold: 1000,
  });
});
afterEach(() => upstream.close());

/** The cache, asked as the route asks it: with the token's hash computed once per request. */
interface AskedCache {
  peek(token: string): Identity | undefined;
  verify(token: string, facts: RequestFacts): Promise<Identity>;
}

function cached(options: { ttlSeconds?: number; negativeTtlSeconds?: number; size?: number; inner?: TokenVerifier } = {}): AskedCache {
  const cache: TokenCache = tokenCache(options.inner ?? whoamiVerifier({ homeserverUrl: homeserver.url, upstream }), {
    ttlSeconds: options.ttlSeconds ?? TTL_SECONDS,
    negativeTtlSeconds: options.negativeTtlSeconds ?? NEGATIVE_TTL_SECONDS,
    size: options.size ?? 1000,
    clock,
    metrics,
  });
  return {
    peek: (token) => cache.peek(tokenHash(token)),
    verify: (token, facts) => cache.verify(token, tokenHash(token), facts),
  };
}

async function cacheCounts(): Promise<Record<string, number>> {
  const metric = await metrics.tokenCacheRequests.get();
  return Object.fromEntries(metric.values.map((v) => [String(v.labels.result), v.value]));
}

describe('peek: the synchronous look-up the request path tries first', () => {
  it('gives the identity of a verified token, counted as a hit, and nothing for a token not yet verified', async () => {
    const verifier = cached();
    expect(verifier.peek('alice-token')).toBeUndefined();
    await verifier.verify('alice-token', {});
    expect(verifier.peek('alice-token')).toMatchObject({ userId: '@alice:example.org' });
    expect(homeserver.calls).toBe(1);
    expect(await cacheCounts()).toMatchObject({ miss: 1, hit: 1 });
  });

  it('gives nothing for a refused token (verify() answers it from the cache) or an expired answer', async () => {
    const verifier = cached();
    await expect(verifier.verify('unknown-token', {})).rejects.toMatchObject({ status: 401 });
    expect(verifier.peek('unknown-token')).toBeUndefined();
    await verifier.verify('alice-token', {});
    clock.advance(TTL_SECONDS * 1000 + 1);
    expect(verifier.peek('alice-token')).toBeUndefined();
  });
});

describe('answers about valid tokens', () => {
  it('are kept: the second request does not reach the homeserver', async () => {
    const verifier = cached();
    await expect(verifier.verify('alice-token', {})).resolves.toMatchObject({ userId: '@alice:example.org' });
    await expect(verifier.verify('alice-token', {})).resolves.toMatchObject({ userId: '@alice:example.org' });
    expect(homeserver.calls).toBe(1);
    expect(await cacheCounts()).toMatchObject({ miss: 1, hit: 1 });
  });

  it('are kept for TOKEN_CACHE_TTL and no longer', async () => {
    const verifier = cached();
    await verifier.verify('alice-token', {});
    clock.advance(TTL_SECONDS * 1000);
    await verifier.verify('alice-token', {});
    expect(homeserver.calls).toBe(1);
    clock.advance(1);
    await verifier.verify('alice-token', {});
    expect(homeserver.calls).toBe(2);
  });

  it('so a revoked token keeps working until its answer expires, then is refused', async () => {
    const verifier = cached();
    await verifier.verify('alice-token', {});
    homeserver.revoke('alice-token');
    await expect(verifier.verify('alice-token', {})).resolves.toMatchObject({ userId: '@alice:example.org' });
    clock.advance(TTL_SECONDS * 1000 + 1);
    await expect(verifier.verify('alice-token', {})).rejects.toMatchObject({ status: 401, errcode: 'M_UNKNOWN_TOKEN' });
  });

  it('are not kept at all with TOKEN_CACHE_TTL 0', async () => {
    const verifier = cached({ ttlSeconds: 0, negativeTtlSeconds: 0 });
    await verifier.verify('alice-token', {});
    await verifier.verify('alice-token', {});
    expect(homeserver.calls).toBe(2);
  });

  it("are never kept past the token's own expiry", async () => {
    const expiresAtMs = clock.nowMs() + 5000;
    let innerCalls = 0;
    // A verifier that knows when its tokens expire, as the JWT and introspection ones do.
    const expiring: TokenVerifier = {
      method: 'expiring',
      async verify(): Promise<Identity> {
        innerCalls += 1;
        return { userId: '@alice:example.org', isGuest: false, expiresAtMs };
      },
    };
    const verifier = cached({ inner: expiring });
    await verifier.verify('jwt-like', {});
    clock.advance(4999);
    await verifier.verify('jwt-like', {});
    expect(innerCalls).toBe(1);
    clock.advance(1);
    await verifier.verify('jwt-like', {});
    expect(innerCalls).toBe(2);
  });

  it('are kept per token, not per user', async () => {
    homeserver.addToken('alice-second-device', { userId: '@alice:example.org' });
    const verifier = cached();
    await verifier.verify('alice-token', {});
    await verifier.verify('alice-second-device', {});
    expect(homeserver.calls).toBe(2);
  });
});

describe('refusals', () => {
  it('are kept for the shorter TOKEN_CACHE_NEGATIVE_TTL', async () => {
    const verifier = cached();
    await expect(verifier.verify('unknown-token', {})).rejects.toMatchObject({ status: 401, errcode: 'M_UNKNOWN_TOKEN' });
    clock.advance(NEGATIVE_TTL_SECONDS * 1000);
    await expect(verifier.verify('unknown-token', {})).rejects.toMatchObject({ status: 401, errcode: 'M_UNKNOWN_TOKEN' });
    expect(homeserver.calls).toBe(1);
    clock.advance(1);
    homeserver.addToken('unknown-token', { userId: '@late:example.org' });
    await expect(verifier.verify('unknown-token', {})).resolves.toMatchObject({ userId: '@late:example.org' });
    expect(homeserver.calls).toBe(2);
  });

  it('keep what the homeserver said, soft_logout included', async () => {
    homeserver.addToken('expired-token', { userId: '@bob:example.org', expired: true });
    const verifier = cached();
    await expect(verifier.verify('expired-token', {})).rejects.toMatchObject({ status: 401 });
    await expect(verifier.verify('expired-token', {})).rejects.toMatchObject({ errcode: 'M_UNKNOWN_TOKEN', extra: { soft_logout: true } });
    expect(homeserver.calls).toBe(1);
  });
});

describe('upstream failures', () => {
  it.each(['error500', 'html', 'rateLimited'] as const)('(%s) are not kept: the next request asks again', async (mode) => {
    const verifier = cached();
    homeserver.mode = mode;
    await expect(verifier.verify('alice-token', {})).rejects.toMatchObject({ errcode: 'M_UNKNOWN' });
    homeserver.mode = 'normal';
    await expect(verifier.verify('alice-token', {})).resolves.toMatchObject({ userId: '@alice:example.org' });
    expect(homeserver.calls).toBe(2);
  });
});

describe('the size bound (TOKEN_CACHE_SIZE)', () => {
  it('forgets the least recently used token first', async () => {
    const verifier = cached({ size: 2 });
    await verifier.verify('alice-token', {});
    await verifier.verify('bob-token', {});
    await verifier.verify('alice-token', {}); // alice is now the most recently used
    await verifier.verify('carol-token', {}); // evicts bob
    expect(homeserver.calls).toBe(3);
    await verifier.verify('alice-token', {});
    await verifier.verify('carol-token', {});
    expect(homeserver.calls).toBe(3);
    await verifier.verify('bob-token', {});
    expect(homeserver.calls).toBe(4);
  });
});

describe('single flight', () => {
  it('N concurrent requests with one new token make exactly one whoami call', async () => {
    homeserver.delayMs = 200;
    const verifier = cached();
    const answers = await Promise.all(Array.from({ length: 25 }, () => verifier.verify('alice-token', {})));
    expect(answers.every((a) => a.userId === '@alice:example.org')).toBe(true);
    expect(homeserver.calls).toBe(1);
    expect(await cacheCounts()).toMatchObject({ miss: 1, coalesced: 24 });
  });

  it('shares a refusal the same way', async () => {
    homeserver.delayMs = 200;
    const verifier = cached();
    const answers = await Promise.allSettled(Array.from({ length: 10 }, () => verifier.verify('forged-token', {})));
    expect(answers.every((a) => a.status === 'rejected' && (a.reason as { errcode?: string }).errcode === 'M_UNKNOWN_TOKEN')).toBe(true);
    expect(homeserver.calls).toBe(1);
  });

  it('shares a failure without keeping it', async () => {
    homeserver.delayMs = 200;
    homeserver.mode = 'error500';
    const verifier = cached();
    const answers = await Promise.allSettled(Array.from({ length: 10 }, () => verifier.verify('alice-token', {})));
    expect(answers.every((a) => a.status === 'rejected' && (a.reason as { status?: number }).status === 502)).toBe(true);
    expect(homeserver.calls).toBe(1);
    homeserver.mode = 'normal';
    await expect(verifier.verify('alice-token', {})).resolves.toMatchObject({ userId: '@alice:example.org' });
    expect(homeserver.calls).toBe(2);
  });

  it('does not merge different tokens', async () => {
    homeserver.delayMs = 100;
    const verifier = cached();
    await Promise.all([verifier.verify('alice-token', {}), verifier.verify('bob-token', {}), verifier.verify('alice-token', {})]);
    expect(homeserver.calls).toBe(2);
  });
});

describe('cache keys', () => {
  it('are digests that do not contain the token', () => {
    const token = 'syt_YWxpY2U_abcdefghijklmnop_0123';
    const key = tokenHash(token);
    expect(key).not.toContain(token);
    expect(key).not.toContain('abcdefghijklmnop');
    expect(key).toBe(tokenHash(token));
    expect(key).not.toBe(tokenHash(`${token}x`));
    expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});
