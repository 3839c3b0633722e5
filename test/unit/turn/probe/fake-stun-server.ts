// A STUN server of the test's own making, on a loopback port, UDP or TCP: it records each
// request it gets and writes whatever the test's handler returns for it (nothing, one
// answer, or pieces written one by one, so a test can split an answer or join two).

import { createSocket } from 'node:dgram';
import { createServer, type Socket } from 'node:net';
import {
  decodeMessage,
  encodeMessage,
  messageLength,
  type DecodedStunMessage,
  type EncodeOptions,
  type StunAttribute,
  type StunClass,
  type TransportAddress,
} from '../../../../src/turn/probe/stun-message.js';

export interface FakeStunServer {
  readonly address: TransportAddress;
  /** Every request received, in order (retransmissions included). */
  readonly received: DecodedStunMessage[];
  /** The address each request came from. */
  readonly peers: TransportAddress[];
  /** TCP: connections still open (0 for UDP). */
  openConnections(): number;
  close(): Promise<void>;
}

/** What the handler returns: nothing, or the bytes to write (an array: one write each). */
export type FakeAnswer = Buffer | Buffer[] | undefined;
/** `peer` is the address the request came from (what a STUN server reflects). */
export type FakeHandler = (request: DecodedStunMessage, index: number, peer: TransportAddress) => FakeAnswer;

/** The answer to `request` of `cls` with these attributes, optionally signed. */
export function answer(request: DecodedStunMessage, cls: StunClass, attributes: StunAttribute[], options: EncodeOptions = {}): Buffer {
  return encodeMessage({ method: request.method, class: cls, transactionId: request.transactionId, attributes }, options);
}

export async function startFakeStunServer(transport: 'udp' | 'tcp', handler: FakeHandler): Promise<FakeStunServer> {
  const received: DecodedStunMessage[] = [];
  const peers: TransportAddress[] = [];
  const handle = (bytes: Buffer, peer: TransportAddress): Buffer[] => {
    const request = decodeMessage(bytes);
    received.push(request);
    peers.push(peer);
    const out = handler(request, received.length - 1, peer);
    return out === undefined ? [] : Array.isArray(out) ? out : [out];
  };

  if (transport === 'udp') {
    const socket = createSocket('udp4');
    socket.on('message', (bytes, rinfo) => {
      for (const piece of handle(bytes, { address: rinfo.address, port: rinfo.port, family: 4 }))
        socket.send(piece, rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    return {
      address: { address: '127.0.0.1', port: socket.address().port, family: 4 },
      received,
      peers,
      openConnections: () => 0,
      close: () => new Promise((resolve) => socket.close(() => resolve())),
    };
  }

  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (let length = messageLength(buffered); length !== undefined && buffered.length >= length; length = messageLength(buffered)) {
        const pieces = handle(buffered.subarray(0, length), { address: socket.remoteAddress!, port: socket.remotePort!, family: 4 });
        buffered = buffered.subarray(length);
        for (const piece of pieces) socket.write(piece);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    address: { address: '127.0.0.1', port, family: 4 },
    received,
    peers,
    openConnections: () => sockets.size,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
