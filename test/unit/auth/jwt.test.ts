// The JWT verifier with its key sources: a JWKS served on loopback by the test (so it can
// rotate, fail, hang and count fetches) and static keys (PEM, JWK, JWK set). Tokens are
// signed here with jose, so every claim and header can be set exactly.

import { createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, type JWK, type JWTVerifyGetKey } from 'jose';
import { Registry } from 'prom-client';
import { jwtVerifier, type JwtVerifierOptions } from '../../../src/auth/jwt.js';
import { parseVerificationKey, remoteKeys, staticKeys, type RemoteKeysOptions } from '../../../src/auth/jwt-keys.js';
import { createUpstream, type Upstream } from '../../../src/auth/upstream.js';
import { createLogger } from '../../../src/logger.js';
import { createMetrics, type Metrics } from '../../../src/metrics.js';
import { captureLogs } from '../../helpers/logs.js';
import { freePort } from '../../helpers/ports.js';
import { refusal } from '../../helpers/refusal.js';

const NOW_MS = 1_700_000_000_000;
const NOW_S = NOW_MS / 1000;
const ISSUER = 'https://auth.example.org/';
const AUDIENCE = 'https://turn.example.org';
const MATRIX = 'urn:matrix:client:api:*';

interface TestKey {
  kid: string;
  alg: string;
  privateKey: KeyObject;
  publicJwk: JWK;
}

function testKey(alg: 'RS256' | 'ES256' | 'EdDSA', kid = `${alg}-${Math.random().toString(36).slice(2, 8)}`): TestKey {
  const pair =
    alg === 'RS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : alg === 'ES256'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('ed25519');
  const publicJwk = { ...(pair.publicKey.export({ format: 'jwk' }) as JWK), kid, alg, use: 'sig' };
  return { kid, alg, privateKey: pair.privateKey, publicJwk };
}

const rsa = testKey('RS256', 'rsa-1');
const ec = testKey('ES256', 'ec-1');
const ed = testKey('EdDSA', 'ed-1');

async function sign(key: TestKey, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): Promise<string> {
  const payload = { iss: ISSUER, aud: AUDIENCE, iat: NOW_S, exp: NOW_S + 300, scope: `openid ${MATRIX}`, sub: 'alice', ...claims };
  for (const [name, value] of Object.entries(payload)) if (value === undefined) delete (payload as Record<string, unknown>)[name];
  return new SignJWT(payload).setProtectedHeader({ alg: key.alg, typ: 'at+jwt', kid: key.kid, ...header }).sign(key.privateKey);
}

/** The JWKS endpoint: serves `keys`, or fails as `mode` says; counts fetches. */
interface JwksServer {
  url: string;
  keys: JWK[];
  mode: 'normal' | 'error500' | 'html' | 'hang';
  fetches: number;
  close(): Promise<void>;
}

