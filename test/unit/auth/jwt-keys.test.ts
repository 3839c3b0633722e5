// Where JWT keys come from, seen from the token's side (test/unit/auth/jwt.test.ts has the
// verifier with them). A JWKS endpoint that cannot be reached before any key was fetched
// fails every request that needs a key; the log tells that outage once when it starts and
// once when a fetch gets the key set again, with the count of requests it failed, as for
// any upstream. What the JWKS answers instead of a key set is a 5xx whose detail tells the
// operator what came; a static key refused on a change is logged once per content.

import { createServer, type Server } from 'node:http';
import { SignJWT, exportJWK, generateKeyPair, jwtVerify, type JWK, type JWTVerifyGetKey } from 'jose';
import { Registry } from 'prom-client';
import { JWKS_COOLDOWN_MS, remoteKeys, staticKeys } from '../../../src/auth/jwt-keys.js';
import { createUpstream, type Upstream } from '../../../src/auth/upstream.js';
import { MatrixError } from '../../../src/errors.js';
import { createLogger } from '../../../src/logger.js';
import { createMetrics } from '../../../src/metrics.js';
import { manualClock } from '../../helpers/clock.js';
import { listen, type Listening } from '../../helpers/listen.js';
import { captureLogs } from '../../helpers/logs.js';
import { freePort } from '../../helpers/ports.js';
import { refusal } from '../../helpers/refusal.js';

let server: Server | undefined;
let upstream: Upstream | undefined;
afterAll(async () => {
  await upstream?.close();
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

test(
  'a JWKS outage of N requests: one warning at its start, ' + 'one info line with N once a fetch succeeds, each error marked as told',
  async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
    const token = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(privateKey);

    const port = await freePort();
    const clock = manualClock();
    const logs = captureLogs();
    // The JWKS's upstream, as auth/index.ts builds it; a breaker that stays closed, so every
    // request of the outage reaches the endpoint and the first one after it answers.
    upstream = createUpstream({
      name: 'jwks',
      timeoutMs: 2000,
      metrics: createMetrics(new Registry(), { defaultMetrics: false }),
      logger: createLogger('info', logs.stream),
      clock,
      breakerFailureThreshold: 1000,
    });
    const keys = remoteKeys({ url: `http://127.0.0.1:${port}/jwks`, cooldownMs: 0, upstream });

    for (let i = 0; i < 5; i++) {
      const error = await jwtVerify(token, keys).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(MatrixError);
      expect(error).toMatchObject({ status: 502, reported: true });
      clock.advance(1000);
    }
    expect(logs.entries()).toEqual([
      expect.objectContaining({ level: 'warn', upstream: 'jwks', detail: expect.stringMatching(/^jwks unreachable/) }),
    ]);

    server = createServer(
      (_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })),
    );
    await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
    await expect(jwtVerify(token, keys)).resolves.toMatchObject({ payload: { sub: 'alice' } });
    await expect(jwtVerify(token, keys)).resolves.toMatchObject({ payload: { sub: 'alice' } });
    expect(logs.entries()).toEqual([
      expect.objectContaining({ level: 'warn', upstream: 'jwks' }),
      expect.objectContaining({ level: 'info', upstream: 'jwks', failedRequests: 5, failedFast: 0, durationMs: 5000 }),
    ]);
  },
);

