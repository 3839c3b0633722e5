// A real redis-server that speaks TLS, with a throwaway CA and a server certificate for
// "localhost" made by openssl for the test. The plain port stays open for the test's own
// inspection; the code under test is given the TLS port.

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { selfSignedCertificate } from './openssl.js';
import { freePort } from './ports.js';
import { startRedis, waitForPort, type RedisProcess } from './redis.js';

const run = promisify(execFile);

export interface TlsRedis {
  readonly redis: RedisProcess;
  readonly tlsPort: number;
  /** The CA that signed the server certificate (PEM file). */
  readonly caFile: string;
  /** Another CA, which did not: a client trusting only it must refuse the server. */
  readonly otherCaFile: string;
  stop(): Promise<void>;
}

function makeCa(dir: string, name: string): Promise<{ cert: string; key: string }> {
  return selfSignedCertificate(dir, name, { subject: `/CN=${name}` });
}

export async function startTlsRedis(): Promise<TlsRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'mtc-redis-tls-'));
  try {
    const ca = await makeCa(dir, 'test-ca');
    const other = await makeCa(dir, 'other-ca');
    const serverKey = join(dir, 'server.key');
    const serverCsr = join(dir, 'server.csr');
    const serverCert = join(dir, 'server.pem');
    const extensions = join(dir, 'server.ext');
    writeFileSync(extensions, 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
    await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', serverKey, '-out', serverCsr, '-subj', '/CN=localhost']);
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      serverCsr,
      '-CA',
      ca.cert,
      '-CAkey',
      ca.key,
      '-CAcreateserial',
      '-out',
      serverCert,
      '-days',
      '1',
      '-extfile',
      extensions,
    ]);
    const tlsPort = await freePort();
    const redis = await startRedis({
      args: [
        '--tls-port',
        String(tlsPort),
        '--tls-cert-file',
        serverCert,
        '--tls-key-file',
        serverKey,
        '--tls-ca-cert-file',
        ca.cert,
        '--tls-auth-clients',
        'no',
      ],
    });
    await waitForPort(tlsPort, 10_000);
    return {
      redis,
      tlsPort,
      caFile: ca.cert,
      otherCaFile: other.cert,
      async stop() {
        await redis.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
