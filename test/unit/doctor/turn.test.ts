// The doctor's TURN sections (src/doctor/checks/turn.ts) from what a probe the test answers
// reports: each step of each URI a check, the relayed address printed, the missing
// external-ip warned about, every failure reason with the words of its likely cause
// naming the setting to fix, and the credential probed with minted exactly as a client's.
// Real probes of a real coturn are in test/integration/doctor.test.ts.

import { createHmac } from 'node:crypto';
import { Registry } from 'prom-client';
import { loadConfig } from '../../../src/config/index.js';
import { turnSections } from '../../../src/doctor/checks/turn.js';
import type { Section } from '../../../src/doctor/findings.js';
import { createLogger } from '../../../src/logger.js';
import { createMetrics } from '../../../src/metrics.js';
import type { ProbeOptions, ProbeResult } from '../../../src/turn/probe/probe-uri.js';
import { manualClock } from '../../helpers/clock.js';

const SECRET = 'doctor-unit-secret-0c1d';
const FLAT = { HOMESERVER_URL: 'https://matrix.example.org', TURN_URIS: 'turn:turn.example.org:3478', TURN_SHARED_SECRET: SECRET };
const PUBLIC = { address: '203.0.113.7', port: 3478, family: 4 } as const;

interface Probed {
  readonly uri: string;
  readonly options: ProbeOptions;
}

async function sectionsFor(
  env: Record<string, string>,
  answer: (uri: string) => ProbeResult | Promise<ProbeResult>,
  yaml?: string,
): Promise<{ sections: Section[]; probed: Probed[]; clock: ReturnType<typeof manualClock> }> {
  const clock = manualClock();
  const config = loadConfig(yaml === undefined ? env : { ...env, CONFIG_FILE: '/etc/mtc.yaml' }, { readFile: () => yaml ?? '' });
  const probed: Probed[] = [];
  const probe = async (uri: string, options: ProbeOptions) => {
    probed.push({ uri, options });
    return answer(uri);
  };
  const deps = {
    probe,
    clock,
    timers: clock,
    logger: createLogger('silent'),
    metrics: createMetrics(new Registry(), { defaultMetrics: false }),
  };
  return { sections: await turnSections(config, deps), probed, clock };
}

const statuses = (section: Section) => section.checks.map((c) => c.status);

