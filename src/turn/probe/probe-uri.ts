// One check of one stun:/stuns:/turn:/turns: URI, as a client would use it: the name
// resolved, a connection over the URI's own transport (UDP, TCP, TLS), then for stun: a
// Binding request, and for turn: an Allocate (RFC 8656) with the long-term credential
// given (the 401 challenge answered with USERNAME, REALM, NONCE and MESSAGE-INTEGRITY; a
// 438 Stale Nonce retried once with the new nonce), followed by a Refresh with LIFETIME 0
// on the same connection so nothing stays allocated. The outcome is a ProbeResult, never a
// throw: success with the addresses learnt, or one reason from a fixed list with the step
// it happened at and one line for an operator (the username may appear in it, the
// password never). One deadline on the injected timers bounds all the steps together, and
// every socket opened is closed before the result is handed back.
//
// The STUN codec and transport are our own (stun-message.ts, stun-transport.ts). Of the
// npm libraries, `stun`, `@msimerson/stun` and `webrtc-stun` are Binding clients: none
// sends an authenticated Allocate or a Refresh, none speaks STUN over TCP, only
// `@msimerson/stun` speaks TLS (one Binding per connection), and `stun` and `webrtc-stun`
// depend on `ip`, which has open advisories. werift's TURN client does allocate over UDP,
// TCP and TLS, but as a part of its ICE agent: it never sends Refresh with LIFETIME 0
// (close() leaves the allocation standing until it expires), its timers cannot be
// injected nor its failures told apart, it asks for Node 22, and it brings a whole WebRTC
// stack.

import { randomBytes } from 'node:crypto';
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { systemTimers, type Timers } from '../../clock.js';
import { errorCode, errorNameAndMessage } from '../../error-fields.js';
import {
  StunAttr,
  StunMethod,
  TRANSPORT_UDP,
  lifetimeAttribute,
  longTermKey,
  readAddress,
  readErrorCode,
  readLifetime,
  readText,
  requestedTransportAttribute,
  textAttribute,
  type DecodedStunMessage,
  type StunAttribute,
  type TransportAddress,
} from './stun-message.js';
import { StunTransportError, openStunConnection, type StunConnection } from './stun-transport.js';
import { parseTurnUri, type TurnUri } from './turn-uri.js';

export type { TransportAddress } from './stun-message.js';

export type ProbeFailureReason = 'timeout' | 'refused' | 'unauthorized' | 'tls' | 'dns' | 'error';

export interface ProbeCredential {
  readonly username: string;
  readonly password: string;
}

export interface ProbeOptions {
  /** Milliseconds the whole probe may take, all steps together. */
  readonly timeoutMs: number;
  /** Needed for turn:/turns:; absent, no Allocate is tried and a turn: URI is 'unauthorized'. */
  readonly credential?: ProbeCredential;
  /** Default systemTimers. */
  readonly timers?: Timers;
  /** For stuns:/turns:: the CA to trust (PEM), and whether to check the certificate at all (default true). */
  readonly tls?: { readonly ca?: string; readonly rejectUnauthorized?: boolean };
  /** Default dns.promises.lookup. */
  readonly lookup?: (host: string) => Promise<{ address: string; family: 4 | 6 }>;
  /** turn:/turns: also send a Binding first (the doctor wants the reflexive address; the health check does not). */
  readonly binding?: boolean;
}

export type ProbeStep = 'dns' | 'connect' | 'binding' | 'allocate' | 'refresh';

export type ProbeResult =
  | {
      readonly ok: true;
      readonly resolved: TransportAddress;
      readonly reflexive?: TransportAddress;
      readonly relayed?: TransportAddress;
      readonly lifetimeSeconds?: number;
    }
  | {
      readonly ok: false;
      readonly reason: ProbeFailureReason;
      readonly step: ProbeStep;
      readonly detail: string;
      readonly resolved?: TransportAddress;
      readonly reflexive?: TransportAddress;
      /** For reason 'error' (and 'unauthorized'): the STUN ERROR-CODE the server gave. */
      readonly stunError?: { readonly code: number; readonly reason: string };
    };

const SOFTWARE = textAttribute(StunAttr.SOFTWARE, 'matrix-turn-credentials probe');
const METHOD_NAMES: Record<number, string> = {
  [StunMethod.binding]: 'Binding',
  [StunMethod.allocate]: 'Allocate',
  [StunMethod.refresh]: 'Refresh',
};

