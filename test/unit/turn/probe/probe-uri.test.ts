// probeUri against a TURN server of the test's making (fake-stun-server.ts) that checks
// the long-term credential as coturn does: the 401 challenge, the signed Allocate, the
// Refresh with LIFETIME 0 on the same connection, and each way it can go wrong mapped to
// its reason and step. Time is a manual clock: a deadline passes when the test says.

import {
  StunAttr,
  StunMethod,
  addressAttribute,
  errorCodeAttribute,
  integrityMatches,
  lifetimeAttribute,
  longTermKey,
  readLifetime,
  readText,
  textAttribute,
  type DecodedStunMessage,
  type StunAttribute,
  type TransportAddress,
} from '../../../../src/turn/probe/stun-message.js';
import { probeUri, type ProbeOptions } from '../../../../src/turn/probe/probe-uri.js';
import { manualClock } from '../../../helpers/clock.js';
import { freePort } from '../../../helpers/ports.js';
import { waitFor } from '../../../helpers/wait.js';
import { answer, startFakeStunServer, type FakeAnswer, type FakeStunServer } from './fake-stun-server.js';

const REALM = 'turn.example.org';
const USERNAME = '1700003600:@turn-health-check:example.org';
const PASSWORD = 'the-password-4f1c';
const RELAYED: TransportAddress = { address: '192.0.2.50', port: 50123, family: 4 };

interface TurnBehaviour {
  /** What the server answers a correctly signed request with, instead of success. */
  signed?: (request: DecodedStunMessage, index: number) => FakeAnswer;
  /** Leave XOR-RELAYED-ADDRESS out of the Allocate success. */
  noRelayed?: boolean;
}

/** A TURN server with one user: challenges unsigned requests, refuses a wrong key with 401, answers signed success. */
function turnHandler(behaviour: TurnBehaviour = {}) {
  const key = longTermKey(USERNAME, REALM, PASSWORD);
  const challenge = (request: DecodedStunMessage) =>
    answer(request, 'error', [
      errorCodeAttribute({ code: 401, reason: 'Unauthorized' }),
      textAttribute(StunAttr.REALM, REALM),
      textAttribute(StunAttr.NONCE, 'nonce-1'),
    ]);
  return (request: DecodedStunMessage, index: number, peer: TransportAddress): FakeAnswer => {
    if (request.method === StunMethod.binding) {
      return answer(request, 'success', [addressAttribute(StunAttr.XOR_MAPPED_ADDRESS, peer, request.transactionId, true)]);
    }
    if (request.integrity === undefined) return challenge(request);
    if (readText(request, StunAttr.USERNAME) !== USERNAME || !integrityMatches(request, key)) return challenge(request);
    const special = behaviour.signed?.(request, index);
    if (special !== undefined) return special;
    const attributes: StunAttribute[] =
      request.method === StunMethod.allocate
        ? [
            ...(behaviour.noRelayed === true ? [] : [addressAttribute(StunAttr.XOR_RELAYED_ADDRESS, RELAYED, request.transactionId, true)]),
            addressAttribute(StunAttr.XOR_MAPPED_ADDRESS, peer, request.transactionId, true),
            lifetimeAttribute(600),
          ]
        : [lifetimeAttribute(0)];
    return answer(request, 'success', attributes, { integrityKey: key, fingerprint: true });
  };
}

const errorAnswer = (request: DecodedStunMessage, code: number, reason: string, extra: StunAttribute[] = []) =>
  answer(request, 'error', [errorCodeAttribute({ code, reason }), ...extra]);

const servers: FakeStunServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function fake(transport: 'udp' | 'tcp', handler: Parameters<typeof startFakeStunServer>[1]): Promise<FakeStunServer> {
  const server = await startFakeStunServer(transport, handler);
  servers.push(server);
  return server;
}

const credential = { username: USERNAME, password: PASSWORD };
const options = (extra: Partial<ProbeOptions> = {}): ProbeOptions => ({ timeoutMs: 2000, timers: manualClock(), credential, ...extra });
const at = (server: FakeStunServer) => server.address;
const methods = (server: FakeStunServer) => server.received.map((r) => r.method);

describe('stun: URIs', () => {
  it('a Binding gives the reflexive address', async () => {
    const server = await fake('udp', turnHandler());
    const result = await probeUri(`stun:127.0.0.1:${at(server).port}`, options({ credential: undefined }));
    expect(result).toEqual({ ok: true, resolved: at(server), reflexive: server.peers[0] });
    expect(methods(server)).toEqual([StunMethod.binding]);
  });
});

