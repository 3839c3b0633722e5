// The doctor against the real parts: a coturn (UDP, TCP and TLS listeners, use-auth-secret),
// a real redis-server, and the homeserver stand-in's whoami. Healthy, it passes every step
// and prints the relayed addresses coturn gave; a wrong secret, a closed port, a homeserver
// or Redis that is down or refuses us each fail with the words of their cause; --token
// prints the user id and never the token; --json is the same findings. The built CLI
// (`node dist/src/main.js doctor`) ends with exit 0 when healthy and 1 when not.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDoctor, type DoctorArgs } from '../../src/doctor/index.js';
import { probeUri, type ProbeOptions } from '../../src/turn/probe/probe-uri.js';
import { runBuiltServiceToExit } from '../helpers/built-service.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { startHomeserver, type StandInHomeserver } from '../helpers/homeserver.js';
import { freePort } from '../helpers/ports.js';
import { startRedis, type RedisProcess } from '../helpers/redis.js';

const SECRET = 'doctor-coturn-secret-61d0';
const TOKEN = 'doctor-alice-token-3b9e';
const UNAUTHORIZED =
  'coturn refused the credential: TURN_SHARED_SECRET is not its static-auth-secret ' +
  '(or use-auth-secret is off, or the clocks differ by more than the TTL)';

let coturn: Coturn;
let homeserver: StandInHomeserver;
let redis: RedisProcess;
let dir: string;

