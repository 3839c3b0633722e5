// The appservice verifier: the hs_token compared exactly, the user named by the
// homeserver in X-Matrix-User-Identifier taken only when it is a user id of SERVER_NAME;
// and its cache, which keeps the identities of the users it accepted by user id.

import { Registry } from 'prom-client';
import { appserviceTokens, appserviceVerifier } from '../../../src/auth/appservice.js';
import { tokenHash } from '../../../src/auth/token-hash.js';
import type { RequestFacts } from '../../../src/auth/types.js';
import { createMetrics } from '../../../src/metrics.js';
import { refusal } from '../../helpers/refusal.js';

const HS_TOKEN = 'hs-token-7f3a9c';

function verifier(current: () => string = () => HS_TOKEN) {
  return appserviceVerifier({ hsToken: { current }, serverName: 'example.org' });
}

describe('appservice verifier', () => {
  it('the hs_token with a user id of this server is that user, never a guest, with no expiry of its own', async () => {
    await expect(verifier().verify(HS_TOKEN, { userIdHeader: '@alice:example.org' })).resolves.toEqual({
      userId: '@alice:example.org',
      isGuest: false,
    });
  });

  it.each([
    ['another token', 'hs-token-7f3a9d'],
    ['a prefix of the hs_token', HS_TOKEN.slice(0, -1)],
    ['the hs_token with more after it', `${HS_TOKEN}x`],
    ['an empty token', ''],
  ])('%s is 401 M_UNKNOWN_TOKEN, whatever the header says', async (_name, token) => {
    const r = await refusal(verifier().verify(token, { userIdHeader: '@alice:example.org' }));
    expect(r).toMatchObject({ status: 401, body: { errcode: 'M_UNKNOWN_TOKEN' } });
  });

  it.each([
    ['no header', undefined],
    ['an empty header', ''],
    ['a bare localpart', 'alice'],
    ['no server part', '@alice'],
    ['a user of another server', '@alice:evil.example'],
    ['a server name that merely starts like ours', '@alice:example.org.evil.example'],
    ['characters no localpart may have', '@Alice Smith:example.org'],
    ['a room id', '!room:example.org'],
  ])('%s is 403 M_FORBIDDEN', async (_name, userIdHeader) => {
    const r = await refusal(verifier().verify(HS_TOKEN, userIdHeader === undefined ? {} : { userIdHeader }));
    expect(r).toMatchObject({ status: 403, body: { errcode: 'M_FORBIDDEN' } });
  });

  it('reads the hs_token per request, so a rotated secret file takes effect at once', async () => {
    let current = HS_TOKEN;
    const v = verifier(() => current);
    current = 'rotated-token';
    await expect(v.verify('rotated-token', { userIdHeader: '@alice:example.org' })).resolves.toMatchObject({
      userId: '@alice:example.org',
    });
    expect((await refusal(v.verify(HS_TOKEN, { userIdHeader: '@alice:example.org' }))).status).toBe(401);
  });
});

describe('appservice tokens (the cache by user id)', () => {
  function tokens(current: () => string = () => HS_TOKEN, size = 100) {
    const metrics = createMetrics(new Registry(), { defaultMetrics: false });
    let verifications = 0;
    const inner = verifier(current);
    const counting = {
      method: 'appservice',
      verify: (token: string, facts: RequestFacts) => ((verifications += 1), inner.verify(token, facts)),
    };
    const cache = appserviceTokens(counting, { hsToken: { current }, size, metrics });
    const hits = async () =>
      (await metrics.registry.getSingleMetricAsString('matrix_turn_token_cache_requests_total')).match(/result="hit"} (\d+)/)?.[1];
    return { cache, verifications: () => verifications, hits };
  }
  const alice = { userIdHeader: '@alice:example.org' };

  it('a user once accepted with the hs_token is a hit after: the same identity, no verification', async () => {
    const { cache, verifications, hits } = tokens();
    expect(cache.peek(tokenHash(HS_TOKEN), alice)).toBeUndefined();
    const identity = await cache.verify(HS_TOKEN, tokenHash(HS_TOKEN), alice);
    expect(cache.peek(tokenHash(HS_TOKEN), alice)).toBe(identity);
    expect(cache.peek(tokenHash(HS_TOKEN), { userIdHeader: '@bob:example.org' })).toBeUndefined();
    expect(cache.peek(tokenHash(HS_TOKEN))).toBeUndefined();
    expect(verifications()).toBe(1);
    expect(await hits()).toBe('1');
  });

  it('another token, or a user refused, is never a hit', async () => {
    const { cache } = tokens();
    await cache.verify(HS_TOKEN, tokenHash(HS_TOKEN), alice);
    expect(cache.peek(tokenHash('hs-token-7f3a9d'), alice)).toBeUndefined();
    await expect(cache.verify('hs-token-7f3a9d', tokenHash('hs-token-7f3a9d'), alice)).rejects.toMatchObject({ status: 401 });
    const foreign = { userIdHeader: '@alice:evil.example' };
    await expect(cache.verify(HS_TOKEN, tokenHash(HS_TOKEN), foreign)).rejects.toMatchObject({ status: 403 });
    expect(cache.peek(tokenHash(HS_TOKEN), foreign)).toBeUndefined();
  });

  it('a rotated hs_token: the old one is no hit from the next request on, the new one is verified again', async () => {
    let current = HS_TOKEN;
    const { cache, verifications } = tokens(() => current);
    await cache.verify(HS_TOKEN, tokenHash(HS_TOKEN), alice);
    current = 'hs-token-rotated-1';
    expect(cache.peek(tokenHash(HS_TOKEN), alice)).toBeUndefined();
    await expect(cache.verify(HS_TOKEN, tokenHash(HS_TOKEN), alice)).rejects.toMatchObject({ status: 401 });
    await cache.verify(current, tokenHash(current), alice);
    expect(cache.peek(tokenHash(current), alice)).toEqual({ userId: '@alice:example.org', isGuest: false });
    expect(verifications()).toBe(3);
  });

  it('keeps at most TOKEN_CACHE_SIZE users, the least recently seen leaving first', async () => {
    const { cache } = tokens(undefined, 2);
    const users = ['@a:example.org', '@b:example.org', '@c:example.org'].map((userIdHeader) => ({ userIdHeader }));
    for (const facts of users) await cache.verify(HS_TOKEN, tokenHash(HS_TOKEN), facts);
    expect(users.map((facts) => cache.peek(tokenHash(HS_TOKEN), facts) !== undefined)).toEqual([false, true, true]);
  });
});
