// AUTH_METHOD=jwt end to end: RFC 9068 access tokens from a real OAuth 2.0 server
// (oidc-provider), keys from its JWKS, and every forgery we know of refused with 401.

import { createHmac, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import { SignJWT, importJWK, type JWK } from 'jose';
import type { Clock } from '../../src/clock.js';
import {
  CLIENT_CREDENTIALS_TTL_SECONDS,
  MATRIX_SCOPE,
  OTHER_SCOPE,
  TURN_AUDIENCE,
  startOAuthServer,
  type OAuthServer,
} from '../helpers/oauth-server.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { waitFor } from '../helpers/wait.js';

const SERVER_NAME = 'example.org';

function offsetClock(): Clock & { offsetSeconds: number } {
  const clock = { offsetSeconds: 0, nowMs: () => Date.now() + clock.offsetSeconds * 1000 };
  return clock;
}

const base64url = (value: string | Buffer) => Buffer.from(value).toString('base64url');

function decodePart(token: string, index: 0 | 1): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[index]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

describe('JWT access tokens from a real OAuth 2.0 server', () => {
  let oauth: OAuthServer;
  let service: TestService;
  const clock = offsetClock();
  const others: TestService[] = [];

  const env = () => ({
    AUTH_METHOD: 'jwt',
    SERVER_NAME,
    JWT_JWKS_URL: oauth.jwksUrl,
    JWT_ISSUER: oauth.issuer,
    JWT_AUDIENCE: TURN_AUDIENCE,
    RATE_LIMIT_BURST: '1000',
    UNKNOWN_TOKEN_RATE_LIMIT_BURST: '1000',
  });
  const status = async (token: string, on: TestService = service) => {
    const res = await on.turnServer(token);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  /** A token with the provider's real RS256 key and kid, and claims of our choosing. */
  /** A token with claims of our choosing, by default signed with the provider's real RS256 key and kid. */
  const signed = async (claims: Record<string, unknown>, header: Record<string, unknown> = {}, key?: KeyObject) => {
    const jwk = oauth.signingKey('RS256');
    const nowSeconds = Math.floor(Date.now() / 1000);
    const payload = {
      iss: oauth.issuer,
      aud: TURN_AUDIENCE,
      iat: nowSeconds,
      exp: nowSeconds + 300,
      scope: MATRIX_SCOPE,
      sub: 'alice',
      ...claims,
    };
    return new SignJWT(payload)
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: jwk.kid, ...header })
      .sign(key ?? (await importJWK(jwk as JWK, 'RS256')));
  };

  beforeAll(async () => {
    oauth = await startOAuthServer();
    service = await startTestService(env(), { clock });
  });

  afterAll(async () => {
    await Promise.all([service?.stop(), ...others.map((s) => s.stop())]);
    await oauth?.close();
  });

  it('accepts an RS256 and an ES256 access token, typ at+jwt, for @sub:SERVER_NAME', async () => {
    const rs = await oauth.issue({ sub: 'alice', resource: 'rs256' });
    const es = await oauth.issue({ sub: 'bob', resource: 'es256' });
    expect(decodePart(rs, 0)).toMatchObject({ alg: 'RS256', typ: 'at+jwt' });
    expect(decodePart(es, 0)).toMatchObject({ alg: 'ES256', typ: 'at+jwt' });
    const a = await status(rs);
    const b = await status(es);
    expect(a.status).toBe(200);
    expect(a.body.username).toMatch(/^\d+:@alice:example\.org$/);
    expect(b.status).toBe(200);
    expect(b.body.username).toMatch(/^\d+:@bob:example\.org$/);
  });

  it("takes a full user id of this server from the claim, and refuses another server's with 401", async () => {
    expect((await status(await oauth.issue({ sub: '@carol:example.org', resource: 'rs256' }))).status).toBe(200);
    const foreign = await status(await oauth.issue({ sub: '@carol:evil.example', resource: 'rs256' }));
    expect(foreign).toMatchObject({ status: 401, body: { errcode: 'M_UNKNOWN_TOKEN' } });
  });

  it('refuses a token without the Matrix client API scope', async () => {
    const res = await status(await oauth.issue({ sub: 'dave', scope: OTHER_SCOPE, resource: 'es256' }));
    expect(res).toMatchObject({ status: 401, body: { errcode: 'M_UNKNOWN_TOKEN' } });
  });

  describe('refuses with 401 M_UNKNOWN_TOKEN', () => {
    const refused = async (token: string) => {
      const res = await status(token);
      expect(res).toMatchObject({ status: 401, body: { errcode: 'M_UNKNOWN_TOKEN' } });
      return res;
    };

    it('a token for another audience', async () => {
      const token = await oauth.issue({ sub: 'alice', resource: 'otherAudience' });
      expect(decodePart(token, 1).aud).not.toBe(TURN_AUDIENCE);
      await refused(token);
    });

    it('a token of another issuer, even signed with the right key', async () => {
      const control = await signed({});
      expect((await status(control)).status).toBe(200);
      await refused(await signed({ iss: 'https://evil.example' }));
    });

    it('an expired token (beyond the clock tolerance), with soft_logout', async () => {
      const token = await oauth.issue({ sub: 'erin', resource: 'rs256' });
      clock.offsetSeconds = CLIENT_CREDENTIALS_TTL_SECONDS + 60;
      try {
        const res = await refused(token);
        expect(res.body.soft_logout).toBe(true);
      } finally {
        clock.offsetSeconds = 0;
      }
    });

    it('a token that is not valid yet', async () => {
      await refused(await signed({ nbf: Math.floor(Date.now() / 1000) + 3600 }));
    });

    it('alg "none"', async () => {
      const real = await oauth.issue({ sub: 'alice', resource: 'rs256' });
      const unsigned = `${base64url(JSON.stringify({ alg: 'none', typ: 'at+jwt' }))}.${real.split('.')[1]}.`;
      await refused(unsigned);
    });

    it('HS256 signed with the public key as the HMAC secret', async () => {
      const jwk = oauth.signingKey('RS256');
      const publicPem = createPublicKey({ key: { kty: jwk.kty, n: jwk.n, e: jwk.e } as JsonWebKey, format: 'jwk' })
        .export({ type: 'spki', format: 'pem' })
        .toString();
      const real = await oauth.issue({ sub: 'alice', resource: 'rs256' });
      const header = base64url(JSON.stringify({ alg: 'HS256', typ: 'at+jwt', kid: jwk.kid }));
      const input = `${header}.${real.split('.')[1]}`;
      for (const secret of [publicPem, JSON.stringify({ kty: jwk.kty, n: jwk.n, e: jwk.e })]) {
        await refused(`${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`);
      }
    });

    it('a foreign key claiming a known kid', async () => {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      await refused(await signed({}, {}, privateKey));
    });

    it('a payload altered after signing', async () => {
      const real = await oauth.issue({ sub: 'alice', resource: 'es256' });
      expect((await status(real)).status).toBe(200);
      const [header, payload, signature] = real.split('.') as [string, string, string];
      const altered = { ...(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as object), sub: 'admin' };
      await refused(`${header}.${base64url(JSON.stringify(altered))}.${signature}`);
    });

    it('a typ other than at+jwt or JWT', async () => {
      expect((await status(await signed({}, { typ: 'JWT' }))).status).toBe(200);
      await refused(await signed({}, { typ: 'logout+jwt' }));
    });

    it('an algorithm outside JWT_ALGORITHMS, even with the right key', async () => {
      const rsOnly = await startTestService({ ...env(), JWT_ALGORITHMS: 'RS256' });
      others.push(rsOnly);
      expect((await status(await oauth.issue({ sub: 'alice', resource: 'rs256' }), rsOnly)).status).toBe(200);
      const es = await status(await oauth.issue({ sub: 'alice', resource: 'es256' }), rsOnly);
      expect(es).toMatchObject({ status: 401, body: { errcode: 'M_UNKNOWN_TOKEN' } });
    });
  });

  it('picks up rotated keys (a new kid in the JWKS) without a restart, never answering 401 meanwhile', async () => {
    const before = await oauth.issue({ sub: 'alice', resource: 'rs256' });
    expect((await status(before)).status).toBe(200);
    const oldKid = oauth.signingKey('RS256').kid;
    await oauth.rotateKeys();
    const after = await oauth.issue({ sub: 'frank', resource: 'rs256' });
    expect(decodePart(after, 0).kid).not.toBe(oldKid);
    const seen = new Set<number>();
    // The JWKS was fetched moments ago; within the cooldown the service answers 503, then fetches.
    await waitFor(
      async () => {
        const res = await status(after);
        seen.add(res.status);
        return res.status === 200;
      },
      { timeoutMs: 60_000, intervalMs: 250, what: 'the rotated key to be accepted' },
    );
    expect([...seen].filter((s) => s !== 200 && s !== 503)).toEqual([]);
    expect((await status(before)).status).toBe(200);
    expect(await service.metrics()).toMatch(
      /matrix_turn_upstream_request_duration_seconds_count\{upstream="jwks",outcome="response"\} [2-9]/,
    );
  }, 90_000);

  it('answers 5xx M_UNKNOWN, never 401, while the JWKS is unreachable and the kid is unknown', async () => {
    const known = await oauth.issue({ sub: 'alice', resource: 'es256' });
    const neverSeen = await startTestService(env());
    others.push(neverSeen);
    await oauth.stop();
    try {
      const cold = await status(known, neverSeen);
      expect(cold).toMatchObject({ status: 502, body: { errcode: 'M_UNKNOWN' } });
      expect(neverSeen.logs.text()).toMatch(/jwks unreachable/);
      // The service that already holds the keys keeps verifying with them.
      expect((await status(known)).status).toBe(200);
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const unknownKid = await signed({}, { alg: 'ES256', kid: 'kid-nobody-published' }, privateKey);
      const warm = await status(unknownKid);
      expect(warm.status).toBeGreaterThanOrEqual(500);
      expect(warm.body.errcode).toBe('M_UNKNOWN');
    } finally {
      await oauth.start();
    }
  });
});
