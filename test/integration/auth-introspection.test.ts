// AUTH_METHOD=introspection end to end: the real service asks a real OAuth 2.0 server
// (oidc-provider) about opaque access tokens over RFC 7662, with each client
// authentication method, and answers the client as Synapse with MAS would.

import type { Clock } from '../../src/clock.js';
import { freePort } from '../helpers/ports.js';
import {
  CLIENT_CREDENTIALS_TTL_SECONDS,
  MATRIX_GUEST_SCOPE,
  MATRIX_SCOPE,
  MATRIX_SCOPE_UNSTABLE,
  OTHER_SCOPE,
  startOAuthServer,
  startSharedSecretFront,
  type OAuthServer,
  type SharedSecretFront,
} from '../helpers/oauth-server.js';
import { startTestService, type TestService } from '../helpers/service.js';

const SERVER_NAME = 'example.org';
const SHARED_SECRET = 'mas-matrix-secret-5be0c1d2';

/** Real time plus an offset the test moves, so tokens from the provider stay real. */
function offsetClock(): Clock & { advanceSeconds(seconds: number): void } {
  let offsetMs = 0;
  return { nowMs: () => Date.now() + offsetMs, advanceSeconds: (seconds) => void (offsetMs += seconds * 1000) };
}

function introspectionEnv(oauth: OAuthServer, extra: Record<string, string> = {}): Record<string, string> {
  return {
    AUTH_METHOD: 'introspection',
    SERVER_NAME,
    INTROSPECTION_URL: oauth.introspectionUrl,
    INTROSPECTION_CLIENT_ID: oauth.introspectorBasic.clientId,
    INTROSPECTION_CLIENT_SECRET: oauth.introspectorBasic.clientSecret,
    RATE_LIMIT_BURST: '1000',
    UNKNOWN_TOKEN_RATE_LIMIT_BURST: '1000',
    ...extra,
  };
}