describe('a healthy URI', () => {
  it('is a section of its own, each step passed, the relayed address and lifetime printed', async () => {
    const { sections } = await sectionsFor(FLAT, () => ({
      ok: true,
      resolved: PUBLIC,
      reflexive: { address: '198.51.100.20', port: 40_000, family: 4 },
      relayed: { address: '203.0.113.7', port: 50_123, family: 4 },
      lifetimeSeconds: 600,
    }));
    expect(sections).toEqual([
      {
        title: 'TURN server "default": turn:turn.example.org:3478',
        checks: [
          { status: 'ok', what: 'the name resolves', detail: 'turn.example.org is 203.0.113.7' },
          { status: 'ok', what: 'the port answers', detail: 'a STUN answer over UDP from 203.0.113.7:3478' },
          { status: 'ok', what: 'a Binding gives a reflexive address', detail: '198.51.100.20:40000' },
          {
            status: 'ok',
            what: 'an Allocate succeeds with a credential minted for @turn-health-check:matrix.example.org',
            detail: 'relayed address 203.0.113.7:50123, lifetime 600 s',
          },
          { status: 'ok', what: 'the allocation is released (Refresh with lifetime 0)' },
        ],
      },
    ]);
  });

  it('is probed with a Binding first, the health-check timeout, and a credential minted as a client gets it', async () => {
    const { probed, clock } = await sectionsFor({ ...FLAT, TURN_TTL: '600', TURN_HEALTH_CHECK_TIMEOUT_MS: '1500' }, () => ({
      ok: true,
      resolved: PUBLIC,
    }));
    expect(probed).toHaveLength(1);
    const { options } = probed[0]!;
    expect(options).toMatchObject({ timeoutMs: 1500, binding: true });
    // coturn's REST API scheme: "<expiry>:<user>", password base64(HMAC-SHA1(secret, username)).
    const username = `${Math.floor(clock.nowMs() / 1000) + 600}:@turn-health-check:matrix.example.org`;
    expect(options.credential).toEqual({ username, password: createHmac('sha1', SECRET).update(username).digest('base64') });
  });

  it('over TCP and TLS says it connected; a stun: URI has no Allocate and is probed without a credential', async () => {
    const yaml = `turn_servers:
  - name: edge
    uris: ["turns:turn.example.org:5349", "turn:turn.example.org:3478?transport=tcp"]
    shared_secret: ${SECRET}
  - name: stun-only
    uris: ["stun:stun.example.org"]
`;
    const { sections, probed } = await sectionsFor(
      { HOMESERVER_URL: FLAT.HOMESERVER_URL },
      (uri) => ({
        ok: true,
        resolved: { ...PUBLIC, port: uri.startsWith('turns:') ? 5349 : 3478 },
        reflexive: { address: '198.51.100.20', port: 40_000, family: 4 },
      }),
      yaml,
    );
    expect(sections.map((s) => s.title)).toEqual([
      'TURN server "edge": turns:turn.example.org:5349',
      'TURN server "edge": turn:turn.example.org:3478?transport=tcp',
      'TURN server "stun-only": stun:stun.example.org',
    ]);
    expect(sections[0]!.checks[1]).toEqual({
      status: 'ok',
      what: 'the port answers',
      detail: 'TLS handshake completed with 203.0.113.7:5349',
    });
    expect(sections[1]!.checks[1]).toEqual({ status: 'ok', what: 'the port answers', detail: 'connected over TCP to 203.0.113.7:3478' });
    expect(sections[2]!.checks.map((c) => c.what)).toEqual([
      'the name resolves',
      'the port answers',
      'a Binding gives a reflexive address',
    ]);
    expect(probed.find((p) => p.uri.startsWith('stun:'))!.options.credential).toBeUndefined();
    expect(probed.find((p) => p.uri.startsWith('turns:'))!.options.credential).toBeDefined();
  });

  it('given as an address says there was nothing to look up', async () => {
    const { sections } = await sectionsFor({ ...FLAT, TURN_URIS: 'turn:127.0.0.1:3478' }, () => ({
      ok: true,
      resolved: { address: '127.0.0.1', port: 3478, family: 4 },
      relayed: { address: '127.0.0.1', port: 50_000, family: 4 },
    }));
    expect(sections[0]!.checks[0]).toEqual({
      status: 'ok',
      what: 'the name resolves',
      detail: '127.0.0.1 (an address, nothing to look up)',
    });
    // Loopback relayed for a loopback URI: a test setup, not a missing external-ip.
    expect(statuses(sections[0]!)).toEqual(['ok', 'ok', 'skip', 'ok', 'ok']);
  });
});

describe('the relayed address', () => {
  it.each([
    ['10.0.0.5', 'private'],
    ['172.20.1.2', 'private'],
    ['192.168.1.9', 'private'],
    ['100.64.3.4', 'private'],
    ['127.0.0.1', 'loopback'],
  ])('%s while the URI names a public host: a warning naming the missing external-ip and the line to add', async (relayed, kind) => {
    const { sections } = await sectionsFor(FLAT, () => ({
      ok: true,
      resolved: PUBLIC,
      relayed: { address: relayed, port: 50_000, family: 4 },
    }));
    expect(sections[0]!.checks[3]).toEqual({
      status: 'warn',
      what: 'an Allocate succeeds with a credential minted for @turn-health-check:matrix.example.org',
      detail: `relayed address ${relayed}:50000 (${kind})`,
      cause:
        `the relayed address is ${relayed}, which clients elsewhere cannot reach, while the URI names the public 203.0.113.7: ` +
        `the classic missing external-ip. Set external-ip=203.0.113.7/${relayed} in turnserver.conf`,
    });
  });

  it('private while the URI names a private host is fine: clients of that network reach it', async () => {
    const { sections } = await sectionsFor({ ...FLAT, TURN_URIS: 'turn:10.0.0.5:3478' }, () => ({
      ok: true,
      resolved: { address: '10.0.0.5', port: 3478, family: 4 },
      relayed: { address: '10.0.0.5', port: 50_000, family: 4 },
    }));
    expect(sections[0]!.checks[3]!.status).toBe('ok');
  });

  it('an IPv6 ULA for a public IPv6 host is warned about too, with brackets around the addresses', async () => {
    const { sections } = await sectionsFor({ ...FLAT, TURN_URIS: 'turn:[2001:db8::7]:3478' }, () => ({
      ok: true,
      resolved: { address: '2001:db8::7', port: 3478, family: 6 },
      relayed: { address: 'fd00::5', port: 50_000, family: 6 },
    }));
    expect(sections[0]!.checks[3]).toMatchObject({ status: 'warn', detail: 'relayed address [fd00::5]:50000 (private)' });
    expect(sections[0]!.checks[3]!.cause).toContain('external-ip=2001:db8::7/fd00::5');
  });
});