describe('turn: URIs', () => {
  it.each(['udp', 'tcp'] as const)(
    'over %s: answers the 401 challenge, allocates, and releases with Refresh LIFETIME 0 on the same connection',
    async (transport) => {
      const server = await fake(transport, turnHandler());
      const result = await probeUri(`turn:127.0.0.1:${at(server).port}?transport=${transport}`, options());

      expect(result).toEqual({ ok: true, resolved: at(server), reflexive: server.peers[0], relayed: RELAYED, lifetimeSeconds: 600 });
      expect(methods(server)).toEqual([StunMethod.allocate, StunMethod.allocate, StunMethod.refresh]);
      const [unsigned, allocate, refresh] = server.received as [DecodedStunMessage, DecodedStunMessage, DecodedStunMessage];
      expect(unsigned.integrity).toBeUndefined();
      expect(findRequestedTransport(allocate)).toBe(17);
      for (const signed of [allocate, refresh]) {
        expect({
          username: readText(signed, StunAttr.USERNAME),
          realm: readText(signed, StunAttr.REALM),
          nonce: readText(signed, StunAttr.NONCE),
        }).toEqual({
          username: USERNAME,
          realm: REALM,
          nonce: 'nonce-1',
        });
        expect(integrityMatches(signed, longTermKey(USERNAME, REALM, PASSWORD))).toBe(true);
        expect(signed.fingerprint).toBe('valid');
      }
      expect(readLifetime(refresh)).toBe(0);
      expect(new Set(server.peers.map((p) => `${p.address}:${p.port}`)).size).toBe(1);
    },
  );

  it('with binding: true sends a Binding first and reports its reflexive address', async () => {
    const server = await fake('udp', turnHandler());
    const result = await probeUri(`turn:127.0.0.1:${at(server).port}`, options({ binding: true }));
    expect(result).toMatchObject({ ok: true, reflexive: server.peers[0], relayed: RELAYED });
    expect(methods(server)).toEqual([StunMethod.binding, StunMethod.allocate, StunMethod.allocate, StunMethod.refresh]);
  });

  it("a wrong password: the second 401 is 'unauthorized', naming the user and never the password", async () => {
    const server = await fake('udp', turnHandler());
    const result = await probeUri(`turn:127.0.0.1:${at(server).port}`, options({ credential: { username: USERNAME, password: 'wrong' } }));
    expect(result).toEqual({
      ok: false,
      reason: 'unauthorized',
      step: 'allocate',
      detail: `the server refused the credential of user "${USERNAME}" (Allocate: 401 Unauthorized)`,
      resolved: at(server),
      stunError: { code: 401, reason: 'Unauthorized' },
    });
    expect(JSON.stringify(result)).not.toContain('wrong');
  });

  it("431 Integrity Check Failure is 'unauthorized' too", async () => {
    const server = await fake('udp', turnHandler({ signed: (request) => errorAnswer(request, 431, 'Integrity Check Failure') }));
    expect(await probeUri(`turn:127.0.0.1:${at(server).port}`, options())).toMatchObject({
      ok: false,
      reason: 'unauthorized',
      step: 'allocate',
      stunError: { code: 431, reason: 'Integrity Check Failure' },
    });
  });

  it('438 Stale Nonce is retried once with the new nonce, and the Refresh carries it too', async () => {
    let stale = true;
    const server = await fake(
      'udp',
      turnHandler({
        signed: (request) => {
          if (!stale || readText(request, StunAttr.NONCE) === 'nonce-2') return undefined;
          stale = false;
          return errorAnswer(request, 438, 'Stale Nonce', [textAttribute(StunAttr.REALM, REALM), textAttribute(StunAttr.NONCE, 'nonce-2')]);
        },
      }),
    );
    expect(await probeUri(`turn:127.0.0.1:${at(server).port}`, options())).toMatchObject({ ok: true, relayed: RELAYED });
    expect(server.received.map((r) => readText(r, StunAttr.NONCE))).toEqual([undefined, 'nonce-1', 'nonce-2', 'nonce-2']);
  });

  it("a second 438 is 'error', with the code", async () => {
    const server = await fake(
      'udp',
      turnHandler({ signed: (request) => errorAnswer(request, 438, 'Stale Nonce', [textAttribute(StunAttr.NONCE, 'nonce-again')]) }),
    );
    expect(await probeUri(`turn:127.0.0.1:${at(server).port}`, options())).toMatchObject({
      ok: false,
      reason: 'error',
      step: 'allocate',
      detail: 'Allocate answered 438 Stale Nonce',
      stunError: { code: 438, reason: 'Stale Nonce' },
    });
    expect(methods(server)).toEqual([StunMethod.allocate, StunMethod.allocate, StunMethod.allocate]);
  });

  it("486 Allocation Quota Reached is 'error' at step allocate, with the code and reason phrase", async () => {
    const server = await fake('udp', turnHandler({ signed: (request) => errorAnswer(request, 486, 'Allocation Quota Reached') }));
    expect(await probeUri(`turn:127.0.0.1:${at(server).port}`, options())).toEqual({
      ok: false,
      reason: 'error',
      step: 'allocate',
      detail: 'Allocate answered 486 Allocation Quota Reached',
      resolved: at(server),
      stunError: { code: 486, reason: 'Allocation Quota Reached' },
    });
  });

  it("a failed Refresh is step 'refresh', after the allocation's reflexive address was learnt", async () => {
    const server = await fake(
      'udp',
      turnHandler({
        signed: (request) => (request.method === StunMethod.refresh ? errorAnswer(request, 437, 'Allocation Mismatch') : undefined),
      }),
    );
    expect(await probeUri(`turn:127.0.0.1:${at(server).port}`, options())).toEqual({
      ok: false,
      reason: 'error',
      step: 'refresh',
      detail: 'Refresh answered 437 Allocation Mismatch',
      resolved: at(server),
      reflexive: server.peers[0],
      stunError: { code: 437, reason: 'Allocation Mismatch' },
    });
  });

  it("an Allocate success without XOR-RELAYED-ADDRESS is 'error'", async () => {
    const server = await fake('udp', turnHandler({ noRelayed: true }));
    expect(await probeUri(`turn:127.0.0.1:${at(server).port}`, options())).toMatchObject({
      ok: false,
      reason: 'error',
      step: 'allocate',
      detail: 'the Allocate answer carries no XOR-RELAYED-ADDRESS',
    });
  });

  it("without a credential no Allocate is sent: 'unauthorized'", async () => {
    const server = await fake('udp', turnHandler());
    expect(await probeUri(`turn:127.0.0.1:${at(server).port}`, options({ credential: undefined }))).toEqual({
      ok: false,
      reason: 'unauthorized',
      step: 'allocate',
      detail: 'no credential to try an Allocate with',
      resolved: at(server),
    });
    expect(server.received).toEqual([]);
  });
});

