// One connection to a STUN/TURN server, over UDP, TCP or TLS, carrying requests and
// handing each back the answer with its transaction id. UDP retransmits as RFC 8489
// §6.2.1 asks (RTO 500 ms, doubled after each of up to 7 sends, then 16 RTO for the last
// answer); TCP and TLS send once, and the answers come back to back on the stream,
// without framing (§6.2.2). A probe uses one connection for all its requests, because a
// TURN allocation lives on its 5-tuple: over TCP it is tied to the connection, and the
// Refresh that deletes it must come the same way. Every wait ends when the caller's
// signal aborts (the probe's one deadline, on the injected timers): a 'timeout' failure.

import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect as connectTcp, isIP, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import type { Timers, TimerHandle } from '../../clock.js';
import { errorCode, errorNameAndMessage } from '../../error-fields.js';
import {
  decodeMessage,
  encodeMessage,
  integrityMatches,
  messageLength,
  type DecodedStunMessage,
  type StunMessage,
  type TransportAddress,
} from './stun-message.js';

export type StunTransportFailure = 'timeout' | 'refused' | 'tls' | 'error';

/** How a connection or a request failed: the reason, and one line in words for an operator. */
export class StunTransportError extends Error {
  override readonly name = 'StunTransportError';
  constructor(
    readonly reason: StunTransportFailure,
    message: string,
  ) {
    super(message);
  }
}

export interface StunConnectionOptions {
  readonly transport: 'udp' | 'tcp' | 'tls';
  /** The server's resolved address. */
  readonly server: TransportAddress;
  /** TLS: the name the certificate must carry (the URI's host, sent as SNI unless an IP address). */
  readonly servername?: string;
  readonly tls?: { readonly ca?: string; readonly rejectUnauthorized?: boolean };
  readonly timers: Timers;
  /** Aborted when time is up: the connection attempt and every request fail with 'timeout'. */
  readonly signal: AbortSignal;
}

export interface StunRequestOptions {
  /** Signs the request with MESSAGE-INTEGRITY; a success answer must then carry a matching one (RFC 8489 §9.2.5). */
  readonly integrityKey?: Buffer;
}

export interface StunConnection {
  /** Resolves with the answer (success or error response); rejects with a StunTransportError. */
  request(message: StunMessage, options?: StunRequestOptions): Promise<DecodedStunMessage>;
  /** Closes the socket; requests still waiting fail. */
  close(): void;
}

/** Initial retransmission timeout, sends at most, and the last wait in RTOs (RFC 8489 §6.2.1). */
const RTO_MS = 500;
const MAX_SENDS = 7;
const LAST_WAIT_RTOS = 16;

interface Pending {
  readonly key: Buffer | undefined;
  readonly resolve: (answer: DecodedStunMessage) => void;
  readonly fail: (error: StunTransportError) => void;
  /** A datagram answer was dropped for its integrity: said instead of a bare timeout. */
  dropped?: string;
}

/** Opens a connection (for TCP and TLS, connected and handshaken); rejects with a StunTransportError. */
export async function openStunConnection(options: StunConnectionOptions): Promise<StunConnection> {
  if (options.signal.aborted) throw timedOut(options, 'before connecting');
  return options.transport === 'udp' ? openUdp(options) : openStream(options);
}

const where = ({ server, transport }: StunConnectionOptions) =>
  `${server.family === 6 ? `[${server.address}]` : server.address}:${server.port} over ${transport.toUpperCase()}`;

/** `during` completes the sentence: "before sending", "to the request", "in the TLS handshake". */
const timedOut = (options: StunConnectionOptions, during: string) =>
  new StunTransportError('timeout', `no answer from ${where(options)} ${during}`);