/** A failure found along the way, thrown to the top of probeUri and turned into its result there. */
class ProbeFailure extends Error {
  constructor(
    readonly reason: ProbeFailureReason,
    readonly detail: string,
    readonly stunError?: { readonly code: number; readonly reason: string },
  ) {
    super(detail);
  }
}

/** What the probe has learnt so far, and where it is. */
interface Progress {
  step: ProbeStep;
  resolved?: TransportAddress;
  reflexive?: TransportAddress;
}

export async function probeUri(uri: string, options: ProbeOptions): Promise<ProbeResult> {
  const timers = options.timers ?? systemTimers;
  const deadline = new AbortController();
  const timer = timers.setTimeout(() => deadline.abort(), options.timeoutMs);
  const progress: Progress = { step: 'dns' };
  let connection: StunConnection | undefined;
  try {
    const target = parseTurnUri(uri);
    progress.resolved = await resolve(target, options, deadline.signal);
    progress.step = 'connect';
    connection = await openStunConnection({
      transport: target.transport,
      server: progress.resolved,
      servername: target.host,
      ...(options.tls !== undefined && { tls: options.tls }),
      timers,
      signal: deadline.signal,
    });
    const isTurn = target.scheme === 'turn' || target.scheme === 'turns';
    if (!isTurn || options.binding === true) {
      progress.step = 'binding';
      progress.reflexive = await bind(connection);
    }
    if (!isTurn) return { ok: true, resolved: progress.resolved, ...(progress.reflexive && { reflexive: progress.reflexive }) };
    progress.step = 'allocate';
    if (options.credential === undefined) throw new ProbeFailure('unauthorized', 'no credential to try an Allocate with');
    return await allocateAndRelease(connection, options.credential, progress);
  } catch (error) {
    return failed(progress, error, deadline.signal.aborted ? options.timeoutMs : undefined);
  } finally {
    timers.clearTimeout(timer);
    connection?.close();
  }
}

async function resolve(target: TurnUri, options: ProbeOptions, signal: AbortSignal): Promise<TransportAddress> {
  const family = isIP(target.host);
  if (family === 4 || family === 6) return { address: target.host, port: target.port, family };
  const lookup = options.lookup ?? defaultLookup;
  const looking = lookup(target.host);
  // A lookup cannot be cancelled: one still running at the deadline is left to finish unheard.
  looking.catch(() => {});
  const aborted = new Promise<never>((_, reject) => {
    const onAbort = () => reject(new ProbeFailure('timeout', `"${target.host}" did not resolve`));
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    void looking.finally(() => signal.removeEventListener('abort', onAbort)).catch(() => {});
  });
  try {
    const found = await Promise.race([looking, aborted]);
    return { address: found.address, port: target.port, family: found.family };
  } catch (error) {
    if (error instanceof ProbeFailure) throw error;
    const code = errorCode(error);
    throw new ProbeFailure('dns', `"${target.host}" does not resolve${code === undefined ? '' : ` (${code})`}`);
  }
}

async function defaultLookup(host: string): Promise<{ address: string; family: 4 | 6 }> {
  const found = await dnsLookup(host);
  return { address: found.address, family: found.family === 6 ? 6 : 4 };
}

const request = (method: number, attributes: StunAttribute[]) => ({
  method,
  class: 'request' as const,
  transactionId: randomBytes(12),
  attributes: [...attributes, SOFTWARE],
});

async function bind(connection: StunConnection): Promise<TransportAddress> {
  const answer = await connection.request(request(StunMethod.binding, []));
  if (answer.class === 'error') throw refusal(answer, StunMethod.binding, undefined);
  const reflexive = readAddress(answer, StunAttr.XOR_MAPPED_ADDRESS, true) ?? readAddress(answer, StunAttr.MAPPED_ADDRESS, false);
  if (reflexive === undefined) throw new ProbeFailure('error', 'the Binding answer carries no XOR-MAPPED-ADDRESS');
  return reflexive;
}

