// A real coturn on a free loopback port with use-auth-secret, and turnutils_uclient to
// try an allocation with given credentials. Optionally TLS on a second port, with a
// self-signed certificate for localhost and 127.0.0.1 made by openssl for the test (its
// PEM is the CA a client trusts); optionally on a given port, to restart a coturn where
// the one before it stood; extra arguments pass through (--user-quota, --redis-userdb).

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selfSignedCertificate } from './openssl.js';
import { freePort } from './ports.js';
import { waitForPort } from './redis.js';

export interface CoturnOptions {
  /** static-auth-secret values; may be empty when extraArgs give coturn its secrets (--redis-userdb). */
  secrets: string[];
  realm?: string;
  /** Listen on this port (UDP and TCP) instead of a free one: to restart a coturn on the same port. */
  port?: number;
  /** Also listen with TLS on a second free port, with a self-signed certificate (tlsPort, caPem). */
  tls?: boolean;
  /** More turnserver arguments, e.g. ['--user-quota=1']. */
  extraArgs?: string[];
}

export interface AllocateOptions {
  /** Another port than the coturn's own (a closed one, another server's). */
  port?: number;
  /** Over TCP instead of UDP. */
  tcp?: boolean;
}

export interface Coturn {
  readonly port: number;
  /** The TLS listener's port, when started with tls. */
  readonly tlsPort?: number;
  /** The self-signed certificate coturn presents on tlsPort (PEM), to trust as a CA; when started with tls. */
  readonly caPem?: string;
  /** Tries a TURN allocation (and a short relayed exchange); true if coturn accepted the credentials. */
  allocate(username: string, password: string, options?: AllocateOptions): Promise<{ ok: boolean; output: string }>;
  /** What coturn has logged so far (its reasons for refusing an allocation are here). */
  log(): string;
  stop(): Promise<void>;
}

/** turnserver's arguments for a coturn on loopback only (use-auth-secret), its files in `dir`; the bench's coturn has these too. */
export function loopbackCoturnArgs(options: {
  port: number;
  dir: string;
  secrets: readonly string[];
  realm: string;
  tls?: { port: number; cert: string; key: string } | undefined;
  extraArgs?: readonly string[] | undefined;
}): string[] {
  const { port, dir, tls } = options;
  return [
    '-n',
    '--listening-ip=127.0.0.1',
    '--relay-ip=127.0.0.1',
    `--listening-port=${port}`,
    '--use-auth-secret',
    ...options.secrets.map((s) => `--static-auth-secret=${s}`),
    `--realm=${options.realm}`,
    ...(tls === undefined ? ['--no-tls'] : [`--tls-listening-port=${tls.port}`, `--cert=${tls.cert}`, `--pkey=${tls.key}`]),
    '--no-dtls',
    '--no-cli',
    '--allow-loopback-peers',
    '--log-file=stdout',
    '--simple-log',
    '--min-port=49152',
    '--max-port=65535',
    `--db=${join(dir, 'turndb')}`,
    `--pidfile=${join(dir, 'turnserver.pid')}`,
    ...(options.extraArgs ?? []),
  ];
}

export async function startCoturn(options: CoturnOptions): Promise<Coturn> {
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'mtc-coturn-'));
  const tls =
    options.tls === true
      ? {
          port: await freePort(),
          ...(await selfSignedCertificate(dir, 'cert', { subject: '/CN=localhost', altNames: 'DNS:localhost,IP:127.0.0.1' })),
        }
      : undefined;
  const args = loopbackCoturnArgs({
    port,
    dir,
    secrets: options.secrets,
    realm: options.realm ?? 'example.org',
    tls,
    extraArgs: options.extraArgs,
  });
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
  const stop = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        rmSync(dir, { recursive: true, force: true });
        resolve();
      };
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return done();
      child.once('exit', done);
      child.kill('SIGTERM');
    });
  try {
    // coturn opens its TCP listener on the same port once it serves (and the TLS one beside it).
    await Promise.race([waitForPort(port, 10_000), exited]);
    if (tls !== undefined) await Promise.race([waitForPort(tls.port, 10_000), exited]);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    port,
    ...(tls !== undefined && { tlsPort: tls.port, caPem: readFileSync(tls.cert, 'utf8') }),
    log: () => log,
    allocate: (username, password, allocateOptions = {}) =>
      new Promise((resolve) => {
        execFile(
          'turnutils_uclient',
          [
            '-y',
            '-n',
            '1',
            ...(allocateOptions.tcp === true ? ['-t'] : []),
            '-p',
            String(allocateOptions.port ?? port),
            '-u',
            username,
            '-w',
            password,
            '127.0.0.1',
          ],
          // A successful run exchanges data for about 5 s; room for a loaded machine.
          { timeout: 45_000 },
          (error, stdout, stderr) => resolve({ ok: error === null, output: `${stdout}${stderr}` }),
        );
      }),
    stop,
  };
}
