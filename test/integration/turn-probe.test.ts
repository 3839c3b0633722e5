// probeUri against a real coturn (use-auth-secret, TLS on a second port, one allocation
// per user at most, verbose so its log shows each session's end): Binding and Allocate
// over UDP, TCP and TLS with a credential minted as clients get it; the Refresh with
// LIFETIME 0 really frees the allocation (the same user can allocate again, while an
// allocation left standing makes coturn answer 486); and the failures as an operator meets
// them: another secret, a closed port, a certificate not trusted, a name that does not
// resolve.

import { turnPassword } from '../../src/turn/credentials.js';
import { probeUri, type ProbeOptions } from '../../src/turn/probe/probe-uri.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { holdAllocation } from '../helpers/held-allocation.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const SECRET = 'probe-coturn-secret-31d0';
const TIMEOUT_MS = 2000;
let coturn: Coturn;
let users = 0;

/** A credential as the service mints it, for a user of its own so coturn's per-user quota is the test's to fill. */
function credential(secret = SECRET): { username: string; password: string } {
  users += 1;
  const username = `${Math.floor(Date.now() / 1000) + 3600}:@probe-${users}:example.org`;
  return { username, password: turnPassword(secret, username) };
}

const options = (extra: Partial<ProbeOptions> = {}): ProbeOptions => ({ timeoutMs: TIMEOUT_MS, credential: credential(), ...extra });
const loopback = { address: '127.0.0.1', family: 4 } as const;
/** Relayed ports come from coturn's --min-port/--max-port range. */
const relayedAddress = { address: '127.0.0.1', family: 4, port: expect.any(Number) as number };

beforeAll(async () => {
  coturn = await startCoturn({ secrets: [SECRET], tls: true, extraArgs: ['--user-quota=1', '--verbose'] });
});
afterAll(() => coturn?.stop());

describe('a healthy coturn', () => {
  it('stun: a Binding over UDP gives the reflexive address 127.0.0.1', async () => {
    const result = await probeUri(`stun:127.0.0.1:${coturn.port}`, options({ credential: undefined }));
    expect(result).toEqual({
      ok: true,
      resolved: { ...loopback, port: coturn.port },
      reflexive: { ...loopback, port: expect.any(Number) },
    });
  });

  it.each(['udp', 'tcp'] as const)('turn: over %s allocates a relayed address and releases it', async (transport) => {
    const result = await probeUri(`turn:127.0.0.1:${coturn.port}?transport=${transport}`, options({ binding: true }));
    expect(result).toEqual({
      ok: true,
      resolved: { ...loopback, port: coturn.port },
      reflexive: { ...loopback, port: expect.any(Number) },
      relayed: relayedAddress,
      lifetimeSeconds: expect.any(Number),
    });
    expect(result.ok && result.relayed!.port).toBeGreaterThanOrEqual(49152);
  });

  it('turns: over TLS, the certificate checked against the name localhost', async () => {
    const result = await probeUri(
      `turns:localhost:${coturn.tlsPort!}?transport=tcp`,
      options({ tls: { ca: coturn.caPem! }, lookup: async () => loopback }),
    );
    expect(result).toMatchObject({ ok: true, resolved: { ...loopback, port: coturn.tlsPort }, relayed: relayedAddress });
  });

  it('turns: with ?transport=udp is checked as browsers reach it: TLS over TCP to that port, and allocates', async () => {
    const result = await probeUri(
      `turns:localhost:${coturn.tlsPort!}?transport=udp`,
      options({ tls: { ca: coturn.caPem! }, lookup: async () => loopback }),
    );
    expect(result).toMatchObject({ ok: true, resolved: { ...loopback, port: coturn.tlsPort }, relayed: relayedAddress });
  });

  it('the Refresh with LIFETIME 0 frees the allocation: with one allocation per user, the same user probes again', async () => {
    const same = credential();
    const uri = `turn:127.0.0.1:${coturn.port}?transport=udp`;
    expect(await probeUri(uri, options({ credential: same }))).toMatchObject({ ok: true, lifetimeSeconds: 600 });
    // coturn takes LIFETIME 0 as an expiry now, which its timer acts on within about a
    // second (an allocation not released would stand for its 600 s).
    await waitFor(() => coturn.log().includes(`refreshed, realm=<example.org>, username=<${same.username}>, lifetime=0`), {
      what: "coturn's record of the Refresh",
    });
    await waitFor(
      () => new RegExp(`closed \\(2nd stage\\), user <${escape(same.username)}>.*reason: allocation timeout`).test(coturn.log()),
      {
        timeoutMs: 5000,
        what: 'coturn to end the allocation',
      },
    );
    expect(await probeUri(uri, options({ credential: same }))).toMatchObject({ ok: true });
  });

  it('over TCP the allocation ends with the connection: the same user probes twice in a row', async () => {
    const same = credential();
    const uri = `turn:127.0.0.1:${coturn.port}?transport=tcp`;
    expect(await probeUri(uri, options({ credential: same }))).toMatchObject({ ok: true });
    await waitFor(
      () => new RegExp(`closed \\(2nd stage\\), user <${escape(same.username)}>.*TCP connection closed by client`).test(coturn.log()),
      {
        timeoutMs: 5000,
        what: 'coturn to close the session',
      },
    );
    expect(await probeUri(uri, options({ credential: same }))).toMatchObject({ ok: true });
  });

  it("an allocation left standing fills the user's quota: the probe says 'error' with 486", async () => {
    const held = credential();
    const { connection, outcome } = await holdAllocation(coturn.port, held);
    try {
      expect(outcome).toBe('allocated');

      expect(await probeUri(`turn:127.0.0.1:${coturn.port}`, options({ credential: held }))).toMatchObject({
        ok: false,
        reason: 'error',
        step: 'allocate',
        stunError: { code: 486 },
      });
    } finally {
      connection.close();
    }
  });
});