async function startJwks(keys: JWK[]): Promise<JwksServer> {
  const state: JwksServer = {
    url: '',
    keys,
    mode: 'normal',
    fetches: 0,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((_req, res: ServerResponse) => {
    state.fetches += 1;
    if (state.mode === 'hang') return;
    if (state.mode === 'error500') return void res.writeHead(500).end('oops');
    if (state.mode === 'html') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html></html>');
    res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(JSON.stringify({ keys: state.keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
  return state;
}

let jwks: JwksServer;
let metrics: Metrics;

beforeAll(async () => {
  jwks = await startJwks([]);
});
afterAll(() => jwks.close());
beforeEach(() => {
  jwks.keys = [rsa.publicJwk, ec.publicJwk, ed.publicJwk];
  jwks.mode = 'normal';
  jwks.fetches = 0;
  metrics = createMetrics(new Registry(), { defaultMetrics: false });
});

let upstreams: Upstream[] = [];
afterEach(async () => {
  await Promise.all(upstreams.map((upstream) => upstream.close()));
  upstreams = [];
});

/** The JWKS's keys through an upstream of its own, as the service builds them (auth/index.ts). */
function remote(overrides: Partial<Omit<RemoteKeysOptions, 'upstream'>> & { timeoutMs?: number } = {}): JWTVerifyGetKey {
  const { timeoutMs = 2000, ...options } = overrides;
  const upstream = createUpstream({ name: 'jwks', timeoutMs, metrics, logger: createLogger('silent') });
  upstreams.push(upstream);
  return remoteKeys({ url: jwks.url, cooldownMs: 0, upstream, ...options });
}

function verifier(overrides: Partial<JwtVerifierOptions> = {}) {
  return jwtVerifier({
    keys: overrides.keys ?? remote(),
    issuer: ISSUER,
    audience: AUDIENCE,
    algorithms: ['RS256', 'ES256', 'EdDSA'],
    userClaim: 'sub',
    serverName: 'example.org',
    clock: { nowMs: () => NOW_MS },
    ...overrides,
  });
}

const unknownToken = { status: 401, body: { errcode: 'M_UNKNOWN_TOKEN' } };

describe('a good token', () => {
  it.each([rsa, ec, ed])('signed $alg is its user, expiring at exp', async (key) => {
    await expect(verifier().verify(await sign(key), {})).resolves.toEqual({
      userId: '@alice:example.org',
      isGuest: false,
      expiresAtMs: (NOW_S + 300) * 1000,
    });
  });

  it.each([['at+jwt'], ['application/at+jwt'], ['JWT'], [undefined]])('typ %s is accepted', async (typ) => {
    await expect(verifier().verify(await sign(rsa, {}, { typ }), {})).resolves.toMatchObject({ userId: '@alice:example.org' });
  });

  it('forgives a little clock skew on exp and nbf', async () => {
    const v = verifier();
    await expect(v.verify(await sign(rsa, { exp: NOW_S - 20 }), {})).resolves.toMatchObject({ userId: '@alice:example.org' });
    await expect(v.verify(await sign(rsa, { nbf: NOW_S + 20 }), {})).resolves.toMatchObject({ userId: '@alice:example.org' });
  });

  it('with only a guest scope is a guest; with the unstable full scope a user', async () => {
    const v = verifier();
    await expect(v.verify(await sign(ec, { scope: 'urn:matrix:org.matrix.msc2967.client:api:guest' }), {})).resolves.toMatchObject({
      isGuest: true,
    });
    await expect(v.verify(await sign(ec, { scope: 'urn:matrix:org.matrix.msc2967.client:api:*' }), {})).resolves.toMatchObject({
      isGuest: false,
    });
  });

  it('names its user in JWT_USER_CLAIM, a localpart or a full user id of this server', async () => {
    const v = verifier({ userClaim: 'username' });
    await expect(v.verify(await sign(rsa, { username: 'bob' }), {})).resolves.toMatchObject({ userId: '@bob:example.org' });
    await expect(v.verify(await sign(rsa, { username: '@carol:example.org' }), {})).resolves.toMatchObject({
      userId: '@carol:example.org',
    });
  });

  it('fetches the JWKS once for many tokens, and times the fetch as upstream "jwks"', async () => {
    const v = verifier();
    for (const key of [rsa, ec, ed, rsa]) await v.verify(await sign(key), {});
    expect(jwks.fetches).toBe(1);
    expect(await metrics.registry.metrics()).toMatch(
      /matrix_turn_upstream_request_duration_seconds_count\{upstream="jwks",outcome="response"\} 1\b/,
    );
  });
});

describe('a bad token is 401 M_UNKNOWN_TOKEN', () => {
  const other = testKey('RS256', 'rsa-1');
  const cases: [string, () => Promise<string>][] = [
    ['another issuer', () => sign(rsa, { iss: 'https://evil.example/' })],
    ['another audience', () => sign(rsa, { aud: 'https://calendar.example.org' })],
    ['no exp', () => sign(rsa, { exp: undefined })],
    ['not valid yet', () => sign(rsa, { nbf: NOW_S + 600 })],
    ['no Matrix scope', () => sign(rsa, { scope: 'openid profile' })],
    ['no user claim', () => sign(rsa, { sub: undefined })],
    ['a user of another server', () => sign(rsa, { sub: '@alice:evil.example' })],
    ['a typ of another kind of JWT', () => sign(rsa, {}, { typ: 'dpop+jwt' })],
    ['a foreign key claiming a known kid', () => sign(other)],
    ['alg none', async () => `${Buffer.from('{"alg":"none","typ":"at+jwt"}').toString('base64url')}.${(await sign(rsa)).split('.')[1]}.`],
    ['not a JWT at all', async () => 'opaque-token-from-somewhere'],
    [
      'a payload altered after signing',
      async () => {
        const [header, , signature] = (await sign(rsa)).split('.');
        const altered = { iss: ISSUER, aud: AUDIENCE, exp: NOW_S + 300, scope: MATRIX, sub: 'admin' };
        return `${header}.${Buffer.from(JSON.stringify(altered)).toString('base64url')}.${signature}`;
      },
    ],
  ];

  it.each(cases)('%s', async (_name, token) => {
    expect(await refusal(verifier().verify(await token(), {}))).toMatchObject({
      ...unknownToken,
      body: { ...unknownToken.body, soft_logout: false },
    });
  });

  it('expired beyond the tolerance, with soft_logout so the client refreshes rather than logs out', async () => {
    expect(await refusal(verifier().verify(await sign(rsa, { exp: NOW_S - 31 }), {}))).toMatchObject({
      status: 401,
      body: { soft_logout: true },
    });
  });

  it('an algorithm outside JWT_ALGORITHMS, even with a key that fits', async () => {
    expect(await refusal(verifier({ algorithms: ['RS256'] }).verify(await sign(ec), {}))).toMatchObject(unknownToken);
  });

  it('an unknown kid still unknown after fetching the JWKS again', async () => {
    const v = verifier();
    await v.verify(await sign(rsa), {});
    expect(await refusal(v.verify(await sign(testKey('RS256', 'nobody')), {}))).toMatchObject(unknownToken);
    expect(jwks.fetches).toBe(2);
  });
});

describe('keys from the JWKS URL', () => {
  it('a new kid in the JWKS (rotation) is fetched and accepted without a restart', async () => {
    const v = verifier();
    await v.verify(await sign(rsa), {});
    const next = testKey('RS256', 'rsa-2');
    jwks.keys = [next.publicJwk, rsa.publicJwk];
    await expect(v.verify(await sign(next), {})).resolves.toMatchObject({ userId: '@alice:example.org' });
    expect(jwks.fetches).toBe(2);
  });

  it('an unknown kid within the cooldown is 503 with Retry-After, not a verdict on the token, and fetches nothing', async () => {
    const v = verifier({ keys: remote({ cooldownMs: 60_000 }) });
    await v.verify(await sign(rsa), {});
    const r = await refusal(v.verify(await sign(testKey('ES256', 'brand-new')), {}));
    expect(r).toMatchObject({ status: 503, body: { errcode: 'M_UNKNOWN' }, headers: { 'Retry-After': '60' } });
    expect(jwks.fetches).toBe(1);
  });

  it.each([
    ['answers 500', 'error500' as const, 502],
    ['answers HTML', 'html' as const, 502],
    ['does not answer in time', 'hang' as const, 504],
  ])('a JWKS that %s (%s) before any key is known is %d M_UNKNOWN', async (_name, mode, status) => {
    jwks.mode = mode;
    const r = await refusal(verifier({ keys: remote({ timeoutMs: 200 }) }).verify(await sign(rsa), {}));
    expect(r).toMatchObject({ status, body: { errcode: 'M_UNKNOWN' } });
  });

  it('a JWKS nobody listens on is 502 M_UNKNOWN', async () => {
    const keys = remote({ url: `http://127.0.0.1:${await freePort()}/jwks` });
    expect(await refusal(verifier({ keys }).verify(await sign(rsa), {}))).toMatchObject({ status: 502, body: { errcode: 'M_UNKNOWN' } });
    expect(await metrics.registry.metrics()).toMatch(
      /matrix_turn_upstream_request_duration_seconds_count\{upstream="jwks",outcome="unreachable"\} 1\b/,
    );
  });

  it('fetches through its upstream: once the circuit breaker opens, 503 with Retry-After and the JWKS is not asked', async () => {
    jwks.mode = 'error500';
    const upstream = createUpstream({ name: 'jwks', timeoutMs: 2000, metrics, logger: createLogger('silent'), breakerFailureThreshold: 2 });
    upstreams.push(upstream);
    const v = verifier({ keys: remoteKeys({ url: jwks.url, cooldownMs: 0, upstream }) });
    for (let i = 0; i < 2; i++) {
      expect(await refusal(v.verify(await sign(rsa), {}))).toMatchObject({ status: 502, body: { errcode: 'M_UNKNOWN' } });
    }
    const failedFast = await refusal(v.verify(await sign(rsa), {}));
    expect(failedFast).toMatchObject({ status: 503, body: { errcode: 'M_UNKNOWN' }, headers: { 'Retry-After': '5' } });
    expect(jwks.fetches).toBe(2);
    expect(await metrics.registry.metrics()).toMatch(/matrix_turn_upstream_circuit_open\{upstream="jwks"\} 1\b/);
  });

  it('keeps verifying with the keys it has while a refresh fails, but an unknown kid is then 502', async () => {
    // cacheMaxAge 0: every verification refreshes, so every one meets the outage.
    const v = verifier({ keys: remote({ cacheMaxAgeMs: 0 }) });
    await v.verify(await sign(ec), {});
    jwks.mode = 'error500';
    await expect(v.verify(await sign(ec), {})).resolves.toMatchObject({ userId: '@alice:example.org' });
    await expect(v.verify(await sign(rsa), {})).resolves.toMatchObject({ userId: '@alice:example.org' });
    expect(await refusal(v.verify(await sign(testKey('ES256', 'unseen')), {}))).toMatchObject({
      status: 502,
      body: { errcode: 'M_UNKNOWN' },
    });
    jwks.mode = 'normal';
    const next = testKey('ES256', 'ec-2');
    jwks.keys = [next.publicJwk];
    await expect(v.verify(await sign(next), {})).resolves.toMatchObject({ userId: '@alice:example.org' });
    expect(await refusal(v.verify(await sign(ec), {}))).toMatchObject(unknownToken);
  });
});

describe('a static JWT_PUBLIC_KEY', () => {
  it.each([
    ['PEM (SubjectPublicKeyInfo)', () => publicPem(rsa)],
    ['a JWK', () => JSON.stringify(rsa.publicJwk)],
    ['a JWK set', () => JSON.stringify({ keys: [ec.publicJwk, rsa.publicJwk] })],
  ])('as %s verifies its tokens and refuses others', async (_name, text) => {
    const v = verifier({ keys: staticKeys({ current: text }, createLogger('silent')) });
    await expect(v.verify(await sign(rsa), {})).resolves.toMatchObject({ userId: '@alice:example.org' });
    expect(await refusal(v.verify(await sign(testKey('RS256', 'rsa-1')), {}))).toMatchObject(unknownToken);
  });

  it.each([
    ['a private key PEM', () => rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), /private key/],
    ['a private JWK', () => JSON.stringify(rsa.privateKey.export({ format: 'jwk' })), /private JWK/],
    ['a JWK set with a private key', () => JSON.stringify({ keys: [rsa.privateKey.export({ format: 'jwk' })] }), /private keys/],
    ['broken JSON', () => '{"kty":', /does not parse/],
    ['anything else', () => 'ssh-rsa AAAA', /neither a PEM public key nor a JWK/],
  ])('refuses %s at start with a clear message', (_name, text, message) => {
    expect(() => parseVerificationKey(text())).toThrow(message);
  });

  it('follows a changed key file, and keeps the previous key when the new one does not parse', async () => {
    const logs = captureLogs();
    let text = publicPem(rsa);
    const v = verifier({ keys: staticKeys({ current: () => text }, createLogger('info', logs.stream)) });
    await expect(v.verify(await sign(rsa), {})).resolves.toBeDefined();
    text = JSON.stringify(ec.publicJwk);
    await expect(v.verify(await sign(ec), {})).resolves.toBeDefined();
    expect(await refusal(v.verify(await sign(rsa), {}))).toMatchObject(unknownToken);
    text = 'garbage';
    await expect(v.verify(await sign(ec), {})).resolves.toBeDefined();
    await expect(v.verify(await sign(ec), {})).resolves.toBeDefined();
    const complaints = logs.entries().filter((e) => e.msg === 'new JWT_PUBLIC_KEY does not parse; keeping the previous key');
    expect(complaints).toHaveLength(1);
  });
});

function publicPem(key: TestKey): string {
  return createPublicKey({ key: key.publicJwk as JsonWebKey, format: 'jwk' })
    .export({ type: 'spki', format: 'pem' })
    .toString();
}
