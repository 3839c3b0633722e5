// Self-signed certificates made by openssl into a test's own folder: a test CA for Redis
// over TLS, a localhost certificate for coturn's TLS listener.

import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** `<name>.pem` and `<name>.key` in `dir`: an RSA certificate valid for a day, for `subject`, with `altNames` if given. */
export async function selfSignedCertificate(
  dir: string,
  name: string,
  options: { subject: string; altNames?: string },
): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  const altNames = options.altNames === undefined ? [] : ['-addext', `subjectAltName=${options.altNames}`];
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '1',
    '-subj',
    options.subject,
    ...altNames,
  ]);
  return { cert, key };
}