describe('remoteKeys: what the JWKS endpoint answers instead of a key set', () => {
  let endpoint: Listening;
  /** What the endpoint answers next: status, content type and body. */
  let answer: { status: number; type: string; body: string };
  /** The Accept header of each fetch, in order. */
  let accepted: (string | undefined)[];
  let jwk: JWK;
  let token: string;
  let upstreams: Upstream[] = [];

  beforeAll(async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
    token = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(privateKey);
    endpoint = await listen((req, res) => {
      accepted.push(req.headers.accept);
      res.writeHead(answer.status, { 'content-type': answer.type }).end(answer.body);
    });
  });
  afterAll(() => endpoint.close());
  beforeEach(() => {
    answer = { status: 200, type: 'application/json', body: JSON.stringify({ keys: [jwk] }) };
    accepted = [];
  });
  afterEach(async () => {
    await Promise.all(upstreams.map((upstream) => upstream.close()));
    upstreams = [];
  });

  function keys(cooldownMs = 0): JWTVerifyGetKey {
    const upstream = createUpstream({
      name: 'jwks',
      timeoutMs: 2000,
      metrics: createMetrics(new Registry(), { defaultMetrics: false }),
      logger: createLogger('silent'),
    });
    upstreams.push(upstream);
    return remoteKeys({ url: `${endpoint.url}/jwks`, cooldownMs, upstream });
  }

  test('a key set is fetched with the Accept header jose asks for, and its key verifies the token', async () => {
    await expect(jwtVerify(token, keys())).resolves.toMatchObject({ payload: { sub: 'alice' } });
    expect(accepted).toHaveLength(1);
    expect(accepted[0]).toMatch(/application\/json/);
  });

  test.each([
    ['a 404', 502, { status: 404, type: 'text/plain', body: 'not found' }, 'jwks answered HTTP 404'],
    ['a 200 that is not JSON', 502, { status: 200, type: 'text/html', body: '<html></html>' }, 'jwks answered a 200 that is not JSON'],
    [
      'JSON that is no key set',
      502,
      { status: 200, type: 'application/json', body: '{"keys":"none"}' },
      /^jwks answered something that is not a key set/,
    ],
    ['a 503', 503, { status: 503, type: 'text/plain', body: 'busy' }, 'jwks answered 503'],
  ])('%s is %d M_UNKNOWN (never a verdict on the token), its detail saying what came', async (_name, status, given, detail) => {
    answer = given;
    const seen = await refusal(jwtVerify(token, keys()));
    expect(seen).toMatchObject({ status, body: { errcode: 'M_UNKNOWN' }, detail: expect.stringMatching(detail) });
    if (status === 503) expect(seen.headers['Retry-After']).toBe('1');
  });

  test('an unknown kid within the cooldown is 503, Retry-After the cooldown; the detail quotes the kid, cut to 64 characters', async () => {
    const known = keys(JWKS_COOLDOWN_MS);
    await jwtVerify(token, known);
    const { privateKey } = await generateKeyPair('ES256');
    const kid = `rotated-${'x'.repeat(100)}`;
    const unknown = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'ES256', kid }).sign(privateKey);
    const seen = await refusal(jwtVerify(unknown, known));
    expect(seen).toMatchObject({
      status: 503,
      body: { errcode: 'M_UNKNOWN' },
      headers: { 'Retry-After': String(JWKS_COOLDOWN_MS / 1000) },
    });
    expect(seen.detail).toContain(JSON.stringify(kid.slice(0, 64)));
    expect(seen.detail).not.toContain(kid);
    expect(accepted).toHaveLength(1);
  });
});

describe('staticKeys', () => {
  test('a changed key that does not parse is logged once per content, naming the setting; the previous key stays', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const token = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'ES256' }).sign(privateKey);
    const logs = captureLogs();
    let text = JSON.stringify(await exportJWK(publicKey));
    const keys = staticKeys({ current: () => text }, createLogger('info', logs.stream));
    text = 'not a key';
    await expect(jwtVerify(token, keys)).resolves.toMatchObject({ payload: { sub: 'alice' } });
    await expect(jwtVerify(token, keys)).resolves.toMatchObject({ payload: { sub: 'alice' } });
    text = 'still not a key';
    await expect(jwtVerify(token, keys)).resolves.toMatchObject({ payload: { sub: 'alice' } });
    expect(logs.entries()).toEqual([
      expect.objectContaining({ level: 'error', setting: 'JWT_PUBLIC_KEY', problem: expect.stringMatching(/^JWT_PUBLIC_KEY /) }),
      expect.objectContaining({ level: 'error', setting: 'JWT_PUBLIC_KEY' }),
    ]);
  });
});
