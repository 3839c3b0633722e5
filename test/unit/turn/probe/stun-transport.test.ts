// The connection under a probe, against servers of the test's making on loopback: UDP
// retransmits on the RFC 8489 schedule (read off the injected timers), answers find their
// request by transaction id over UDP and TCP (joined or split on the stream), unverifiable
// answers are dropped or refused, and each failure has its reason: refused, timeout, tls.

import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { createServer, type Socket } from 'node:net';
import type { TimerHandle, Timers } from '../../../../src/clock.js';
import { StunAttr, StunMethod, addressAttribute, type StunMessage } from '../../../../src/turn/probe/stun-message.js';
import { StunTransportError, openStunConnection, type StunConnection } from '../../../../src/turn/probe/stun-transport.js';
import { manualClock, type ManualClock } from '../../../helpers/clock.js';
import { freePort } from '../../../helpers/ports.js';
import { waitFor } from '../../../helpers/wait.js';
import { answer, startFakeStunServer, type FakeStunServer } from './fake-stun-server.js';

const binding = (): StunMessage => ({ method: StunMethod.binding, class: 'request', transactionId: randomBytes(12), attributes: [] });
const REFLEXIVE = { address: '127.0.0.1', port: 40000, family: 4 } as const;

/** Timers on a manual clock that also note each timeout's delay. */
function recordingTimers(clock: ManualClock): Timers & { delays: number[] } {
  const delays: number[] = [];
  return {
    delays,
    setTimeout: (callback, ms) => (delays.push(ms), clock.setTimeout(callback, ms)),
    clearTimeout: (handle: TimerHandle | undefined) => clock.clearTimeout(handle),
    setInterval: (callback, ms) => clock.setInterval(callback, ms),
    clearInterval: (handle: TimerHandle | undefined) => clock.clearInterval(handle),
  };
}

/** The failure a promise rejects with, as the probe reads it. */
async function failureOf(promise: Promise<unknown>): Promise<{ reason: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(StunTransportError);
    const { reason, message } = error as StunTransportError;
    return { reason, message };
  }
  throw new Error('expected a failure');
}

const servers: FakeStunServer[] = [];
const connections: StunConnection[] = [];
afterEach(async () => {
  connections.splice(0).forEach((c) => c.close());
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function fake(...args: Parameters<typeof startFakeStunServer>): Promise<FakeStunServer> {
  const server = await startFakeStunServer(...args);
  servers.push(server);
  return server;
}

async function open(...args: Parameters<typeof openStunConnection>): Promise<StunConnection> {
  const connection = await openStunConnection(...args);
  connections.push(connection);
  return connection;
}

/** A TCP server that is not STUN: the test says what it does with each connection; close() ends them all. */
async function plainServer(onConnection: (socket: Socket) => void): Promise<{ port: number; close: () => Promise<unknown> }> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise((resolve) => (sockets.forEach((s) => s.destroy()), server.close(resolve))),
  };
}