beforeAll(async () => {
  [coturn, homeserver, redis] = await Promise.all([startCoturn({ secrets: [SECRET], tls: true }), startHomeserver(), startRedis()]);
  homeserver.addToken(TOKEN, { userId: '@alice:example.org' });
  dir = mkdtempSync(join(tmpdir(), 'mtc-doctor-'));
}, 60_000);
afterAll(async () => {
  await Promise.all([coturn?.stop(), homeserver?.close(), redis?.stop()]);
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

const uris = () => [
  `turn:127.0.0.1:${coturn.port}?transport=udp`,
  `turn:127.0.0.1:${coturn.port}?transport=tcp`,
  `turns:127.0.0.1:${coturn.tlsPort!}`,
  `stun:127.0.0.1:${coturn.port}`,
];

const healthy = () => ({
  HOMESERVER_URL: homeserver.url,
  TURN_URIS: uris().join(','),
  TURN_SHARED_SECRET: SECRET,
  REDIS_URL: redis.url,
});

/** The real probe, trusting the test coturn's self-signed certificate (the CLI gets NODE_EXTRA_CA_CERTS instead). */
const probe = (uri: string, options: ProbeOptions) => probeUri(uri, { ...options, tls: { ca: coturn.caPem! } });

const doctor = (env: Record<string, string>, args: Partial<DoctorArgs> = {}) => runDoctor(env, { json: false, ...args }, { probe });

describe('a healthy setup', () => {
  it('passes every step of every URI, printing the addresses found; Redis and the homeserver answer; exit 0', async () => {
    const { text, exitCode, findings } = await doctor(healthy());
    expect(exitCode).toBe(0);
    const turn = findings.sections.filter((s) => s.title.startsWith('TURN server'));
    expect(turn.map((s) => s.title)).toEqual(uris().map((uri) => `TURN server "default": ${uri}`));
    for (const section of turn) expect(section.checks.map((c) => [c.what, c.status]).filter(([, status]) => status !== 'ok')).toEqual([]);
    expect(turn.map((s) => s.checks.length)).toEqual([5, 5, 5, 3]);
    // The relayed addresses coturn gave on its relay-ip, one per turn:/turns: URI.
    expect(text.match(/relayed address 127\.0\.0\.1:\d+, lifetime \d+ s/g)).toHaveLength(3);
    expect(text).toContain(`  ok    the port answers: TLS handshake completed with 127.0.0.1:${coturn.tlsPort!}\n`);
    expect(text).toMatch(/ {2}ok {4}a Binding gives a reflexive address: 127\.0\.0\.1:\d+\n/);
    expect(text).toContain(`  ok    Redis answers PING: ${redis.url}: PONG\n`);
    expect(text).toMatch(/ {2}ok {4}the limiter's script loads: SHA [0-9a-f]{40} as the limiter calls it\n/);
    expect(text).toContain(`  ok    the homeserver answers whoami: ${homeserver.url}: a random token is refused as unknown`);
    expect(text).not.toContain(SECRET);
  });

  it('--token: that token verified end to end through the homeserver, its user id printed, the token never', async () => {
    const { text, exitCode } = await doctor(healthy(), { token: TOKEN });
    expect(exitCode).toBe(0);
    expect(text).toContain('  ok    the token given with --token is verified: user @alice:example.org\n');
    expect(text).not.toContain(TOKEN);
  });

  it('--json: the same findings, parsed back whole', async () => {
    const { text, findings } = await runDoctor(healthy(), { json: true, token: TOKEN }, { probe });
    expect(JSON.parse(text)).toEqual({ ok: true, sections: findings.sections });
    expect(findings.sections.map((s) => s.title).slice(0, 3)).toEqual(['Configuration', 'Token verification', 'Redis']);
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain(SECRET);
  });
});

describe('what is broken, and why', () => {
  it('a secret coturn does not know: each turn: URI fails at its Allocate with the unauthorized cause; exit 1', async () => {
    const { text, exitCode, findings } = await doctor({ ...healthy(), TURN_SHARED_SECRET: 'not-the-coturn-secret' });
    expect(exitCode).toBe(1);
    const allocates = findings.sections.flatMap((s) => s.checks).filter((c) => c.what.startsWith('an Allocate'));
    expect(allocates.map((c) => [c.status, c.cause])).toEqual([
      ['fail', UNAUTHORIZED],
      ['fail', UNAUTHORIZED],
      ['fail', UNAUTHORIZED],
    ]);
    expect(text).toContain(`        cause: ${UNAUTHORIZED}\n`);
    expect(text).not.toContain('not-the-coturn-secret');
  });

  it('a closed port: refused over TCP; refused or timeout over UDP, each with its cause', async () => {
    const closed = await freePort();
    const env = {
      ...healthy(),
      TURN_URIS: `turn:127.0.0.1:${closed}?transport=tcp,turn:127.0.0.1:${closed}?transport=udp`,
      TURN_HEALTH_CHECK_TIMEOUT_MS: '1500',
    };
    const { exitCode, findings } = await doctor(env);
    expect(exitCode).toBe(1);
    const [tcp, udp] = findings.sections.filter((s) => s.title.startsWith('TURN server')).map((s) => s.checks[1]!);
    expect(tcp).toMatchObject({ status: 'fail', what: 'the port answers' });
    expect(tcp!.cause).toMatch(new RegExp(`^nothing listens on TCP port ${closed} at 127\\.0\\.0\\.1: coturn is not running there`));
    expect(udp).toMatchObject({ status: 'fail', what: 'the port answers' });
    const refused = `nothing listens on UDP port ${closed} at 127\\.0\\.0\\.1`;
    const timedOut = `no answer within 1500 ms .*: a firewall dropping UDP to port ${closed}`;
    expect(udp!.cause).toMatch(new RegExp(`^(${refused}|${timedOut})`));
  });

  it('the homeserver down: token verification fails, naming it', async () => {
    const down = `http://127.0.0.1:${await freePort()}`;
    const { text, exitCode } = await doctor({ ...healthy(), HOMESERVER_URL: down });
    expect(exitCode).toBe(1);
    expect(text).toContain(`  FAIL  the homeserver answers whoami: homeserver unreachable (ECONNREFUSED)\n`);
    expect(text).toContain(`        cause: the homeserver at ${down} does not answer: homeserver unreachable (ECONNREFUSED)`);
  });

  it('Redis down, or refusing our password: it fails with that cause, and the script is not tried', async () => {
    const down = await doctor({ ...healthy(), REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    const checks = down.findings.sections.find((s) => s.title === 'Redis')!.checks;
    expect(checks.map((c) => c.status)).toEqual(['fail', 'skip']);
    expect(checks[0]!.cause).toMatch(/^nothing listens at redis:\/\/127\.0\.0\.1:\d+: Redis is not running there/);

    const guarded = await startRedis({ args: ['--requirepass', 'the-redis-password-8c'] });
    try {
      const refused = await doctor({ ...healthy(), REDIS_URL: `redis://:wrong-password-77@127.0.0.1:${guarded.port}` });
      const [ping] = refused.findings.sections.find((s) => s.title === 'Redis')!.checks;
      expect(ping).toMatchObject({ status: 'fail', cause: expect.stringMatching(/^Redis refused our password \(.*WRONGPASS/) });
      expect(refused.text).not.toContain('wrong-password-77');
    } finally {
      await guarded.stop();
    }
  });
});

describe('the built CLI', () => {
  it('node dist/src/main.js doctor: exit 0 when healthy, 1 with a wrong secret, the report on stdout', async () => {
    // As an operator with a private CA would: NODE_EXTRA_CA_CERTS names it.
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, coturn.caPem!);
    const env = { ...healthy(), NODE_EXTRA_CA_CERTS: ca };
    const [good, bad] = await Promise.all([
      runBuiltServiceToExit(env, ['doctor']),
      runBuiltServiceToExit({ ...env, TURN_SHARED_SECRET: 'not-the-coturn-secret' }, ['doctor', '--json']),
    ]);
    expect({ code: good.code, stderr: good.stderr }).toEqual({ code: 0, stderr: '' });
    expect(good.stdout).toMatch(/\nResult: everything that was checked works \(\d+ passed\)\.\n$/);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({ ok: false });
    expect(bad.stdout).toContain(UNAUTHORIZED);
  });
});