/** The transactions waiting on one connection, and what an incoming message does to them. */
function transactions(options: StunConnectionOptions, datagram: boolean) {
  const pending = new Map<string, Pending>();
  const failAll = (error: StunTransportError) => {
    for (const entry of [...pending.values()]) entry.fail(error);
  };
  const onAbort = () => {
    for (const entry of [...pending.values()]) {
      entry.fail(entry.dropped === undefined ? timedOut(options, 'to the request') : new StunTransportError('error', entry.dropped));
    }
  };
  options.signal.addEventListener('abort', onAbort, { once: true });

  /** A malformed or unverifiable answer: a datagram is dropped (it may be forged or stray), a stream is broken. */
  const refuse = (problem: string, entry?: Pending) => {
    if (!datagram) failAll(new StunTransportError('error', `${where(options)}: ${problem}`));
    else if (entry !== undefined) entry.dropped = `${where(options)}: ${problem}`;
  };

  return {
    pending,
    failAll,
    detach: () => options.signal.removeEventListener('abort', onAbort),
    receive(bytes: Buffer) {
      let answer: DecodedStunMessage;
      try {
        answer = decodeMessage(bytes);
      } catch (error) {
        return refuse(`a malformed answer (${errorNameAndMessage(error)?.message ?? 'unreadable'})`);
      }
      const entry = pending.get(answer.transactionId.toString('hex'));
      if (entry === undefined || (answer.class !== 'success' && answer.class !== 'error')) return;
      if (answer.fingerprint === 'invalid') return refuse('an answer whose FINGERPRINT does not match', entry);
      if (entry.key !== undefined && answer.class === 'success' && !integrityMatches(answer, entry.key)) {
        return refuse("an answer whose MESSAGE-INTEGRITY does not match the credential's key", entry);
      }
      entry.resolve(answer);
    },
  };
}

async function openUdp(options: StunConnectionOptions): Promise<StunConnection> {
  const { server, timers, signal } = options;
  const socket: UdpSocket = createSocket(server.family === 6 ? 'udp6' : 'udp4');
  const table = transactions(options, true);
  let closed = false;
  socket.on('message', (bytes) => table.receive(bytes));
  // A connected UDP socket is told of an ICMP port unreachable as ECONNREFUSED.
  socket.on('error', (error) => table.failAll(socketFailure(options, error)));
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(server.port, server.address, () => {
        socket.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    socket.close();
    table.detach();
    throw socketFailure(options, error);
  }

  return {
    request(message, requestOptions = {}) {
      const bytes = encodeMessage(message, { integrityKey: requestOptions.integrityKey, fingerprint: true });
      const id = message.transactionId.toString('hex');
      return new Promise((resolve, reject) => {
        let timer: TimerHandle | undefined;
        const settle = () => {
          timers.clearTimeout(timer);
          table.pending.delete(id);
        };
        const entry: Pending = {
          key: requestOptions.integrityKey,
          resolve: (answer) => (settle(), resolve(answer)),
          fail: (error) => (settle(), reject(error)),
        };
        if (closed) return reject(new StunTransportError('error', 'the connection is closed'));
        if (signal.aborted) return reject(timedOut(options, 'before sending'));
        table.pending.set(id, entry);
        const send = (sends: number, rtoMs: number) => {
          socket.send(bytes);
          timer =
            sends < MAX_SENDS
              ? timers.setTimeout(() => send(sends + 1, rtoMs * 2), rtoMs)
              : timers.setTimeout(
                  () => entry.fail(new StunTransportError('timeout', `no answer from ${where(options)} after ${MAX_SENDS} sends`)),
                  LAST_WAIT_RTOS * RTO_MS,
                );
        };
        send(1, RTO_MS);
      });
    },
    close() {
      if (closed) return;
      closed = true;
      table.failAll(new StunTransportError('error', 'the connection was closed'));
      table.detach();
      socket.close();
    },
  };
}

async function openStream(options: StunConnectionOptions): Promise<StunConnection> {
  const socket = await connectStream(options);
  const table = transactions(options, false);
  let buffered = Buffer.alloc(0);
  let closed = false;
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    try {
      for (let length = messageLength(buffered); length !== undefined && buffered.length >= length; length = messageLength(buffered)) {
        const message = buffered.subarray(0, length);
        buffered = buffered.subarray(length);
        table.receive(message);
      }
    } catch (error) {
      // Not STUN: nothing after it on this stream can be read either.
      buffered = Buffer.alloc(0);
      table.failAll(
        new StunTransportError('error', `${where(options)}: not a STUN answer (${errorNameAndMessage(error)?.message ?? 'unreadable'})`),
      );
    }
  });
  socket.on('error', (error) => table.failAll(socketFailure(options, error)));
  socket.on('close', () => table.failAll(new StunTransportError('error', `${where(options)} closed the connection without answering`)));

  return {
    request(message, requestOptions = {}) {
      const id = message.transactionId.toString('hex');
      return new Promise((resolve, reject) => {
        const entry: Pending = {
          key: requestOptions.integrityKey,
          resolve: (answer) => (table.pending.delete(id), resolve(answer)),
          fail: (error) => (table.pending.delete(id), reject(error)),
        };
        if (closed || socket.destroyed) return reject(new StunTransportError('error', 'the connection is closed'));
        if (options.signal.aborted) return reject(timedOut(options, 'before sending'));
        table.pending.set(id, entry);
        socket.write(encodeMessage(message, { integrityKey: requestOptions.integrityKey, fingerprint: true }));
      });
    },
    close() {
      if (closed) return;
      closed = true;
      table.failAll(new StunTransportError('error', 'the connection was closed'));
      table.detach();
      socket.destroy();
    },
  };
}

