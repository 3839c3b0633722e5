// A real coturn on a free loopback port with use-auth-secret, and turnutils_uclient to
// try an allocation with given credentials.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { waitForPort } from './redis.js';

export interface Coturn {
  readonly port: number;
  /** Tries a TURN allocation (and a short relayed exchange); true if coturn accepted the credentials. */
  allocate(username: string, password: string): Promise<{ ok: boolean; output: string }>;
  /** What coturn has logged so far (its reasons for refusing an allocation are here). */
  log(): string;
  stop(): Promise<void>;
}

export async function startCoturn(options: { secrets: string[]; realm?: string }): Promise<Coturn> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'mtc-coturn-'));
  const args = [
    '-n',
    '--listening-ip=127.0.0.1',
    '--relay-ip=127.0.0.1',
    `--listening-port=${port}`,
    '--use-auth-secret',
    ...options.secrets.map((s) => `--static-auth-secret=${s}`),
    `--realm=${options.realm ?? 'example.org'}`,
    '--no-tls',
    '--no-dtls',
    '--no-cli',
    '--allow-loopback-peers',
    '--log-file=stdout',
    '--simple-log',
    '--min-port=49152',
    '--max-port=65535',
    `--db=${join(dir, 'turndb')}`,
    `--pidfile=${join(dir, 'turnserver.pid')}`,
  ];
  const child: ChildProcess = spawn('turnserver', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<never>((_, reject) => {
    child.once('exit', (code) => reject(new Error(`coturn exited ${code}:\n${log}`)));
    // Not installed: say so, rather than time out waiting for a port (.ci/run installs it).
    child.once('error', (error) => reject(new Error(`cannot start turnserver (apt-get install coturn): ${error.message}`)));
  });
  exited.catch(() => {});
  // coturn opens its TCP listener on the same port once it serves.
  await Promise.race([waitForPort(port, 10_000), exited]);
  return {
    port,
    log: () => log,
    allocate: (username, password) =>
      new Promise((resolve) => {
        execFile(
          'turnutils_uclient',
          ['-y', '-n', '1', '-p', String(port), '-u', username, '-w', password, '127.0.0.1'],
          // A successful run exchanges data for about 5 s; room for a loaded machine.
          { timeout: 45_000 },
          (error, stdout, stderr) => resolve({ ok: error === null, output: `${stdout}${stderr}` }),
        );
      }),
    stop: () =>
      new Promise<void>((resolve) => {
        const done = () => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        };
        if (child.exitCode !== null) return done();
        child.once('exit', done);
        child.kill('SIGTERM');
      }),
  };
}
