// Two WebRTC peers from werift (a WebRTC stack in TypeScript) in this process, set up as two
// Matrix clients in a call would be: ICE servers built from a turnServer answer the way
// matrix-js-sdk builds them, relay candidates only, offer, answer and candidates handed
// across in process, and a data channel between them. Every wait is on one of werift's
// events, with a bound, so a connection that never comes fails the test instead of hanging it.

import { RTCPeerConnection, StunOverTurnProtocol, type Event, type RTCDataChannel, type RTCIceServer } from 'werift';

export interface TurnServerAnswer {
  readonly uris: string[];
  readonly username: string;
  readonly password: string;
  readonly ttl: number;
}

/** The ICE server list matrix-js-sdk makes of a turnServer answer (its checkTurnServers). */
export function iceServersFrom(answer: Pick<TurnServerAnswer, 'uris' | 'username' | 'password'>): RTCIceServer[] {
  return [{ urls: answer.uris, username: answer.username, credential: answer.password }];
}

/** Resolves with the first emission of `event` that `accept` takes; rejects after `timeoutMs`. */
export function nextEvent<T extends unknown[]>(
  event: Event<T>,
  accept: (...args: NoInfer<T>) => boolean,
  options: { timeoutMs: number; what: string },
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      subscription.unSubscribe();
      reject(new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.what}`));
    }, options.timeoutMs);
    const subscription = event.subscribe((...args) => {
      if (!accept(...args)) return;
      clearTimeout(timer);
      subscription.unSubscribe();
      resolve(args);
    });
  });
}

/** Resolves once `peer` is in `state` (at once if it already is); rejects after `timeoutMs`. */
export async function untilConnectionState(
  peer: RTCPeerConnection,
  state: RTCPeerConnection['connectionState'],
  options: { timeoutMs: number; what: string },
): Promise<void> {
  if (peer.connectionState === state) return;
  await nextEvent(peer.connectionStateChange, (s) => s === state, options);
}

export interface RelayOnlyCall {
  readonly caller: RTCPeerConnection;
  readonly callee: RTCPeerConnection;
  /** The caller's data channel; the callee's arrives through `calleeChannel`. */
  readonly callerChannel: RTCDataChannel;
  readonly calleeChannel: Promise<RTCDataChannel>;
  /** What went wrong handing descriptions and candidates across (none, in a call that works). */
  readonly signallingErrors: unknown[];
  close(): Promise<void>;
}

/**
 * Two relay-only peers with these ICE servers, the caller's offer (with one data channel)
 * answered by the callee; ICE and DTLS then run on their own. Candidates trickle across as
 * each peer gathers them, as they would in a Matrix call's m.call.candidates events.
 * werift's setLocalDescription resolves only once gathering ends (a browser's resolves at
 * once), so the descriptions are handed across when the signalling state has moved, and the
 * two peers gather at the same time, as two clients would.
 */
export async function startRelayOnlyCall(iceServers: RTCIceServer[], options: { timeoutMs: number }): Promise<RelayOnlyCall> {
  const config = { iceServers, iceTransportPolicy: 'relay' as const };
  const caller = new RTCPeerConnection(config);
  const callee = new RTCPeerConnection(config);
  const signallingErrors: unknown[] = [];
  const record = (error: unknown) => void signallingErrors.push(error);
  const describing: Promise<unknown>[] = [];
  const close = async () => {
    await Promise.all([caller.close(), callee.close()]);
    await Promise.allSettled(describing);
  };
  try {
    for (const [from, to] of [
      [caller, callee],
      [callee, caller],
    ] as const) {
      // werift pairs its relay candidate only with remote candidates added after it exists
      // (checked against werift 0.25.2): one that came earlier would never be checked from
      // this side, and the other side's checks die at this side's relay, which has no
      // permission for them. So a peer gets the other's candidates once it has gathered its own.
      const gathered = gatheringEnded(to);
      from.onIceCandidate.subscribe((candidate) => {
        if (candidate) void gathered.then(() => to.addIceCandidate(candidate.toJSON())).catch(record);
      });
    }
    const calleeChannel = nextEvent(callee.onDataChannel, () => true, {
      timeoutMs: options.timeoutMs,
      what: "the caller's data channel to reach the callee",
    }).then(([channel]) => channel);
    // Left unhandled until a test awaits it, a rejection here would end the test run.
    calleeChannel.catch(() => {});
    const callerChannel = caller.createDataChannel('matrix-call');

    const offer = await caller.createOffer();
    const offered = nextEvent(caller.signalingStateChange, (state) => state === 'have-local-offer', {
      ...options,
      what: 'the caller to take its offer',
    });
    describing.push(caller.setLocalDescription(offer).catch(record));
    await offered;
    await callee.setRemoteDescription(offer);
    const answer = await callee.createAnswer();
    const answered = nextEvent(callee.signalingStateChange, (state) => state === 'stable', {
      ...options,
      what: 'the callee to take its answer',
    });
    describing.push(callee.setLocalDescription(answer).catch(record));
    await answered;
    await caller.setRemoteDescription(answer);
    return { caller, callee, callerChannel, calleeChannel, signallingErrors, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Resolves once `peer` has finished gathering candidates, however long that takes. */
function gatheringEnded(peer: RTCPeerConnection): Promise<void> {
  return new Promise((resolve) => {
    if (peer.iceGatheringState === 'complete') return resolve();
    peer.iceGatheringStateChange.subscribe((state) => state === 'complete' && resolve());
  });
}

/** Resolves once `peer` has finished gathering candidates (at once if it has); rejects after `timeoutMs`. */
export async function untilGathered(peer: RTCPeerConnection, options: { timeoutMs: number; what: string }): Promise<void> {
  if (peer.iceGatheringState === 'complete') return;
  await nextEvent(peer.iceGatheringStateChange, (state) => state === 'complete', options);
}

/** Resolves once `channel` is open (at once if it already is). */
export async function untilOpen(channel: RTCDataChannel, options: { timeoutMs: number; what: string }): Promise<void> {
  if (channel.readyState === 'open') return;
  await nextEvent(channel.stateChanged, (state) => state === 'open', options);
}

/** Sends `text` on `from` and resolves with the first message `to` receives after it. */
export async function exchange(from: RTCDataChannel, to: RTCDataChannel, text: string, options: { timeoutMs: number }): Promise<string> {
  const received = nextEvent(to.onMessage, () => true, { ...options, what: `"${text}" to arrive` });
  from.send(text);
  const [message] = await received;
  return typeof message === 'string' ? message : message.toString('utf8');
}

export interface SelectedPair {
  readonly localType: string | undefined;
  readonly remoteType: string | undefined;
  readonly localAddress: string | undefined;
}

/** The candidate pair ICE selected for this peer, read from its getStats() as a browser's would be. */
export async function selectedPair(peer: RTCPeerConnection): Promise<SelectedPair | undefined> {
  const stats = [...(await peer.getStats()).values()] as unknown as Record<string, unknown>[];
  const transport = stats.find((s) => s.type === 'transport' && s.selectedCandidatePairId !== undefined);
  const pair = stats.find((s) => s.id === transport?.selectedCandidatePairId);
  if (pair === undefined) return undefined;
  const local = stats.find((s) => s.id === pair.localCandidateId);
  const remote = stats.find((s) => s.id === pair.remoteCandidateId);
  return {
    localType: local?.candidateType as string | undefined,
    remoteType: remote?.candidateType as string | undefined,
    localAddress: local?.address as string | undefined,
  };
}

/** Types of every candidate this peer gathered for itself. */
export async function localCandidateTypes(peer: RTCPeerConnection): Promise<string[]> {
  const stats = [...(await peer.getStats()).values()] as unknown as Record<string, unknown>[];
  return stats.filter((s) => s.type === 'local-candidate').map((s) => s.candidateType as string);
}

/**
 * How this peer reaches the TURN server on its selected pair: 'udp', 'tcp' or 'tls'. No
 * statistic says it (a relay candidate is udp whatever carries it to the server), and
 * werift quietly retries a failed UDP allocation over TCP, so it is read from werift's ICE
 * connection (checked against werift 0.25.2; undefined if an upgrade moves it, which fails
 * the test that asserts it).
 */
export function turnTransportOf(peer: RTCPeerConnection): string | undefined {
  const protocol = peer.iceTransports[0]?.connection.nominated?.protocol;
  return protocol instanceof StunOverTurnProtocol ? protocol.turn.transport.type : undefined;
}