/** Allocate, answering the server's challenge with the credential, then Refresh with LIFETIME 0. */
async function allocateAndRelease(connection: StunConnection, credential: ProbeCredential, progress: Progress): Promise<ProbeResult> {
  const allocation = [requestedTransportAttribute(TRANSPORT_UDP)];
  const challenge = await connection.request(request(StunMethod.allocate, allocation));
  let signed: ((method: number, attributes: StunAttribute[]) => Promise<DecodedStunMessage>) | undefined;
  let answer = challenge;
  if (challenge.class === 'error') {
    const error = readErrorCode(challenge);
    const realm = readText(challenge, StunAttr.REALM);
    const nonce = readText(challenge, StunAttr.NONCE);
    if (error?.code !== 401) throw refusal(challenge, StunMethod.allocate, undefined);
    if (realm === undefined || nonce === undefined)
      throw new ProbeFailure('error', 'the 401 challenge carries no REALM or no NONCE', error);
    signed = signedRequests(connection, credential, realm, nonce);
    answer = await signed(StunMethod.allocate, allocation);
    if (answer.class === 'error') throw refusal(answer, StunMethod.allocate, credential);
  }
  const relayed = readAddress(answer, StunAttr.XOR_RELAYED_ADDRESS, true);
  if (relayed === undefined) throw new ProbeFailure('error', 'the Allocate answer carries no XOR-RELAYED-ADDRESS');
  progress.reflexive ??= readAddress(answer, StunAttr.XOR_MAPPED_ADDRESS, true);
  const lifetimeSeconds = readLifetime(answer);

  progress.step = 'refresh';
  const release = [lifetimeAttribute(0)];
  const released =
    signed === undefined ? await connection.request(request(StunMethod.refresh, release)) : await signed(StunMethod.refresh, release);
  if (released.class === 'error') throw refusal(released, StunMethod.refresh, credential);
  return {
    ok: true,
    resolved: progress.resolved!,
    ...(progress.reflexive !== undefined && { reflexive: progress.reflexive }),
    relayed,
    ...(lifetimeSeconds !== undefined && { lifetimeSeconds }),
  };
}

/**
 * Requests signed with the long-term credential (RFC 8489 §9.2.3), all with the same realm
 * and nonce; a 438 Stale Nonce is retried once with the nonce (and realm) it brings.
 */
function signedRequests(connection: StunConnection, credential: ProbeCredential, realm: string, nonce: string) {
  let current = { realm, nonce, key: longTermKey(credential.username, realm, credential.password) };
  return async (method: number, attributes: StunAttribute[]): Promise<DecodedStunMessage> => {
    for (let attempt = 1; ; attempt += 1) {
      const auth = [
        textAttribute(StunAttr.USERNAME, credential.username),
        textAttribute(StunAttr.REALM, current.realm),
        textAttribute(StunAttr.NONCE, current.nonce),
      ];
      const answer = await connection.request(request(method, [...attributes, ...auth]), { integrityKey: current.key });
      const stale = answer.class === 'error' && readErrorCode(answer)?.code === 438;
      const nonce = readText(answer, StunAttr.NONCE);
      if (!stale || attempt === 2 || nonce === undefined) return answer;
      const realm = readText(answer, StunAttr.REALM) ?? current.realm;
      current = { realm, nonce, key: longTermKey(credential.username, realm, credential.password) };
    }
  };
}

/** The failure an error answer stands for: the credential refused (401, 431), or any other error code. */
function refusal(answer: DecodedStunMessage, method: number, credential: ProbeCredential | undefined): ProbeFailure {
  const error = readErrorCode(answer);
  const name = METHOD_NAMES[method] ?? `method 0x${method.toString(16)}`;
  if (error === undefined) return new ProbeFailure('error', `the ${name} error answer carries no ERROR-CODE`);
  const said = `${error.code}${error.reason === '' ? '' : ` ${error.reason}`}`;
  if (credential !== undefined && (error.code === 401 || error.code === 431)) {
    return new ProbeFailure('unauthorized', `the server refused the credential of user "${credential.username}" (${name}: ${said})`, error);
  }
  return new ProbeFailure('error', `${name} answered ${said}`, error);
}

function failed(progress: Progress, error: unknown, timedOutAfterMs: number | undefined): ProbeResult {
  const { step, resolved, reflexive } = progress;
  const known = { ...(resolved !== undefined && { resolved }), ...(reflexive !== undefined && { reflexive }) };
  if (
    timedOutAfterMs !== undefined &&
    (error instanceof StunTransportError || error instanceof ProbeFailure) &&
    error.reason === 'timeout'
  ) {
    return { ok: false, reason: 'timeout', step, detail: `${error.message} within ${timedOutAfterMs} ms`, ...known };
  }
  if (error instanceof ProbeFailure) {
    return {
      ok: false,
      reason: error.reason,
      step,
      detail: error.detail,
      ...known,
      ...(error.stunError && { stunError: error.stunError }),
    };
  }
  if (error instanceof StunTransportError) return { ok: false, reason: error.reason, step, detail: error.message, ...known };
  return { ok: false, reason: 'error', step, detail: errorNameAndMessage(error)?.message ?? String(error), ...known };
}
