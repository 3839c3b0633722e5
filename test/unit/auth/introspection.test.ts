// The introspection verifier against a scripted RFC 7662 endpoint on loopback: what it
// sends for each client authentication method, and how it reads every kind of answer,
// including the malformed ones a real OAuth server will not produce on demand.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { introspectionVerifier, type IntrospectionClientAuth, type IntrospectionOptions } from '../../../src/auth/introspection.js';
import type { TokenVerifier } from '../../../src/auth/types.js';
import { createUpstream, type Upstream } from '../../../src/auth/upstream.js';
import { createLogger } from '../../../src/logger.js';
import { createMetrics } from '../../../src/metrics.js';
import { captureLogs } from '../../helpers/logs.js';
import { freePort } from '../../helpers/ports.js';
import { refusal } from '../../helpers/refusal.js';

const NOW_MS = 1_700_000_000_000;
const NOW_S = NOW_MS / 1000;
const MATRIX = 'urn:matrix:client:api:*';

interface Seen {
  headers: IncomingMessage['headers'];
  form: URLSearchParams;
}

/** Answers every POST with what the test put in `reply`, and remembers what it was sent. */
interface ScriptedEndpoint {
  url: string;
  seen: Seen[];
  reply: (res: ServerResponse) => void;
  close(): Promise<void>;
}

