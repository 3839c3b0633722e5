// AUTH_METHOD=appservice end to end: the homeserver proxies the route, presents the
// registration's hs_token and names the user in X-Matrix-User-Identifier; no upstream is
// asked. Each wrong case gets its own status, and the hs_token is never logged.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestService, type TestService } from '../helpers/service.js';
import { waitFor } from '../helpers/wait.js';

const HS_TOKEN = 'as-hs-token-4c1e7b2a9d';
const USER_HEADER = 'X-Matrix-User-Identifier';

describe('appservice mode', () => {
  let service: TestService;
  const dir = mkdtempSync(join(tmpdir(), 'mtc-appservice-'));

  beforeAll(async () => {
    service = await startTestService({
      AUTH_METHOD: 'appservice',
      APPSERVICE_HS_TOKEN: HS_TOKEN,
      SERVER_NAME: 'example.org',
      RATE_LIMIT_BURST: '1000',
      UNKNOWN_TOKEN_RATE_LIMIT_BURST: '1000',
    });
  });
  afterAll(async () => {
    await service?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const ask = async (token: string | undefined, user?: string, path?: string) => {
    const res = await service.turnServer(token, { headers: user === undefined ? {} : { [USER_HEADER]: user }, ...(path && { path }) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('the right hs_token and a user of this server get credentials for that user', async () => {
    const { status, body } = await ask(HS_TOKEN, '@alice:example.org');
    expect(status).toBe(200);
    expect(body.username).toMatch(/^\d+:@alice:example\.org$/);
    expect(body.uris).toEqual(service.config.turn.servers[0]!.uris);
  });

  it('accepts the hs_token in the access_token query parameter too, as homeservers send it', async () => {
    const { status } = await ask(undefined, '@bob:example.org', `/_matrix/client/v3/voip/turnServer?access_token=${HS_TOKEN}`);
    expect(status).toBe(200);
  });

  it.each([
    { name: 'a wrong token', token: 'not-the-hs-token', user: '@alice:example.org', status: 401, errcode: 'M_UNKNOWN_TOKEN' },
    { name: 'no token', token: undefined, user: '@alice:example.org', status: 401, errcode: 'M_MISSING_TOKEN' },
    { name: 'no user header', token: HS_TOKEN, user: undefined, status: 403, errcode: 'M_FORBIDDEN' },
    { name: 'a malformed user id', token: HS_TOKEN, user: 'alice', status: 403, errcode: 'M_FORBIDDEN' },
    { name: 'a user of another server', token: HS_TOKEN, user: '@alice:evil.example', status: 403, errcode: 'M_FORBIDDEN' },
  ])('$name is $status $errcode', async ({ token, user, status, errcode }) => {
    expect(await ask(token, user)).toMatchObject({ status, body: { errcode } });
  });

  it('asks no upstream, and counts its verifications', async () => {
    const metrics = await service.metrics();
    expect(metrics).not.toMatch(/matrix_turn_upstream_request_duration_seconds_count\{/);
    expect(metrics).toMatch(/matrix_turn_token_verifications_total\{method="appservice",result="valid"\} [1-9]/);
    expect(metrics).toMatch(/matrix_turn_token_verifications_total\{method="appservice",result="invalid"\} [1-9]/);
  });

  it('follows APPSERVICE_HS_TOKEN_FILE when the file changes, without a restart', async () => {
    const path = join(dir, 'hs_token');
    writeFileSync(path, 'first-hs-token\n');
    const fromFile = await startTestService({ AUTH_METHOD: 'appservice', APPSERVICE_HS_TOKEN_FILE: path, SERVER_NAME: 'example.org' });
    try {
      const ask = (token: string) => fromFile.turnServer(token, { headers: { [USER_HEADER]: '@carol:example.org' } }).then((r) => r.status);
      expect(await ask('first-hs-token')).toBe(200);
      writeFileSync(path, 'second-hs-token-longer\n');
      await waitFor(async () => (await ask('second-hs-token-longer')) === 200, {
        timeoutMs: 20_000,
        intervalMs: 100,
        what: 'the new hs_token to be accepted',
      });
      expect(await ask('first-hs-token')).toBe(401);
    } finally {
      await fromFile.stop();
    }
  });

  it('never logs the hs_token', () => {
    expect(service.logs.text()).not.toContain(HS_TOKEN);
  });
});