/** A TCP connection, and for TLS the handshake on it: each failure told apart (refused, tls, timeout). */
async function connectStream(options: StunConnectionOptions): Promise<Socket> {
  const { server } = options;
  const tcp = connectTcp({ host: server.address, port: server.port, family: server.family });
  await settleOnce(tcp, 'connect', options, 'to the connection attempt', (error) => socketFailure(options, error));
  if (options.transport !== 'tls') return tcp;
  const name = options.servername ?? server.address;
  // The TLS socket reports what happens to the TCP one beneath it (a reset, a close).
  tcp.on('error', () => {});
  const tls = connectTls({
    socket: tcp,
    // SNI carries names only (RFC 6066 §3); the certificate is checked against `host` either way.
    host: name,
    ...(isIP(name) === 0 && { servername: name }),
    ...(options.tls?.ca !== undefined && { ca: options.tls.ca }),
    rejectUnauthorized: options.tls?.rejectUnauthorized ?? true,
  });
  await settleOnce(tls, 'secureConnect', options, 'in the TLS handshake', (error) => {
    const code = errorCode(error);
    const words = errorNameAndMessage(error)?.message ?? 'failed';
    return new StunTransportError('tls', `the TLS handshake with ${name} (${where(options)}) failed: ${words}${code ? ` (${code})` : ''}`);
  });
  return tls;
}

/** Resolves on `event`; on an error or an abort destroys the socket and rejects. */
function settleOnce(
  socket: Socket,
  event: 'connect' | 'secureConnect',
  options: StunConnectionOptions,
  during: string,
  failure: (error: unknown) => StunTransportError,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: StunTransportError) => {
      socket.off(event, onEvent);
      socket.off('error', onError);
      options.signal.removeEventListener('abort', onAbort);
      if (error === undefined) return resolve();
      socket.destroy();
      reject(error);
    };
    const onEvent = () => done();
    const onError = (error: unknown) => done(failure(error));
    const onAbort = () => done(timedOut(options, during));
    socket.once(event, onEvent);
    socket.once('error', onError);
    options.signal.addEventListener('abort', onAbort, { once: true });
  });
}

function socketFailure(options: StunConnectionOptions, error: unknown): StunTransportError {
  const code = errorCode(error);
  if (code === 'ECONNREFUSED') {
    return new StunTransportError(
      'refused',
      options.transport === 'udp'
        ? `${where(options)}: port unreachable (nothing listens there)`
        : `${where(options)}: connection refused (nothing listens there)`,
    );
  }
  const words = errorNameAndMessage(error)?.message ?? 'failed';
  return new StunTransportError('error', `${where(options)}: ${words}${code !== undefined && !words.includes(code) ? ` (${code})` : ''}`);
}
