// The proof that an answer is usable by a real ICE agent: two WebRTC peers (werift) take
// their ICE servers from this service's turnServer answer, exactly as a Matrix client does,
// gather relay candidates only, and connect through a real coturn to exchange a
// data-channel message each way. A password altered by one character gets no relay, so
// the call never connects, and coturn says why.

import type { RTCPeerConnection } from 'werift';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { startHomeserver, type StandInHomeserver } from '../helpers/homeserver.js';
import { TEST_SECRET, startTestService, type TestService } from '../helpers/service.js';
import { waitFor } from '../helpers/wait.js';
import {
  exchange,
  iceServersFrom,
  localCandidateTypes,
  nextEvent,
  selectedPair,
  startRelayOnlyCall,
  turnTransportOf,
  untilConnectionState,
  untilGathered,
  untilOpen,
  type RelayOnlyCall,
  type TurnServerAnswer,
} from '../helpers/webrtc.js';

// Allocation, ICE checks through the relay, DTLS and SCTP: well under a second on loopback;
// the bound leaves room for a loaded machine.
const CONNECT_TIMEOUT_MS = 10_000;
// werift drops coturn's 401 to its authenticated Allocate (an error response without a valid
// MESSAGE-INTEGRITY), retransmits until its STUN transaction times out (about 6.4 s), then
// tries the same over TCP: it gives up gathering after about 13 s.
const GIVE_UP_TIMEOUT_MS = 20_000;

let homeserver: StandInHomeserver;
let coturn: Coturn;
const services: TestService[] = [];
const calls: RelayOnlyCall[] = [];

async function answerFor(turnUris: string): Promise<TurnServerAnswer> {
  const service = await startTestService({ HOMESERVER_URL: homeserver.url, TURN_URIS: turnUris, LOG_LEVEL: 'warn' });
  services.push(service);
  const res = await service.turnServer('alice-token');
  expect(res.status).toBe(200);
  return (await res.json()) as TurnServerAnswer;
}

async function call(answer: Pick<TurnServerAnswer, 'uris' | 'username' | 'password'>): Promise<RelayOnlyCall> {
  const started = await startRelayOnlyCall(iceServersFrom(answer), { timeoutMs: CONNECT_TIMEOUT_MS });
  calls.push(started);
  return started;
}

/** What coturn logs when it answers an Allocate for this username with 401 (wrong password or secret). */
const refusalOf = (username: string) => `check_stun_auth: Cannot find credentials of user <${username}>`;

/** The first of `states` the peer reaches, or 'none' if it reaches neither within `timeoutMs`. */
async function firstOf(peer: RTCPeerConnection, states: RTCPeerConnection['connectionState'][], timeoutMs: number): Promise<string> {
  if (states.includes(peer.connectionState)) return peer.connectionState;
  const reached = nextEvent(peer.connectionStateChange, (state) => states.includes(state), { timeoutMs, what: states.join(' or ') });
  return reached.then(
    ([state]) => state,
    () => 'none',
  );
}

beforeAll(async () => {
  homeserver = await startHomeserver();
  homeserver.addToken('alice-token', { userId: '@alice:example.org' });
  // Verbose: coturn logs a successful allocation only then.
  coturn = await startCoturn({ secrets: [TEST_SECRET], extraArgs: ['-v'] });
});
afterAll(async () => {
  await Promise.all(calls.map((c) => c.close()));
  await Promise.all(services.map((s) => s.stop()));
  await coturn?.stop();
  await homeserver?.close();
});

describe.each(['udp', 'tcp'])('two relay-only werift peers, TURN over %s', (transport) => {
  it('connect through coturn with the credential from the answer and exchange a message each way', async () => {
    const answer = await answerFor(`turn:127.0.0.1:${coturn.port}?transport=${transport}`);
    const { caller, callee, callerChannel, calleeChannel, signallingErrors } = await call(answer);

    await Promise.all([
      untilConnectionState(caller, 'connected', { timeoutMs: CONNECT_TIMEOUT_MS, what: 'the caller to connect' }),
      untilConnectionState(callee, 'connected', { timeoutMs: CONNECT_TIMEOUT_MS, what: 'the callee to connect' }),
    ]);
    const theirs = await calleeChannel;
    await untilOpen(callerChannel, { timeoutMs: CONNECT_TIMEOUT_MS, what: "the caller's channel to open" });
    await untilOpen(theirs, { timeoutMs: CONNECT_TIMEOUT_MS, what: "the callee's channel to open" });

    expect(await exchange(callerChannel, theirs, 'hello from the caller', { timeoutMs: CONNECT_TIMEOUT_MS })).toBe('hello from the caller');
    expect(await exchange(theirs, callerChannel, 'hello from the callee', { timeoutMs: CONNECT_TIMEOUT_MS })).toBe('hello from the callee');

    // Each side sends from a relayed address of coturn's to the other's relayed address.
    const relayed = { localType: 'relay', remoteType: 'relay', localAddress: '127.0.0.1' };
    expect(await selectedPair(caller)).toMatchObject(relayed);
    expect(await selectedPair(callee)).toMatchObject(relayed);
    expect(await localCandidateTypes(caller)).toEqual(['relay']);
    expect(await localCandidateTypes(callee)).toEqual(['relay']);
    // werift retries a failed UDP allocation over TCP: the URI's own transport must be the one used.
    expect([turnTransportOf(caller), turnTransportOf(callee)]).toEqual([transport, transport]);
    expect(coturn.log()).not.toContain(refusalOf(answer.username));
    await waitFor(() => coturn.log().includes(`user <${answer.username}>: incoming packet ALLOCATE processed, success`), {
      timeoutMs: CONNECT_TIMEOUT_MS,
      what: 'coturn to log the allocation made with the answer',
    });
    expect(signallingErrors).toEqual([]);
  });
});

describe('a password altered by one character', () => {
  it('gets no relay candidate, so the call never connects, and coturn refuses the credential', async () => {
    const answer = await answerFor(`turn:127.0.0.1:${coturn.port}?transport=udp`);
    const password = `${answer.password[0] === 'A' ? 'B' : 'A'}${answer.password.slice(1)}`;
    const { caller, callee } = await call({ ...answer, password });

    const outcome = Promise.all([caller, callee].map((peer) => firstOf(peer, ['connected', 'failed'], CONNECT_TIMEOUT_MS)));
    await Promise.all([
      untilGathered(caller, { timeoutMs: GIVE_UP_TIMEOUT_MS, what: 'the caller to give up gathering' }),
      untilGathered(callee, { timeoutMs: GIVE_UP_TIMEOUT_MS, what: 'the callee to give up gathering' }),
    ]);
    expect(await localCandidateTypes(caller)).toEqual([]);
    expect(await localCandidateTypes(callee)).toEqual([]);
    expect(await outcome).not.toContain('connected');
    await waitFor(() => coturn.log().includes(refusalOf(answer.username)), {
      timeoutMs: CONNECT_TIMEOUT_MS,
      what: `coturn to log its refusal of ${answer.username}`,
    });
  });
});