describe('names, connections and the deadline', () => {
  it('resolves the name with the lookup given, and connects to what it found', async () => {
    const server = await fake('udp', turnHandler());
    const asked: string[] = [];
    const lookup = async (host: string) => (asked.push(host), { address: '127.0.0.1', family: 4 as const });
    expect(await probeUri(`stun:stun.example.org:${at(server).port}`, options({ lookup }))).toMatchObject({
      ok: true,
      resolved: at(server),
    });
    expect(asked).toEqual(['stun.example.org']);
  });

  it("a name that does not resolve is 'dns' at step dns", async () => {
    const lookup = () => Promise.reject(Object.assign(new Error('getaddrinfo ENOTFOUND turn.invalid'), { code: 'ENOTFOUND' }));
    expect(await probeUri('turn:turn.invalid', options({ lookup }))).toEqual({
      ok: false,
      reason: 'dns',
      step: 'dns',
      detail: '"turn.invalid" does not resolve (ENOTFOUND)',
    });
  });

  it("a lookup that never answers is 'timeout' at step dns when the deadline passes", async () => {
    const clock = manualClock();
    const probing = probeUri('turn:turn.example.org', options({ timers: clock, lookup: () => new Promise(() => {}) }));
    clock.advance(2000);
    expect(await probing).toEqual({
      ok: false,
      reason: 'timeout',
      step: 'dns',
      detail: '"turn.example.org" did not resolve within 2000 ms',
    });
    expect(clock.pendingTimers()).toBe(0);
  });

  it("a server that never answers is 'timeout' at the step it was at, and the deadline's timer is gone", async () => {
    const clock = manualClock();
    const server = await fake('udp', () => undefined);
    const probing = probeUri(`turn:127.0.0.1:${at(server).port}`, options({ timers: clock }));
    await waitFor(() => server.received.length === 1, { what: 'the Allocate' });
    clock.advance(2000);
    expect(await probing).toEqual({
      ok: false,
      reason: 'timeout',
      step: 'allocate',
      detail: `no answer from 127.0.0.1:${at(server).port} over UDP to the request within 2000 ms`,
      resolved: at(server),
    });
    expect(clock.pendingTimers()).toBe(0);
  });

  it("a closed TCP port is 'refused' at step connect", async () => {
    const port = await freePort();
    expect(await probeUri(`turn:127.0.0.1:${port}?transport=tcp`, options())).toEqual({
      ok: false,
      reason: 'refused',
      step: 'connect',
      detail: `127.0.0.1:${port} over TCP: connection refused (nothing listens there)`,
      resolved: { address: '127.0.0.1', port, family: 4 },
    });
  });

  it("a URI it cannot read is 'error', saying why", async () => {
    expect(await probeUri('turn:turn.example.org?transport=sctp', options())).toEqual({
      ok: false,
      reason: 'error',
      step: 'dns',
      detail: '"turn:turn.example.org?transport=sctp": the only query is ?transport=udp or ?transport=tcp',
    });
  });

  it('closes its TCP connection when done', async () => {
    const server = await fake('tcp', turnHandler());
    expect(await probeUri(`turn:127.0.0.1:${at(server).port}?transport=tcp`, options())).toMatchObject({ ok: true });
    // The fake server forgets a socket once it has closed.
    await waitFor(() => server.openConnections() === 0, { what: 'the probe to close its connection' });
  });
});

function findRequestedTransport(message: DecodedStunMessage): number | undefined {
  return message.attributes.find((a) => a.type === StunAttr.REQUESTED_TRANSPORT)?.value[0];
}
