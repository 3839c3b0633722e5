// examples/compose/coturn/turnserver.conf read by a real coturn: every line of it is an
// option coturn knows (coturn only logs "Bad configuration format" for one it does not,
// and runs on), and with the secret appended as the Compose file appends it, coturn
// accepts the credentials the service issues and refuses ones signed with another secret.
// For the test only, coturn listens on a free loopback port, relays on loopback and may
// relay to loopback (the example denies that, rightly), all given on the command line.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHomeserver, type StandInHomeserver } from '../../helpers/homeserver.js';
import { freePort } from '../../helpers/ports.js';
import { waitForPort } from '../../helpers/redis.js';
import { startTestService, type TestService } from '../../helpers/service.js';
import { exampleText } from './example-files.js';

const SECRET = 'example-coturn-secret-3f9a';
// A successful allocation exchanges data for about 5 s; room for a loaded machine.
const ALLOCATION_TIMEOUT_MS = 60_000;

let dir: string;
let coturn: ChildProcess;
let coturnLog = '';
let port: number;
let homeserver: StandInHomeserver;
const services: TestService[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mtc-example-coturn-'));
  const config = join(dir, 'turnserver.conf');
  // What the Compose file's start writes: the example, then the secret's line.
  writeFileSync(config, `${exampleText('compose/coturn/turnserver.conf')}static-auth-secret=${SECRET}\n`);
  port = await freePort();
  coturn = spawn(
    'turnserver',
    [
      '-c',
      config,
      '--listening-ip=127.0.0.1',
      '--relay-ip=127.0.0.1',
      `--listening-port=${port}`,
      '--allow-loopback-peers',
      '--allowed-peer-ip=127.0.0.1',
      `--db=${join(dir, 'turndb')}`,
      `--pidfile=${join(dir, 'turnserver.pid')}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  coturn.stdout?.on('data', (d: Buffer) => (coturnLog += d.toString()));
  coturn.stderr?.on('data', (d: Buffer) => (coturnLog += d.toString()));
  await waitForPort(port, 10_000);
  homeserver = await startHomeserver();
  homeserver.addToken('alice-token', { userId: '@alice:example.org' });
});

afterAll(async () => {
  await Promise.all(services.map((s) => s.stop()));
  await homeserver?.close();
  if (coturn && coturn.exitCode === null && coturn.signalCode === null) {
    const exited = new Promise((resolve) => coturn.once('exit', resolve));
    coturn.kill('SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

async function credentialsSignedWith(secret: string): Promise<{ username: string; password: string }> {
  const service = await startTestService({
    HOMESERVER_URL: homeserver.url,
    TURN_URIS: `turn:127.0.0.1:${port}?transport=udp`,
    TURN_SHARED_SECRET: secret,
    TURN_HEALTH_CHECK_INTERVAL: '0',
    LOG_LEVEL: 'warn',
  });
  services.push(service);
  const answer = await service.turnServer('alice-token');
  expect(answer.status).toBe(200);
  return (await answer.json()) as { username: string; password: string };
}

const allocate = (username: string, password: string) =>
  new Promise<{ ok: boolean; output: string }>((resolve) => {
    execFile(
      'turnutils_uclient',
      ['-y', '-n', '1', '-p', String(port), '-u', username, '-w', password, '127.0.0.1'],
      { timeout: ALLOCATION_TIMEOUT_MS },
      (error, stdout, stderr) => resolve({ ok: error === null, output: `${stdout}${stderr}` }),
    );
  });

test(
  "accepts the service's credentials signed with the same secret, and refuses another secret's",
  async () => {
    const good = await credentialsSignedWith(SECRET);
    const accepted = await allocate(good.username, good.password);
    expect({ ok: accepted.ok, output: accepted.ok ? '' : accepted.output }).toEqual({ ok: true, output: '' });

    const other = await credentialsSignedWith('some-other-secret');
    expect((await allocate(other.username, other.password)).ok).toBe(false);
    expect(coturnLog).toContain(`check_stun_auth: Cannot find credentials of user <${other.username}>`);
  },
  ALLOCATION_TIMEOUT_MS * 2,
);

// Last, once coturn has stopped: its output reaches the pipe in blocks, all of it by exit.
test('coturn knew every option of the example', async () => {
  const exited = new Promise((resolve) => coturn.once('exit', resolve));
  coturn.kill('SIGTERM');
  await exited;
  expect(coturnLog.split('\n').filter((line) => line.includes('Bad configuration format'))).toEqual([]);
});