describe('over UDP', () => {
  it('retransmits the same transaction at 500 ms, then 1000 ms (RFC 8489 §6.2.1), until an answer comes', async () => {
    const clock = manualClock();
    const timers = recordingTimers(clock);
    const server = await fake('udp', (request, index) =>
      index === 2
        ? answer(request, 'success', [addressAttribute(StunAttr.XOR_MAPPED_ADDRESS, REFLEXIVE, request.transactionId, true)])
        : undefined,
    );
    const connection = await open({ transport: 'udp', server: server.address, timers, signal: new AbortController().signal });
    const request = binding();
    const reply = connection.request(request);

    await waitFor(() => server.received.length === 1, { what: 'the first send' });
    expect(timers.delays).toEqual([500]);
    clock.advance(500);
    await waitFor(() => server.received.length === 2, { what: 'the first retransmission' });
    expect(timers.delays).toEqual([500, 1000]);
    clock.advance(1000);
    const answered = await reply;

    expect(answered.class).toBe('success');
    expect(server.received.map((r) => r.transactionId.toString('hex'))).toEqual(Array(3).fill(request.transactionId.toString('hex')));
    expect(clock.pendingTimers()).toBe(0);
  });

  it('sends 7 times, at 0, 0.5, 1.5, 3.5, 7.5, 15.5 and 31.5 s, and gives up at 39.5 s', async () => {
    const clock = manualClock();
    const timers = recordingTimers(clock);
    const server = await fake('udp', () => undefined);
    const connection = await open({ transport: 'udp', server: server.address, timers, signal: new AbortController().signal });
    const reply = connection.request(binding());
    for (let i = 0; i < 6; i += 1) clock.advance(timers.delays[i]!);
    clock.advance(8000);

    expect(await failureOf(reply)).toEqual({
      reason: 'timeout',
      message: `no answer from 127.0.0.1:${server.address.port} over UDP after 7 sends`,
    });
    expect(timers.delays).toEqual([500, 1000, 2000, 4000, 8000, 16000, 8000]);
    await waitFor(() => server.received.length === 7, { what: 'seven sends' });
  });

  it("fails with 'timeout' when the probe's deadline aborts the wait", async () => {
    const server = await fake('udp', () => undefined);
    const controller = new AbortController();
    const connection = await open({ transport: 'udp', server: server.address, timers: manualClock(), signal: controller.signal });
    const reply = connection.request(binding());
    controller.abort();
    expect(await failureOf(reply)).toEqual({
      reason: 'timeout',
      message: `no answer from 127.0.0.1:${server.address.port} over UDP to the request`,
    });
  });

  it("fails with 'refused' when nothing listens on the port (ICMP port unreachable)", async () => {
    const closed = createSocket('udp4');
    await new Promise<void>((resolve) => closed.bind(0, '127.0.0.1', resolve));
    const port = closed.address().port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const connection = await open({
      transport: 'udp',
      server: { address: '127.0.0.1', port, family: 4 },
      timers: manualClock(),
      signal: new AbortController().signal,
    });
    expect(await failureOf(connection.request(binding()))).toEqual({
      reason: 'refused',
      message: `127.0.0.1:${port} over UDP: port unreachable (nothing listens there)`,
    });
  });

  it('ignores an answer to another transaction, drops a success with a wrong MESSAGE-INTEGRITY, says so at the deadline', async () => {
    const key = Buffer.from('the right key');
    const server = await fake('udp', (request, index) =>
      index === 0
        ? [
            answer({ ...request, transactionId: randomBytes(12) }, 'success', []),
            answer(request, 'success', [], { integrityKey: Buffer.from('another key') }),
            answer(request, 'success', []),
          ]
        : answer(request, 'success', [], { integrityKey: key }),
    );
    const controller = new AbortController();
    const connection = await open({ transport: 'udp', server: server.address, timers: manualClock(), signal: controller.signal });
    const reply = connection.request(binding(), { integrityKey: key });
    await waitFor(() => server.received.length === 1);
    // A second request's answer comes after the first's three on the same loopback path:
    // once it is in, the three have been read.
    expect((await connection.request(binding(), { integrityKey: key })).class).toBe('success');
    controller.abort();
    expect(await failureOf(reply)).toEqual({
      reason: 'error',
      message: `127.0.0.1:${server.address.port} over UDP: an answer whose MESSAGE-INTEGRITY does not match the credential's key`,
    });
  });
});

