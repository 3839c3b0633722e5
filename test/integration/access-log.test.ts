// The access log as an operator reads it, through the running service: an error answer's
// line names its errcode; every answer carries an X-Request-ID that its line carries too
// (a trusted proxy's own id when TRUST_PROXY is on and the id is sound, never a client's);
// the client's address is the peer, or the proxy's forwarded one with TRUST_PROXY, and
// LOG_CLIENT_ADDRESS=false leaves it out; the user hash is keyed, HMAC-SHA256(key, user id)
// cut to 16 hex digits, under LOG_USER_HASH_KEY or a key derived from the TURN shared
// secret; and no line holds a token or a secret.

import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { USER_HASH_KEY_LABEL } from '../../src/http/user-hash.js';
import { startHomeserver, type StandInHomeserver } from '../helpers/homeserver.js';
import { startTestService, TEST_SECRET, type TestService } from '../helpers/service.js';

const GENERATED_ID = /^[0-9a-f]{12}-[0-9a-z]+$/;
const HASH_KEY = 'log-hash-key-4b1d9e0c7a2f5e83';

let homeserver: StandInHomeserver;
const services: TestService[] = [];
const tokens: string[] = [];
let serial = 0;

/** A token the homeserver knows, for a user of its own. */
function tokenFor(userId = `@user${++serial}:example.org`): { token: string; userId: string } {
  const token = `syt_access_log_${serial}_${Math.random().toString(36).slice(2)}`;
  homeserver.addToken(token, { userId });
  tokens.push(token);
  return { token, userId };
}

async function service(env: Record<string, string | undefined> = {}): Promise<TestService> {
  const svc = await startTestService({ HOMESERVER_URL: homeserver.url, LOG_LEVEL: 'info', ...env });
  services.push(svc);
  return svc;
}

/** The access line of the answer that carried this X-Request-ID; exactly one. */
function lineOf(svc: TestService, res: Response): Record<string, unknown> {
  const id = res.headers.get('x-request-id');
  const lines = svc.logs.entries().filter((entry) => entry.msg === 'request' && entry.requestId === id);
  expect(lines).toHaveLength(1);
  return lines[0]!;
}

const hmacHex = (key: string | Buffer, userId: string) => createHmac('sha256', key).update(userId).digest('hex').slice(0, 16);

beforeAll(async () => {
  homeserver = await startHomeserver();
});

afterAll(async () => {
  await Promise.allSettled(services.map((s) => s.stop()));
  await homeserver?.close();
});

describe('by default', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await service({ RATE_LIMIT_BURST: '1', RATE_LIMIT_PER_SECOND: '0.0001' });
  });

  it('a 401 line has errcode M_UNKNOWN_TOKEN and the request id the answer gave', async () => {
    const res = await svc.turnServer('syt_nobody_knows_this_token');
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ errcode: 'M_UNKNOWN_TOKEN' });
    expect(res.headers.get('x-request-id')).toMatch(GENERATED_ID);
    expect(lineOf(svc, res)).toMatchObject({
      level: 'info',
      route: '/_matrix/client/v3/voip/turnServer',
      status: 401,
      errcode: 'M_UNKNOWN_TOKEN',
      requestId: res.headers.get('x-request-id'),
      clientAddress: '127.0.0.1',
    });
  });

  it('a request without a token is M_MISSING_TOKEN, one over the limit M_LIMIT_EXCEEDED', async () => {
    const missing = await svc.turnServer();
    expect(lineOf(svc, missing)).toMatchObject({ status: 401, errcode: 'M_MISSING_TOKEN' });
    const { token } = tokenFor();
    expect((await svc.turnServer(token)).status).toBe(200);
    const limited = await svc.turnServer(token);
    expect(limited.status).toBe(429);
    expect(lineOf(svc, limited)).toMatchObject({ status: 429, errcode: 'M_LIMIT_EXCEEDED' });
  });

  it('a 200 line has no errcode, and the user as HMAC under the key derived from TURN_SHARED_SECRET', async () => {
    const { token, userId } = tokenFor();
    const res = await svc.turnServer(token);
    expect(res.status).toBe(200);
    const line = lineOf(svc, res);
    expect(line).not.toHaveProperty('errcode');
    expect(line).not.toHaveProperty('userId');
    const derivedKey = createHmac('sha256', TEST_SECRET).update(USER_HASH_KEY_LABEL).digest();
    expect(line.userHash).toBe(hmacHex(derivedKey, userId));
  });

  it("ignores a client's X-Request-ID and X-Forwarded-For", async () => {
    const res = await svc.turnServer('syt_nobody_knows_this_token', {
      headers: { 'x-request-id': 'chosen-by-the-client', 'x-forwarded-for': '203.0.113.9' },
    });
    expect(res.headers.get('x-request-id')).toMatch(GENERATED_ID);
    expect(lineOf(svc, res)).toMatchObject({ clientAddress: '127.0.0.1' });
  });

  it('gives other routes and refusals an id too', async () => {
    for (const [path, errcode] of [
      ['/healthz', undefined],
      ['/nowhere', 'M_UNRECOGNIZED'],
    ] as const) {
      const res = await fetch(`${svc.url}${path}`);
      expect(res.headers.get('x-request-id')).toMatch(GENERATED_ID);
      if (errcode !== undefined) expect(lineOf(svc, res).errcode).toBe(errcode);
    }
  });
});