describe('what goes wrong', () => {
  it("a credential signed with another secret is 'unauthorized' (coturn's second 401)", async () => {
    const wrong = credential('not-the-coturn-secret');
    const result = await probeUri(`turn:127.0.0.1:${coturn.port}`, options({ credential: wrong }));
    expect(result).toEqual({
      ok: false,
      reason: 'unauthorized',
      step: 'allocate',
      detail: `the server refused the credential of user "${wrong.username}" (Allocate: 401 Unauthorized)`,
      resolved: { ...loopback, port: coturn.port },
      stunError: { code: 401, reason: 'Unauthorized' },
    });
    expect(JSON.stringify(result)).not.toContain(wrong.password);
  });

  it("a closed port is 'refused' over TCP at step connect, and over UDP too (loopback reports ICMP port unreachable)", async () => {
    const port = await freePort();
    expect(await probeUri(`turn:127.0.0.1:${port}?transport=tcp`, options())).toMatchObject({
      ok: false,
      reason: 'refused',
      step: 'connect',
    });
    expect(await probeUri(`turn:127.0.0.1:${port}?transport=udp`, options())).toMatchObject({
      ok: false,
      reason: 'refused',
      step: 'allocate',
    });
  });

  it("turns: with a certificate the client does not trust is 'tls' at step connect", async () => {
    const result = await probeUri(`turns:localhost:${coturn.tlsPort!}`, options({ lookup: async () => loopback }));
    expect(result).toMatchObject({ ok: false, reason: 'tls', step: 'connect' });
    expect(result.ok || result.detail).toMatch(
      /^the TLS handshake with localhost \(127\.0\.0\.1:\d+ over TLS\) failed: self-signed certificate/,
    );
  });

  it("turns: to an address the certificate does not name is 'tls'", async () => {
    // The certificate names localhost and 127.0.0.1; this name resolves to the same place but is neither.
    const result = await probeUri(
      `turns:turn.example.org:${coturn.tlsPort!}`,
      options({ tls: { ca: coturn.caPem! }, lookup: async () => loopback }),
    );
    expect(result).toMatchObject({ ok: false, reason: 'tls', step: 'connect' });
    expect(result.ok || result.detail).toMatch(/ERR_TLS_CERT_ALTNAME_INVALID/);
  });

  it("a name that does not resolve is 'dns' (the system resolver, a name under .invalid)", async () => {
    expect(await probeUri('turn:turn.does-not-exist.invalid', options())).toEqual({
      ok: false,
      reason: 'dns',
      step: 'dns',
      detail: '"turn.does-not-exist.invalid" does not resolve (ENOTFOUND)',
    });
  });
});