describe('a failure', () => {
  const failing = (result: Omit<Extract<ProbeResult, { ok: false }>, 'ok'>): ProbeResult => ({ ok: false, ...result });

  it('unauthorized with the flat shared secret: coturn refused TURN_SHARED_SECRET, the steps before passed', async () => {
    const { sections } = await sectionsFor(FLAT, () =>
      failing({
        reason: 'unauthorized',
        step: 'allocate',
        detail: 'the server refused the credential of user "1:@turn-health-check:matrix.example.org" (Allocate: 401 Unauthorized)',
        resolved: PUBLIC,
        reflexive: { address: '198.51.100.20', port: 40_000, family: 4 },
        stunError: { code: 401, reason: 'Unauthorized' },
      }),
    );
    expect(statuses(sections[0]!)).toEqual(['ok', 'ok', 'ok', 'fail', 'skip']);
    expect(sections[0]!.checks[3]!.cause).toBe(
      'coturn refused the credential: TURN_SHARED_SECRET is not its static-auth-secret ' +
        '(or use-auth-secret is off, or the clocks differ by more than the TTL)',
    );
    expect(sections[0]!.checks[4]).toEqual({
      status: 'skip',
      what: 'the allocation is released (Refresh with lifetime 0)',
      detail: 'not tried: an earlier step failed',
    });
  });

  it("unauthorized for an entry of turn_servers names that entry's setting; for a static credential, the user", async () => {
    const yaml = `turn_servers:
  - name: a
    uris: ["turn:a.example.org"]
    shared_secret: ${SECRET}
  - name: b
    uris: ["turn:b.example.org"]
    username: doctor
    password: static-pass-9f
`;
    const unauthorized = failing({ reason: 'unauthorized', step: 'allocate', detail: 'refused', resolved: PUBLIC });
    const { sections } = await sectionsFor({ HOMESERVER_URL: FLAT.HOMESERVER_URL }, () => unauthorized, yaml);
    expect(sections[0]!.checks[3]!.cause).toMatch(
      /^coturn refused the credential: turn_servers\[a\]\.shared_secret is not its static-auth-secret/,
    );
    expect(sections[1]!.checks[3]!.cause).toMatch(
      /^coturn refused the credential: turn_servers\[b\]\.username and turn_servers\[b\]\.password are not a user coturn knows/,
    );
    const flatStatic = await sectionsFor(
      { HOMESERVER_URL: FLAT.HOMESERVER_URL, TURN_URIS: FLAT.TURN_URIS, TURN_USERNAME: 'doctor', TURN_PASSWORD: 'static-pass-9f' },
      () => unauthorized,
    );
    expect(flatStatic.sections[0]!.checks[3]!.cause).toMatch(/^coturn refused the credential: TURN_USERNAME and TURN_PASSWORD are not/);
  });

  it('a timeout over UDP is the port not answering: a firewall dropping UDP to the port, or coturn not listening', async () => {
    const { sections } = await sectionsFor(FLAT, () =>
      failing({ reason: 'timeout', step: 'binding', detail: 'no answer from 203.0.113.7:3478 over UDP', resolved: PUBLIC }),
    );
    expect(statuses(sections[0]!)).toEqual(['ok', 'fail', 'skip', 'skip', 'skip']);
    expect(sections[0]!.checks[1]).toEqual({
      status: 'fail',
      what: 'the port answers',
      detail: 'no answer from 203.0.113.7:3478 over UDP',
      cause:
        'no answer within 2000 ms (TURN_HEALTH_CHECK_TIMEOUT_MS): a firewall dropping UDP to port 3478, ' +
        'or coturn not listening there (listening-port, listening-ip)',
    });
  });

  it('refused over TCP: nothing listens on that port', async () => {
    const { sections } = await sectionsFor({ ...FLAT, TURN_URIS: 'turn:turn.example.org:3478?transport=tcp' }, () =>
      failing({ reason: 'refused', step: 'connect', detail: 'connection refused', resolved: PUBLIC }),
    );
    expect(statuses(sections[0]!)).toEqual(['ok', 'fail', 'skip', 'skip', 'skip']);
    expect(sections[0]!.checks[1]!.cause).toBe(
      'nothing listens on TCP port 3478 at 203.0.113.7: coturn is not running there, ' +
        'or listens on another port or address (listening-port, listening-ip)',
    );
  });

  it('dns: the name does not resolve, and nothing after it is tried', async () => {
    const { sections } = await sectionsFor(FLAT, () =>
      failing({ reason: 'dns', step: 'dns', detail: '"turn.example.org" does not resolve (ENOTFOUND)' }),
    );
    expect(statuses(sections[0]!)).toEqual(['fail', 'skip', 'skip', 'skip', 'skip']);
    expect(sections[0]!.checks[0]!.cause).toMatch(
      /^the name turn\.example\.org does not resolve: a typo in the URI, or its DNS record is missing/,
    );
  });

  it('tls: the certificate or the handshake, with NODE_EXTRA_CA_CERTS for a private CA', async () => {
    const { sections } = await sectionsFor({ ...FLAT, TURN_URIS: 'turns:turn.example.org' }, () =>
      failing({
        reason: 'tls',
        step: 'connect',
        detail: 'the TLS handshake failed: self-signed certificate',
        resolved: { ...PUBLIC, port: 5349 },
      }),
    );
    expect(sections[0]!.checks[1]!.cause).toBe(
      'the TLS handshake failed: the certificate must name turn.example.org and chain to a CA this process trusts ' +
        '(NODE_EXTRA_CA_CERTS=<file> for a private CA), and coturn needs a cert and pkey it can read',
    );
  });

  it.each([
    [486, 'Allocation Quota Reached', /user-quota or total-quota/],
    [508, 'Insufficient Capacity', /min-port\.\.max-port range is used up/],
    [403, 'Forbidden', /denied-peer-ip/],
    [499, 'Something New', /see its log for why/],
  ])("error %i: coturn's code and reason, and what it means", async (code, reason, meaning) => {
    const { sections } = await sectionsFor(FLAT, () =>
      failing({
        reason: 'error',
        step: 'allocate',
        detail: `Allocate answered ${code} ${reason}`,
        resolved: PUBLIC,
        stunError: { code, reason },
      }),
    );
    const cause = sections[0]!.checks[3]!.cause!;
    expect(cause.startsWith(`coturn answered ${code} ${reason}: `)).toBe(true);
    expect(cause).toMatch(meaning);
  });

  it('a failed release is its own step: the allocation was made and stays until its lifetime ends', async () => {
    const { sections } = await sectionsFor(FLAT, () =>
      failing({
        reason: 'error',
        step: 'refresh',
        detail: 'Refresh answered 437',
        resolved: PUBLIC,
        reflexive: { address: '198.51.100.20', port: 40_000, family: 4 },
        stunError: { code: 437, reason: 'Mismatch' },
      }),
    );
    expect(statuses(sections[0]!)).toEqual(['ok', 'ok', 'ok', 'ok', 'fail']);
    expect(sections[0]!.checks[4]!.cause).toMatch(
      /^the allocation was made, but releasing it \(Refresh with lifetime 0\) failed \(437 Mismatch\)/,
    );
  });

  it('a probe that throws, against its promise, is a failure said as the probe', async () => {
    const { sections } = await sectionsFor(FLAT, () => Promise.reject(new Error('bug')));
    expect(sections[0]!.checks).toEqual([{ status: 'fail', what: 'the probe ran', detail: 'the probe itself failed: bug' }]);
  });
});
