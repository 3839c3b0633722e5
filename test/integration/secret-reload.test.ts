// A secret file re-read while the service runs is held to the rules it was held to at
// start: a value that breaks them is refused, the last good one stays in force, the
// refusal is logged once (the file and the rule, never the value) and counted in
// matrix_turn_secret_reload_failures_total{secret}. The real service in-process, asked
// over HTTP; each wait is for what a user or an operator would see, with a deadline.

import { createHmac, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { startHomeserver, type StandInHomeserver } from '../helpers/homeserver.js';
import { metricValue } from '../helpers/replicas.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { waitFor } from '../helpers/wait.js';

const FAILURES = 'matrix_turn_secret_reload_failures_total';
const hmac = (secret: string, username: string) => createHmac('sha1', secret).update(username).digest('base64');

let homeserver: StandInHomeserver;
let tmp: string;
const running: TestService[] = [];

async function service(env: Record<string, string | undefined>): Promise<TestService> {
  const started = await startTestService({ HOMESERVER_URL: homeserver.url, LOG_LEVEL: 'info', RATE_LIMIT_BURST: '1000', ...env });
  running.push(started);
  return started;
}

async function credentials(svc: TestService, token: string): Promise<{ status: number; username: string; password: string }> {
  const res = await svc.turnServer(token);
  const body = (await res.json()) as { username: string; password: string };
  return { status: res.status, username: body.username, password: body.password };
}

const failures = async (svc: TestService, secret: string) => metricValue(await svc.metrics(), FAILURES, { secret });

/** The service's log entries about one secret file: refusals (error) and changes taken (info). */
function about(svc: TestService, setting: string): { level: string; msg: string }[] {
  return svc.logs
    .entries()
    .filter((e) => e.setting === setting)
    .map((e) => ({ level: String(e.level), msg: String(e.msg) }));
}

/** Waits for the service to have said something about the file since `seen` entries, and returns what it said first. */
async function nextWord(svc: TestService, setting: string, seen: number): Promise<{ level: string; msg: string }> {
  return waitFor(() => about(svc, setting)[seen], { what: `the service to log the re-read of ${setting}` });
}

beforeAll(async () => {
  homeserver = await startHomeserver();
  homeserver.addToken('reload-token', { userId: '@rae:example.org' });
  tmp = mkdtempSync(join(tmpdir(), 'mtc-secret-reload-'));
});
afterAll(async () => {
  await Promise.all(running.map((s) => s.stop()));
  await homeserver.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('TURN_SHARED_SECRET_FILE rewritten while running', () => {
  it(
    'to ",<new>" is refused: credentials stay signed with the old secret, one refusal is logged and counted; ' +
      'a good rewrite is then taken',
    async () => {
      const path = join(tmp, 'turn-shared-secret');
      writeFileSync(path, 'reload-old-secret-1a2\n');
      const svc = await service({ TURN_SHARED_SECRET: undefined, TURN_SHARED_SECRET_FILE: path });
      const first = await credentials(svc, 'reload-token');
      expect(first).toMatchObject({ status: 200, password: hmac('reload-old-secret-1a2', first.username) });
      // Present from the start, so an increase() alert sees the first failure.
      expect(await failures(svc, 'TURN_SHARED_SECRET_FILE')).toBe(0);

      writeFileSync(path, ',reload-new-secret-3b4\n');
      const said = await nextWord(svc, 'TURN_SHARED_SECRET_FILE', 0);
      expect(said).toEqual({ level: 'error', msg: expect.stringContaining(path) });
      expect(said.msg).toMatch(/refused.*has an empty entry in its comma-separated list.*keeping the previous value/);

      const after = await credentials(svc, 'reload-token');
      expect(after.status).toBe(200);
      expect(after.password).toBe(hmac('reload-old-secret-1a2', after.username));
      expect(after.password).not.toBe(hmac('', after.username));
      expect(await failures(svc, 'TURN_SHARED_SECRET_FILE')).toBe(1);

      writeFileSync(path, 'reload-new-secret-3b4,reload-old-secret-1a2\n');
      await waitFor(
        async () => {
          const now = await credentials(svc, 'reload-token');
          return now.password === hmac('reload-new-secret-3b4', now.username);
        },
        { intervalMs: 100, what: 'credentials signed with the good new secret' },
      );
      expect(about(svc, 'TURN_SHARED_SECRET_FILE')).toEqual([said, { level: 'info', msg: 'secret file changed; using the new value' }]);
      expect(await failures(svc, 'TURN_SHARED_SECRET_FILE')).toBe(1);
      expect(svc.logs.text()).not.toContain('reload-new-secret');
      expect(svc.logs.text()).not.toContain('reload-old-secret');
      expect(await svc.metrics()).not.toContain('reload-');
    },
  );
});

describe('JWT_PUBLIC_KEY_FILE rewritten while running', () => {
  const SERVER_NAME = 'example.org';
  const ISSUER = 'https://auth.example.org/';
  const AUDIENCE = 'https://turn.example.org';
  const pem = (key: KeyObject) => key.export({ type: 'spki', format: 'pem' }).toString();
  const token = (key: KeyObject) =>
    new SignJWT({ scope: 'urn:matrix:client:api:*', sub: 'rae' })
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(key);

  it('to a key none of JWT_ALGORITHMS verifies, or to no key, is refused: tokens of the old key are still served', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const path = join(tmp, 'jwt-public-key.pem');
    writeFileSync(path, pem(rsa.publicKey));
    const svc = await service({
      AUTH_METHOD: 'jwt',
      SERVER_NAME,
      JWT_ISSUER: ISSUER,
      JWT_AUDIENCE: AUDIENCE,
      JWT_ALGORITHMS: 'RS256',
      JWT_PUBLIC_KEY_FILE: path,
      HOMESERVER_URL: undefined,
    });
    expect((await svc.turnServer(await token(rsa.privateKey))).status).toBe(200);
    expect(await failures(svc, 'JWT_PUBLIC_KEY_FILE')).toBe(0);

    writeFileSync(path, pem(p384.publicKey));
    const said = await nextWord(svc, 'JWT_PUBLIC_KEY_FILE', 0);
    expect(said).toEqual({ level: 'error', msg: expect.stringContaining(path) });
    expect(said.msg).toMatch(/refused.*RS256 cannot verify any token with JWT_PUBLIC_KEY \(an EC P-384 key\), which verifies only ES384/);
    expect((await svc.turnServer(await token(rsa.privateKey))).status).toBe(200);

    writeFileSync(path, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIReloadTestKeyBody rae@example.org\n');
    const second = await nextWord(svc, 'JWT_PUBLIC_KEY_FILE', 1);
    expect(second).toEqual({ level: 'error', msg: expect.stringMatching(/refused.*is neither a PEM public key nor a JWK or JWK set/) });
    expect((await svc.turnServer(await token(rsa.privateKey))).status).toBe(200);
    expect(await failures(svc, 'JWT_PUBLIC_KEY_FILE')).toBe(2);
    expect(svc.logs.text()).not.toContain('ReloadTestKeyBody');
    expect(svc.logs.text()).not.toContain('BEGIN PUBLIC KEY');
  });
});

describe('every other secret file the service re-reads', () => {
  it.each([
    ['TURN_PASSWORD_FILE', { TURN_SHARED_SECRET: undefined, TURN_USERNAME: 'turn-user' }],
    [
      'INTROSPECTION_CLIENT_SECRET_FILE',
      {
        AUTH_METHOD: 'introspection',
        SERVER_NAME: 'example.org',
        INTROSPECTION_URL: 'https://auth.example.org/introspect',
        INTROSPECTION_CLIENT_ID: 'turn',
      },
    ],
    ['APPSERVICE_HS_TOKEN_FILE', { AUTH_METHOD: 'appservice', SERVER_NAME: 'example.org' }],
  ])('%s: an emptied or removed file is refused, logged once each and counted', async (setting, env) => {
    const path = join(tmp, setting.toLowerCase());
    writeFileSync(path, 'reload-secret-value-7c8\n');
    const svc = await service({ ...env, [setting]: path });
    expect(await failures(svc, setting)).toBe(0);

    writeFileSync(path, '  \n');
    expect(await nextWord(svc, setting, 0)).toEqual({ level: 'error', msg: expect.stringMatching(/is empty; keeping the previous value/) });
    unlinkSync(path);
    expect(await nextWord(svc, setting, 1)).toEqual({ level: 'error', msg: expect.stringMatching(/ENOENT.*keeping the previous value/) });
    expect(await failures(svc, setting)).toBe(2);
    if (setting === 'TURN_PASSWORD_FILE') expect((await credentials(svc, 'reload-token')).password).toBe('reload-secret-value-7c8');
    expect(svc.logs.text()).not.toContain('reload-secret-value');
  });
});