async function scriptedEndpoint(): Promise<ScriptedEndpoint> {
  const endpoint: ScriptedEndpoint = {
    url: '',
    seen: [],
    reply: (res) => json(res, 200, { active: false }),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      endpoint.seen.push({ headers: req.headers, form: new URLSearchParams(Buffer.concat(chunks).toString('utf8')) });
      endpoint.reply(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth2/introspect`;
  return endpoint;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

let endpoint: ScriptedEndpoint;
const upstreams: Upstream[] = [];

beforeAll(async () => {
  endpoint = await scriptedEndpoint();
});
afterAll(() => endpoint.close());
beforeEach(() => {
  endpoint.seen = [];
});
afterEach(async () => {
  await Promise.all(upstreams.splice(0).map((u) => u.close()));
});

function verifier(overrides: Partial<IntrospectionOptions> & { timeoutMs?: number } = {}): TokenVerifier {
  const { timeoutMs, ...rest } = overrides;
  // A breaker that never opens: these tests are about single answers.
  const upstream = createUpstream({
    name: 'introspection',
    timeoutMs: timeoutMs ?? 2000,
    metrics: createMetrics(new Registry(), { defaultMetrics: false }),
    logger: createLogger('silent', captureLogs().stream),
    breakerFailureThreshold: 1000,
  });
  upstreams.push(upstream);
  return introspectionVerifier({
    url: endpoint.url,
    clientAuth: 'client_secret_basic',
    clientId: 'turn',
    clientSecret: { current: () => 'client-secret' },
    userClaim: 'username',
    serverName: 'example.org',
    upstream,
    clock: { nowMs: () => NOW_MS },
    ...rest,
  });
}

function answering(body: Record<string, unknown>, status = 200): void {
  endpoint.reply = (res) => json(res, status, body);
}

const active = (extra: Record<string, unknown> = {}) => ({ active: true, scope: `openid ${MATRIX}`, username: 'alice', ...extra });

describe('what is sent', () => {
  const authCases: [IntrospectionClientAuth, (seen: Seen) => void][] = [
    [
      'client_secret_basic',
      (seen) => {
        // RFC 6749 §2.3.1: form-encoded parts, so ':' and ' ' in the id and secret survive.
        const decoded = Buffer.from(String(seen.headers.authorization).replace(/^Basic /, ''), 'base64').toString('utf8');
        expect(decoded).toBe('turn%3Aservice:s3cret+with%2Fodd%3Achars');
        expect(seen.form.has('client_secret')).toBe(false);
      },
    ],
    [
      'client_secret_post',
      (seen) => {
        expect(seen.headers.authorization).toBeUndefined();
        expect(seen.form.get('client_id')).toBe('turn:service');
        expect(seen.form.get('client_secret')).toBe('s3cret with/odd:chars');
      },
    ],
    [
      'bearer',
      (seen) => {
        expect(seen.headers.authorization).toBe('Bearer s3cret with/odd:chars');
        expect(seen.form.has('client_id')).toBe(false);
        expect(seen.form.has('client_secret')).toBe(false);
      },
    ],
  ];

  it.each(authCases)('%s: the token as a form, with the client authenticated as RFC 6749 / MAS expect', async (clientAuth, check) => {
    answering(active());
    const v = verifier({ clientAuth, clientId: 'turn:service', clientSecret: { current: () => 's3cret with/odd:chars' } });
    await v.verify('the-access-token', {});
    expect(endpoint.seen).toHaveLength(1);
    const seen = endpoint.seen[0]!;
    expect(seen.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(seen.form.get('token')).toBe('the-access-token');
    expect(seen.form.get('token_type_hint')).toBe('access_token');
    check(seen);
  });

  it('reads the secret on every call, so a rotated secret file takes effect', async () => {
    answering(active());
    let secret = 'first';
    const v = verifier({ clientAuth: 'bearer', clientSecret: { current: () => secret } });
    await v.verify('t1', {});
    secret = 'second';
    await v.verify('t2', {});
    expect(endpoint.seen.map((s) => s.headers.authorization)).toEqual(['Bearer first', 'Bearer second']);
  });
});

describe('reading an answer about the token', () => {
  it('an active token with the stable scope is its user, expiring at the earlier of exp and expires_in', async () => {
    answering(active({ exp: NOW_S + 300, expires_in: 120 }));
    await expect(verifier().verify('t', {})).resolves.toEqual({
      userId: '@alice:example.org',
      isGuest: false,
      expiresAtMs: NOW_MS + 120_000,
    });
    answering(active({ exp: NOW_S + 60, expires_in: 120 }));
    await expect(verifier().verify('t', {})).resolves.toMatchObject({ expiresAtMs: NOW_MS + 60_000 });
  });

  it('without exp or expires_in (MAS compatibility tokens) there is no expiry of its own', async () => {
    answering(active());
    expect(await verifier().verify('t', {})).toEqual({ userId: '@alice:example.org', isGuest: false });
  });

  it.each([
    ['the unstable full scope', 'urn:matrix:org.matrix.msc2967.client:api:*', false],
    ['the full scope beside a guest scope', `urn:matrix:client:api:guest ${MATRIX}`, false],
    ['only the stable guest scope', 'urn:matrix:client:api:guest', true],
    ['only the unstable guest scope', 'openid urn:matrix:org.matrix.msc2967.client:api:guest', true],
  ])('%s', async (_name, scope, isGuest) => {
    answering(active({ scope }));
    await expect(verifier().verify('t', {})).resolves.toMatchObject({ userId: '@alice:example.org', isGuest });
  });

  it.each([
    ['inactive', { active: false }, false],
    ['a refresh token', active({ token_type: 'refresh_token' }), false],
    ['without any scope', active({ scope: undefined }), false],
    ['without the Matrix scope', active({ scope: 'openid email' }), false],
    ['with a look-alike scope', active({ scope: 'urn:matrix:client:api:*x urn:matrix:client:api' }), false],
    ['with a device scope only', active({ scope: 'urn:matrix:client:device:ABCDEF' }), false],
    ['for a user of another server', active({ username: '@alice:evil.example' }), false],
    ['for a localpart no homeserver allows', active({ username: 'Alice Smith' }), false],
    ['expired by exp, beyond the skew allowance', active({ exp: NOW_S - 31 }), true],
    ['expired by expires_in', active({ expires_in: 0 }), true],
  ])('%s is 401 M_UNKNOWN_TOKEN', async (_name, body, softLogout) => {
    answering(body);
    const r = await refusal(verifier().verify('t', {}));
    expect(r.status).toBe(401);
    expect(r.body).toEqual({ errcode: 'M_UNKNOWN_TOKEN', error: 'Unrecognised access token', soft_logout: softLogout });
  });

  it('forgives a little clock skew on exp', async () => {
    answering(active({ exp: NOW_S - 20 }));
    await expect(verifier().verify('t', {})).resolves.toMatchObject({ userId: '@alice:example.org', expiresAtMs: NOW_MS - 20_000 });
  });

  it('takes the user from INTROSPECTION_USER_CLAIM, a full user id of this server as it is', async () => {
    answering(active({ sub: '@bob:example.org' }));
    await expect(verifier({ userClaim: 'sub' }).verify('t', {})).resolves.toMatchObject({ userId: '@bob:example.org' });
    answering(active({ sub: 'carol' }));
    await expect(verifier({ userClaim: 'sub' }).verify('t', {})).resolves.toMatchObject({ userId: '@carol:example.org' });
  });
});

describe('an endpoint that refuses us or fails is 5xx M_UNKNOWN, never M_UNKNOWN_TOKEN', () => {
  const failures: [string, (res: ServerResponse) => void, number][] = [
    ['401 invalid_client (our credentials refused)', (res) => json(res, 401, { error: 'invalid_client' }), 502],
    ['400 invalid_request', (res) => json(res, 400, { error: 'invalid_request' }), 502],
    ['403 without a body', (res) => res.writeHead(403).end(), 502],
    ['500', (res) => json(res, 500, { error: 'server_error' }), 502],
    ['an HTML page with 200', (res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>'), 502],
    ['JSON without "active"', (res) => json(res, 200, { scope: MATRIX, username: 'alice' }), 502],
    ['"active" as a string', (res) => json(res, 200, { active: 'true', scope: MATRIX, username: 'alice' }), 502],
    ['a JSON array', (res) => json(res, 200, [{ active: true }]), 502],
    ['an active token without the user claim', (res) => json(res, 200, { active: true, scope: MATRIX }), 502],
    ['a user claim that is not a string', (res) => json(res, 200, { active: true, scope: MATRIX, username: 42 }), 502],
    ['an exp that is not a number', (res) => json(res, 200, active({ exp: 'tomorrow' })), 502],
    ['429', (res) => json(res, 429, { error: 'slow_down' }), 503],
    ['503', (res) => json(res, 503, {}), 503],
  ];

  it.each(failures)('%s', async (_name, reply, status) => {
    endpoint.reply = reply;
    const r = await refusal(verifier().verify('t', {}));
    expect(r.status).toBe(status);
    expect(r.body.errcode).toBe('M_UNKNOWN');
    if (status === 503) expect(r.headers['Retry-After']).toBe('1');
  });

  it('says in the log detail which settings to check when our credentials are refused', async () => {
    endpoint.reply = (res) => json(res, 401, { error: 'invalid_client' });
    const r = await refusal(verifier().verify('t', {}));
    expect(r.detail).toContain('refused our client credentials (invalid_client)');
    expect(r.detail).toContain('INTROSPECTION_CLIENT_SECRET');
    expect(r.detail).not.toContain('client-secret');
  });

  it('an endpoint that does not answer in time is 504', async () => {
    endpoint.reply = () => undefined;
    const r = await refusal(verifier({ timeoutMs: 150 }).verify('t', {}));
    expect(r).toMatchObject({ status: 504, body: { errcode: 'M_UNKNOWN' } });
  });

  it('an endpoint nobody listens on is 502', async () => {
    const r = await refusal(verifier({ url: `http://127.0.0.1:${await freePort()}/introspect` }).verify('t', {}));
    expect(r).toMatchObject({ status: 502, body: { errcode: 'M_UNKNOWN' } });
  });
});
