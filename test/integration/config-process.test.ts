// The built process (`node dist/src/main.js`, built by the tsc step of `npm test`) given
// bad configuration: it refuses to start with exit code 2 and one message on stderr that
// names every bad variable and why, and never prints a stack trace.

import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBuiltServiceToExit } from '../helpers/built-service.js';

const GOOD = {
  HOMESERVER_URL: 'https://matrix.example.org',
  TURN_URIS: 'turn:turn.example.org:3478?transport=udp',
  TURN_SHARED_SECRET: 'process-test-secret',
  HOST: '127.0.0.1',
};

/** Lines a Node stack trace or an uncaught error report would contain. */
const STACK = /^\s+at |\bError: |node:internal|\.js:\d+:\d+/m;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mtc-config-process-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The problem lines of the message: "  - NAME: why". */
function namedIn(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((line) => line.startsWith('  - '))
    .map((line) => line.slice(4, line.indexOf(':')));
}

describe('bad configuration', () => {
  it('exits 2 with one message naming every bad variable and why, and no stack trace', async () => {
    const result = await runBuiltServiceToExit({
      ...GOOD,
      PORT: 'eighty',
      LOG_LEVEL: 'chatty',
      TURN_URIS: 'http://turn.example.org',
      TURN_TTL: '0',
      TURN_ALLOW_GUESTS: 'perhaps',
      RATE_LIMIT_PER_SECOND: '-1',
      TURN_SHARED_SECRET: 'process-test-secret,,',
    });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe('matrix-turn-credentials: Invalid configuration:');
    expect(lines.slice(1).every((line) => /^ {2}- [A-Z_]+: \S/.test(line))).toBe(true);
    expect(namedIn(result.stderr).sort()).toEqual([
      'LOG_LEVEL',
      'PORT',
      'RATE_LIMIT_PER_SECOND',
      'TURN_ALLOW_GUESTS',
      'TURN_SHARED_SECRET',
      'TURN_TTL',
      'TURN_URIS',
    ]);
    expect(result.stderr).toContain('"http://turn.example.org" is not a turn:');
    expect(result.stderr).not.toMatch(STACK);
    expect(result.stderr).not.toContain('process-test-secret');
  });

  it('exits 2 naming what is missing when nothing is configured', async () => {
    const result = await runBuiltServiceToExit({});
    expect(result.code).toBe(2);
    expect(namedIn(result.stderr).sort()).toEqual(['HOMESERVER_URL', 'TURN_SHARED_SECRET', 'TURN_URIS']);
    expect(result.stderr).toMatch(/HOMESERVER_URL: required when AUTH_METHOD is whoami/);
    expect(result.stderr).not.toMatch(STACK);
  });

  it('exits 2 for an unreadable YAML file and a missing secret file, naming both', async () => {
    const configFile = join(dir, 'broken.yaml');
    writeFileSync(configFile, 'turn_ttl: [unclosed\n');
    const { TURN_SHARED_SECRET: _inline, ...withoutSecret } = GOOD;
    const result = await runBuiltServiceToExit({
      ...withoutSecret,
      CONFIG_FILE: configFile,
      TURN_SHARED_SECRET_FILE: join(dir, 'no-such-secret'),
    });
    expect(result.code).toBe(2);
    // Only the file's problem: not also "TURN_SHARED_SECRET: required" for the secret it would have held.
    expect(namedIn(result.stderr).sort()).toEqual(['CONFIG_FILE', 'TURN_SHARED_SECRET_FILE']);
    expect(result.stderr).toMatch(/CONFIG_FILE: .*broken\.yaml is not valid YAML \(\w+ at line \d+, column \d+\)/);
    expect(result.stderr).toMatch(/TURN_SHARED_SECRET_FILE: cannot read .*no-such-secret: ENOENT/);
    expect(result.stderr).not.toMatch(STACK);
  });

  const JWT = { ...GOOD, AUTH_METHOD: 'jwt', SERVER_NAME: 'example.org', JWT_ISSUER: 'https://auth.example.org/', JWT_AUDIENCE: 'turn' };

  it('exits 2 for a JWT_PUBLIC_KEY that is no public key, naming it and why, without the key', async () => {
    const result = await runBuiltServiceToExit({
      ...JWT,
      JWT_PUBLIC_KEY: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIProcessTestKeyBody alice@example.org',
    });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.trimEnd().split('\n')).toEqual([
      'matrix-turn-credentials: Invalid configuration:',
      '  - JWT_PUBLIC_KEY: the value is neither a PEM public key nor a JWK or JWK set',
    ]);
  });

  it('exits 2 for a JWT_PUBLIC_KEY_FILE whose key none of JWT_ALGORITHMS can verify, without the key', async () => {
    const keyFile = join(dir, 'rsa-public.pem');
    const pem = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    writeFileSync(keyFile, pem);
    const result = await runBuiltServiceToExit({ ...JWT, JWT_PUBLIC_KEY_FILE: keyFile, JWT_ALGORITHMS: 'ES256' });
    expect(result.code).toBe(2);
    expect(namedIn(result.stderr)).toEqual(['JWT_ALGORITHMS']);
    expect(result.stderr).toMatch(
      /JWT_ALGORITHMS: ES256 cannot verify any token with JWT_PUBLIC_KEY \(a 2048-bit RSA key\), which verifies only RS256/,
    );
    expect(result.stderr).not.toContain(pem.split('\n')[2]);
    expect(result.stderr).not.toMatch(STACK);
  });

  it('exits 2 for an unknown key in the YAML file', async () => {
    const configFile = join(dir, 'typo.yaml');
    writeFileSync(configFile, 'turn_uri: turn:turn.example.org\n');
    const result = await runBuiltServiceToExit({ ...GOOD, CONFIG_FILE: configFile });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/CONFIG_FILE: unknown setting "turn_uri"/);
  });
});