describe('with TRUST_PROXY=true', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await service({ TRUST_PROXY: 'true' });
  });

  it("answers and logs with the proxy's X-Request-ID and forwarded address", async () => {
    const res = await svc.turnServer('syt_nobody_knows_this_token', {
      headers: { 'x-request-id': '0f9c2d1e7a6b4c3d8e9f0a1b2c3d4e5f', 'x-forwarded-for': '198.51.100.1, 2001:db8:1:2::9' },
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('x-request-id')).toBe('0f9c2d1e7a6b4c3d8e9f0a1b2c3d4e5f');
    expect(lineOf(svc, res)).toMatchObject({ errcode: 'M_UNKNOWN_TOKEN', clientAddress: '2001:db8:1:2::9' });
  });

  it('replaces an id that is too long or not printable', async () => {
    for (const bad of ['x'.repeat(129), 'with"quote']) {
      const res = await svc.turnServer('syt_nobody_knows_this_token', { headers: { 'x-request-id': bad } });
      expect(res.headers.get('x-request-id')).toMatch(GENERATED_ID);
      expect(lineOf(svc, res).requestId).toMatch(GENERATED_ID);
    }
  });
});

describe('LOG_CLIENT_ADDRESS=false', () => {
  it('leaves the address out of every line', async () => {
    const svc = await service({ LOG_CLIENT_ADDRESS: 'false', TRUST_PROXY: 'true' });
    const { token } = tokenFor();
    for (const res of [
      await svc.turnServer(token),
      await svc.turnServer('syt_unknown', { headers: { 'x-forwarded-for': '203.0.113.9' } }),
    ]) {
      expect(lineOf(svc, res)).not.toHaveProperty('clientAddress');
    }
    const lines = svc.logs.entries().filter((entry) => entry.msg === 'request');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const line of lines) expect(line).not.toHaveProperty('clientAddress');
    expect(svc.logs.text()).not.toContain('203.0.113.9');
  });
});

describe('LOG_USER_HASH_KEY', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'access-log-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keys the hash: HMAC(key, user id) cut to 16 hex digits, another key another hash, given inline or as a file', async () => {
    const path = join(dir, 'key');
    writeFileSync(path, 'another-hash-key-77e0c4d2a9b1\n');
    const keyed = await service({ LOG_USER_HASH_KEY: HASH_KEY });
    const fromFile = await service({ LOG_USER_HASH_KEY_FILE: path });
    const { token, userId } = tokenFor();
    const a = lineOf(keyed, await keyed.turnServer(token));
    const b = lineOf(fromFile, await fromFile.turnServer(token));
    expect(a.userHash).toBe(hmacHex(HASH_KEY, userId));
    expect(b.userHash).toBe(hmacHex('another-hash-key-77e0c4d2a9b1', userId));
    expect(a.userHash).not.toBe(b.userHash);
  });

  it('refuses a short key, without showing it', () => {
    let refused: unknown;
    try {
      loadConfig({
        HOMESERVER_URL: 'https://hs.example.org',
        TURN_URIS: 'turn:t.example.org',
        TURN_SHARED_SECRET: 's',
        LOG_USER_HASH_KEY: 'short-k3y',
      });
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(ConfigError);
    expect((refused as ConfigError).problems).toEqual([expect.stringMatching(/^LOG_USER_HASH_KEY: must be at least 16 characters/)]);
    expect((refused as ConfigError).message).not.toContain('short-k3y');
  });
});

test('no line of any service above holds a token, the TURN secret, the hash key or a key derived from them', () => {
  const derived = createHmac('sha256', TEST_SECRET).update(USER_HASH_KEY_LABEL).digest();
  const forbidden = [
    ...tokens,
    'syt_nobody_knows_this_token',
    TEST_SECRET,
    HASH_KEY,
    'another-hash-key-77e0c4d2a9b1',
    derived.toString('hex'),
  ];
  const everything = services.map((svc) => svc.logs.text()).join('\n');
  expect(services.length).toBeGreaterThan(4);
  for (const secret of forbidden) expect(everything).not.toContain(secret);
  expect(everything).not.toContain(derived.toString('base64'));
});