describe('over TCP', () => {
  it('matches answers to requests by transaction id: two answers joined in one write, in reverse order, and one split in two', async () => {
    const server = await fake('tcp', (request, index) => {
      if (index === 0) return undefined;
      const first = server.received[0]!;
      const forFirst = answer(first, 'success', [addressAttribute(StunAttr.XOR_MAPPED_ADDRESS, REFLEXIVE, first.transactionId, true)]);
      const forSecond = answer(request, 'error', []);
      const joined = Buffer.concat([forSecond, forFirst]);
      return [joined.subarray(0, 7), joined.subarray(7, forSecond.length + 3), joined.subarray(forSecond.length + 3)];
    });
    const connection = await open({
      transport: 'tcp',
      server: server.address,
      timers: manualClock(),
      signal: new AbortController().signal,
    });
    const first = connection.request(binding());
    await waitFor(() => server.received.length === 1);
    const second = connection.request(binding());

    const [a, b] = await Promise.all([first, second]);
    expect(a.class).toBe('success');
    expect(b.class).toBe('error');
    expect(server.peers[0]).toEqual(server.peers[1]);
  });

  it("fails with 'refused' when nothing listens on the port", async () => {
    const port = await freePort();
    expect(
      await failureOf(
        openStunConnection({
          transport: 'tcp',
          server: { address: '127.0.0.1', port, family: 4 },
          timers: manualClock(),
          signal: new AbortController().signal,
        }),
      ),
    ).toEqual({ reason: 'refused', message: `127.0.0.1:${port} over TCP: connection refused (nothing listens there)` });
  });

  it("fails with 'error' when the server closes the connection instead of answering", async () => {
    const server = await plainServer((socket) => socket.on('data', () => socket.destroy()));
    try {
      const connection = await open({
        transport: 'tcp',
        server: { address: '127.0.0.1', port: server.port, family: 4 },
        timers: manualClock(),
        signal: new AbortController().signal,
      });
      expect(await failureOf(connection.request(binding()))).toEqual({
        reason: 'error',
        message: `127.0.0.1:${server.port} over TCP closed the connection without answering`,
      });
    } finally {
      await server.close();
    }
  });

  it("fails a request with 'error' when the stream carries something that is not STUN", async () => {
    const server = await plainServer((socket) => socket.on('data', () => socket.write('HTTP/1.1 400 Bad Request\r\n\r\n')));
    try {
      const connection = await open({
        transport: 'tcp',
        server: { address: '127.0.0.1', port: server.port, family: 4 },
        timers: manualClock(),
        signal: new AbortController().signal,
      });
      expect(await failureOf(connection.request(binding()))).toEqual({
        reason: 'error',
        message: `127.0.0.1:${server.port} over TCP: not a STUN answer (the first two bits are not zero: not a STUN message)`,
      });
    } finally {
      await server.close();
    }
  });

  it('close() ends the connection: the server sees it closed', async () => {
    let serverSide: Socket | undefined;
    const server = await plainServer((socket) => (serverSide = socket));
    try {
      const connection = await openStunConnection({
        transport: 'tcp',
        server: { address: '127.0.0.1', port: server.port, family: 4 },
        timers: manualClock(),
        signal: new AbortController().signal,
      });
      const accepted = await waitFor(() => serverSide, { what: 'the connection' });
      const ended = new Promise((resolve) => accepted.once('close', resolve));
      connection.close();
      await ended;
      expect(await failureOf(connection.request(binding()))).toEqual({ reason: 'error', message: 'the connection is closed' });
    } finally {
      await server.close();
    }
  });
});

describe('over TLS', () => {
  it("fails with 'tls' when the server does not speak TLS", async () => {
    const server = await plainServer((socket) => socket.on('data', () => socket.end('not TLS\r\n')));
    try {
      const failure = await failureOf(
        openStunConnection({
          transport: 'tls',
          server: { address: '127.0.0.1', port: server.port, family: 4 },
          servername: 'turn.example.org',
          timers: manualClock(),
          signal: new AbortController().signal,
        }),
      );
      expect(failure.reason).toBe('tls');
      expect(failure.message).toMatch(
        new RegExp(`^the TLS handshake with turn\\.example\\.org \\(127\\.0\\.0\\.1:${server.port} over TLS\\) failed: `),
      );
    } finally {
      await server.close();
    }
  });

  it("fails with 'timeout' when the handshake has not finished by the deadline", async () => {
    let helloReceived = false;
    const server = await plainServer((socket) => socket.once('data', () => (helloReceived = true)));
    const controller = new AbortController();
    try {
      const opening = openStunConnection({
        transport: 'tls',
        server: { address: '127.0.0.1', port: server.port, family: 4 },
        servername: 'turn.example.org',
        timers: manualClock(),
        signal: controller.signal,
      });
      // Aborted once the server holds the ClientHello and leaves it unanswered.
      await waitFor(() => helloReceived, { what: 'the ClientHello' });
      controller.abort();
      expect(await failureOf(opening)).toEqual({
        reason: 'timeout',
        message: `no answer from 127.0.0.1:${server.port} over TLS in the TLS handshake`,
      });
    } finally {
      await server.close();
    }
  });
});