describe('a good configuration that cannot start', () => {
  let blocker: Server;
  let port: number;
  beforeAll(async () => {
    blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    port = (blocker.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => blocker.close(() => resolve())));

  it('exits 1 with one line saying why (the port is taken), no stack trace', async () => {
    const result = await runBuiltServiceToExit({ ...GOOD, PORT: String(port), METRICS_PORT: '0' });
    expect(result.code).toBe(1);
    expect(result.stderr.trimEnd()).toBe('matrix-turn-credentials: cannot start: EADDRINUSE');
  });
});

describe('the command line', () => {
  it('--version prints package.json version and exits 0', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    const result = await runBuiltServiceToExit({}, ['--version']);
    expect(result).toEqual({ code: 0, stdout: `matrix-turn-credentials ${version}\n`, stderr: '' });
  });

  it('--help lists the commands and exits 0, needing no configuration', async () => {
    const result = await runBuiltServiceToExit({}, ['--help']);
    expect(result.code).toBe(0);
    for (const command of ['check-config', '--version', '--help']) expect(result.stdout).toContain(command);
  });

  it('check-config prints the effective configuration with every secret masked, and exits 0', async () => {
    const result = await runBuiltServiceToExit({ ...GOOD, REDIS_URL: 'redis://:redis-test-password@127.0.0.1:6390' }, ['check-config']);
    expect(result.code).toBe(0);
    expect(result.stdout).not.toContain('process-test-secret');
    expect(result.stdout).not.toContain('redis-test-password');
    const printed = JSON.parse(result.stdout) as {
      config: { port: number; turn: { servers: { credential: { sharedSecrets: string } }[] }; redis: { url: string } };
    };
    expect(printed.config.port).toBe(8080);
    expect(printed.config.turn.servers[0]?.credential.sharedSecrets).toBe('<set>');
    expect(printed.config.redis.url).toMatch(/^redis:\/\/:\*\*\*\*@127\.0\.0\.1:6390/);
  });

  it('check-config on bad configuration exits 2 with the same one message, and prints nothing on stdout', async () => {
    const result = await runBuiltServiceToExit({ ...GOOD, PORT: 'eighty' }, ['check-config']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(namedIn(result.stderr)).toEqual(['PORT']);
    expect(result.stderr).not.toMatch(STACK);
  });

  it('refuses an unknown command by name, exit 2', async () => {
    const result = await runBuiltServiceToExit(GOOD, ['chek-config']);
    expect(result).toEqual({
      code: 2,
      stdout: '',
      stderr: 'matrix-turn-credentials: unknown command or option "chek-config"; see --help\n',
    });
  });
});
