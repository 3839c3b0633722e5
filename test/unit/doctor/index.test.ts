// runDoctor (src/doctor/index.ts) as a whole, with the homeserver stand-in and a probe
// the test answers: the sections in their order, the configuration as the service reads
// it, the exit code (0 with nothing failed, warnings included; 1 otherwise, a
// configuration that does not load included), and no secret anywhere in what it prints.
// Against real coturn and Redis: test/integration/doctor.test.ts.

import { runDoctor } from '../../../src/doctor/index.js';
import { renderJson } from '../../../src/doctor/report.js';
import type { ProbeOptions, ProbeResult } from '../../../src/turn/probe/probe-uri.js';
import { startHomeserver, type StandInHomeserver } from '../../helpers/homeserver.js';
import { freePort } from '../../helpers/ports.js';

const SECRET = 'doctor-index-shared-secret-a4';
const RELAYED: ProbeResult = {
  ok: true,
  resolved: { address: '127.0.0.1', port: 3478, family: 4 },
  reflexive: { address: '127.0.0.1', port: 40_000, family: 4 },
  relayed: { address: '127.0.0.1', port: 50_000, family: 4 },
};

let homeserver: StandInHomeserver;
beforeAll(async () => {
  homeserver = await startHomeserver();
  homeserver.addToken('alice-token-index-1', { userId: '@alice:example.org' });
});
afterAll(() => homeserver.close());

const env = () => ({ HOMESERVER_URL: homeserver.url, TURN_URIS: 'turn:127.0.0.1:3478,stun:127.0.0.1:3478', TURN_SHARED_SECRET: SECRET });

/** A probe answering `result`, remembering the passwords it was given. */
function probeAnswering(result: ProbeResult) {
  const passwords: string[] = [];
  const probe = async (_uri: string, options: ProbeOptions) => {
    if (options.credential) passwords.push(options.credential.password);
    return result;
  };
  return { probe, passwords };
}

describe('a configuration that loads', () => {
  it('is reported first, then token verification, Redis and each TURN URI; all passing is exit 0', async () => {
    const { text, exitCode, findings } = await runDoctor(env(), { json: false }, { probe: probeAnswering(RELAYED).probe });
    expect(exitCode).toBe(0);
    expect(findings.sections.map((s) => s.title)).toEqual([
      'Configuration',
      'Token verification',
      'Redis',
      'TURN server "default": turn:127.0.0.1:3478',
      'TURN server "default": stun:127.0.0.1:3478',
    ]);
    expect(text).toMatch(/^matrix-turn-credentials \S+: doctor\n\nConfiguration\n/);
    expect(text).toContain('  ok    the configuration loads: from the environment\n');
    expect(text).toContain(`  ok    auth method: whoami: the homeserver ${homeserver.url}\n`);
    expect(text).toContain('  ok    1 TURN server: health checks every 30 s, each within 2000 ms\n');
    expect(text).toContain('  ok    TURN server "default": turn:127.0.0.1:3478, stun:127.0.0.1:3478; a shared secret (coturn REST API)\n');
    expect(text).toContain('  ok    no Redis: the rate limit is kept in this process (one replica)\n');
    expect(text).toContain('  skip  Redis: not configured: the rate limit is kept in this process\n');
    expect(text).toContain('relayed address 127.0.0.1:50000');
    expect(text.trimEnd().split('\n').pop()).toMatch(/^Result: everything that was checked works \(\d+ passed, 1 skipped\)\.$/);
  });

  it('one failure anywhere is exit 1', async () => {
    const down = `http://127.0.0.1:${await freePort()}`;
    const { exitCode, text } = await runDoctor(
      { ...env(), HOMESERVER_URL: down },
      { json: false },
      { probe: probeAnswering(RELAYED).probe },
    );
    expect(exitCode).toBe(1);
    expect(text).toContain(`cause: the homeserver at ${down} does not answer: homeserver unreachable (ECONNREFUSED)`);
  });

  it('--json prints the same findings, parsed back whole', async () => {
    const { probe } = probeAnswering(RELAYED);
    const text = await runDoctor(env(), { json: false }, { probe });
    const json = await runDoctor(env(), { json: true }, { probe });
    expect(JSON.parse(json.text)).toEqual({ ok: true, sections: text.findings.sections });
  });
});

describe('a configuration that does not load', () => {
  it('is reported alone, each problem a failure, exit 1', async () => {
    const { text, exitCode } = await runDoctor({ HOMESERVER_URL: 'not a url', TURN_TTL: '0' }, { json: false });
    expect(exitCode).toBe(1);
    const lines = text.split('\n');
    expect(lines.slice(1, 3)).toEqual(['', 'Configuration']);
    const problems = lines.filter((line) => line.startsWith('  FAIL  '));
    expect(problems.map((line) => line.slice(8, line.indexOf(':')))).toEqual(
      expect.arrayContaining(['HOMESERVER_URL', 'TURN_TTL', 'TURN_URIS']),
    );
    expect(text).toContain('  skip  the other checks: not tried: the service would refuse to start with this configuration (exit 2)\n');
    expect(text).not.toContain('Token verification');
  });
});

describe('secrets', () => {
  it('none is printed, in text or JSON: not the configured ones, not the minted password, not the token given', async () => {
    const secrets = {
      TURN_SHARED_SECRET: SECRET,
      INTROSPECTION_CLIENT_SECRET: 'introspection-secret-never-printed',
      REDIS_URL: `redis://:redis-password-never-printed@127.0.0.1:${await freePort()}`,
    };
    const token = 'alice-token-index-1';
    const unauthorized: ProbeResult = {
      ok: false,
      reason: 'unauthorized',
      step: 'allocate',
      detail: 'the server refused the credential of user "1:@turn-health-check:example.org" (Allocate: 401 Unauthorized)',
      resolved: RELAYED.resolved,
    };
    for (const [auth, result] of [
      [{ HOMESERVER_URL: homeserver.url }, RELAYED],
      [
        { AUTH_METHOD: 'introspection', INTROSPECTION_URL: homeserver.url, INTROSPECTION_CLIENT_ID: 'c', SERVER_NAME: 'example.org' },
        unauthorized,
      ],
    ] as const) {
      const { probe, passwords } = probeAnswering(result);
      const run = { ...env(), ...secrets, ...auth, REDIS_COMMAND_TIMEOUT_MS: '100' };
      const { text, findings } = await runDoctor(run, { json: false, token }, { probe });
      const printed = `${text}\n${renderJson(findings)}`;
      expect(passwords.length).toBeGreaterThan(0);
      for (const secret of [...Object.values(secrets), 'redis-password-never-printed', token, ...passwords]) {
        expect(printed).not.toContain(secret);
      }
    }
  });
});