async function answer(res: Response): Promise<{ status: number; body: Record<string, unknown> }> {
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('introspection against a real OAuth 2.0 server', () => {
  let oauth: OAuthServer;
  let front: SharedSecretFront;
  const services: TestService[] = [];
  const start = async (env: Record<string, string>, clock?: Clock) => {
    const service = await startTestService(env, clock ? { clock } : {});
    services.push(service);
    return service;
  };

  beforeAll(async () => {
    oauth = await startOAuthServer();
    front = await startSharedSecretFront(oauth, SHARED_SECRET);
  });

  afterAll(async () => {
    await Promise.all(services.map((s) => s.stop()));
    await front?.close();
    await oauth?.close();
  });

  describe('with client_secret_basic', () => {
    let service: TestService;
    const clock = offsetClock();
    beforeAll(async () => {
      service = await start(introspectionEnv(oauth, { TOKEN_CACHE_TTL: '60' }), clock);
    });

    it('gives an active token with the Matrix scope credentials for @username:SERVER_NAME', async () => {
      const token = await oauth.issue({ username: 'alice', sub: '01HZX3V8Q2W4E6R8T0Y2U4I6O8' });
      const { status, body } = await answer(await service.turnServer(token));
      expect(status).toBe(200);
      expect(body.username).toMatch(/^\d+:@alice:example\.org$/);
      expect(body.uris).toEqual(service.config.turn.servers[0]!.uris);
      expect(await service.metrics()).toMatch(/matrix_turn_token_verifications_total\{method="introspection",result="valid"\} 1\b/);
    });

    it('accepts the unstable MSC2967 scope as Synapse does', async () => {
      const token = await oauth.issue({ username: 'bob', scope: MATRIX_SCOPE_UNSTABLE });
      const res = await answer(await service.turnServer(token));
      expect(res.status).toBe(200);
      expect(res.body.username).toMatch(/:@bob:example\.org$/);
    });

    it('takes a full user id of this server as it is, and refuses one of another server with 401', async () => {
      const ours = await oauth.issue({ username: '@carol:example.org' });
      const theirs = await oauth.issue({ username: '@mallory:evil.example' });
      const ok = await answer(await service.turnServer(ours));
      expect(ok.status).toBe(200);
      expect(ok.body.username).toMatch(/:@carol:example\.org$/);
      const refused = await answer(await service.turnServer(theirs));
      expect(refused).toMatchObject({ status: 401, body: { errcode: 'M_UNKNOWN_TOKEN' } });
    });

    it('refuses a token without the Matrix client API scope with 401 M_UNKNOWN_TOKEN', async () => {
      const token = await oauth.issue({ username: 'dave', scope: OTHER_SCOPE });
      const { status, body } = await answer(await service.turnServer(token));
      expect(status).toBe(401);
      expect(body).toMatchObject({ errcode: 'M_UNKNOWN_TOKEN', soft_logout: false });
    });

    it('refuses a token the server does not know with 401', async () => {
      const { status, body } = await answer(await service.turnServer('not-a-token-the-provider-issued'));
      expect(status).toBe(401);
      expect(body.errcode).toBe('M_UNKNOWN_TOKEN');
    });

    it('keeps honouring a revoked token only until the cache entry expires, then refuses it', async () => {
      const token = await oauth.issue({ username: 'erin' });
      expect((await service.turnServer(token)).status).toBe(200);
      await oauth.revoke(token);
      const before = oauth.introspections;
      expect((await service.turnServer(token)).status).toBe(200);
      expect(oauth.introspections).toBe(before);
      clock.advanceSeconds(61);
      const { status, body } = await answer(await service.turnServer(token));
      expect(status).toBe(401);
      expect(body.errcode).toBe('M_UNKNOWN_TOKEN');
      expect(oauth.introspections).toBe(before + 1);
    });
  });

  it("never keeps an answer past the token's own expiry, however long TOKEN_CACHE_TTL is", async () => {
    const clock = offsetClock();
    const service = await start(introspectionEnv(oauth, { TOKEN_CACHE_TTL: '3600' }), clock);
    const token = await oauth.issue({ username: 'frank' });
    expect((await service.turnServer(token)).status).toBe(200);
    const asked = oauth.introspections;
    clock.advanceSeconds(CLIENT_CREDENTIALS_TTL_SECONDS - 10);
    expect((await service.turnServer(token)).status).toBe(200);
    expect(oauth.introspections).toBe(asked);
    clock.advanceSeconds(60); // past exp and the 30 s skew allowance
    const { status, body } = await answer(await service.turnServer(token));
    expect(oauth.introspections).toBe(asked + 1);
    expect(status).toBe(401);
    expect(body).toMatchObject({ errcode: 'M_UNKNOWN_TOKEN', soft_logout: true });
  });

  it('treats a guest-only scope as a guest, refused with 403 when TURN_ALLOW_GUESTS is false', async () => {
    const allowing = await start(introspectionEnv(oauth));
    const refusing = await start(introspectionEnv(oauth, { TURN_ALLOW_GUESTS: 'false' }));
    const guest = await oauth.issue({ username: 'guest1', scope: MATRIX_GUEST_SCOPE });
    const user = await oauth.issue({ username: 'grace', scope: `${MATRIX_SCOPE} ${MATRIX_GUEST_SCOPE}` });
    expect((await allowing.turnServer(guest)).status).toBe(200);
    const refused = await answer(await refusing.turnServer(guest));
    expect(refused).toMatchObject({ status: 403, body: { errcode: 'M_GUEST_ACCESS_FORBIDDEN' } });
    expect((await refusing.turnServer(user)).status).toBe(200);
  });

  it('authenticates with client_secret_post', async () => {
    const service = await start(
      introspectionEnv(oauth, {
        INTROSPECTION_CLIENT_AUTH: 'client_secret_post',
        INTROSPECTION_CLIENT_ID: oauth.introspectorPost.clientId,
        INTROSPECTION_CLIENT_SECRET: oauth.introspectorPost.clientSecret,
      }),
    );
    const token = await oauth.issue({ username: 'heidi' });
    expect((await service.turnServer(token)).status).toBe(200);
    expect((await service.turnServer(await oauth.issue({ username: 'ivan', scope: OTHER_SCOPE }))).status).toBe(401);
  });

  it("authenticates with MAS's shared secret as a bearer token (INTROSPECTION_CLIENT_AUTH=bearer)", async () => {
    const env = introspectionEnv(oauth, {
      INTROSPECTION_CLIENT_AUTH: 'bearer',
      INTROSPECTION_URL: front.introspectionUrl,
      INTROSPECTION_CLIENT_SECRET: SHARED_SECRET,
    });
    delete env.INTROSPECTION_CLIENT_ID;
    const service = await start(env);
    expect((await service.turnServer(await oauth.issue({ username: 'judy' }))).status).toBe(200);
    const wrong = await start({ ...env, INTROSPECTION_CLIENT_SECRET: 'not-the-shared-secret' });
    const { status, body } = await answer(await wrong.turnServer(await oauth.issue({ username: 'judy' })));
    expect({ status, errcode: body.errcode }).toEqual({ status: 502, errcode: 'M_UNKNOWN' });
    expect(wrong.logs.text()).toContain('refused our client credentials (access_denied)');
  });

  it('answers a wrong client secret with a 5xx M_UNKNOWN and a log line naming the settings, never M_UNKNOWN_TOKEN', async () => {
    const wrongSecret = 'definitely-not-the-client-secret';
    const service = await start(introspectionEnv(oauth, { INTROSPECTION_CLIENT_SECRET: wrongSecret }));
    const token = await oauth.issue({ username: 'mallory' });
    for (const attempt of [1, 2]) {
      const { status, body } = await answer(await service.turnServer(token));
      expect({ attempt, status, errcode: body.errcode }).toEqual({ attempt, status: 502, errcode: 'M_UNKNOWN' });
    }
    const line = service.logs
      .entries()
      .find((entry) => typeof entry.detail === 'string' && entry.detail.includes('refused our client credentials'));
    expect(line).toMatchObject({ status: 502, errcode: 'M_UNKNOWN' });
    expect(String(line!.detail)).toContain('INTROSPECTION_CLIENT_SECRET');
    expect(service.logs.text()).not.toContain(wrongSecret);
    expect(service.logs.text()).not.toContain(token);
    expect(await service.metrics()).toMatch(/matrix_turn_token_verifications_total\{method="introspection",result="error"\} 2\b/);
  });

  it('answers 502 M_UNKNOWN when the introspection endpoint is unreachable', async () => {
    const closedPort = await freePort();
    const service = await start(introspectionEnv(oauth, { INTROSPECTION_URL: `http://127.0.0.1:${closedPort}/token/introspection` }));
    const { status, body } = await answer(await service.turnServer(await oauth.issue({ username: 'niaj' })));
    expect(status).toBe(502);
    expect(body.errcode).toBe('M_UNKNOWN');
  });

  it('never logs a token or a client secret', () => {
    const text = services.map((s) => s.logs.text()).join('\n');
    expect(text).not.toContain(oauth.introspectorBasic.clientSecret);
    expect(text).not.toContain(oauth.introspectorPost.clientSecret);
    expect(text).not.toContain(SHARED_SECRET);
    expect(text).not.toMatch(/Bearer /);
  });
});
