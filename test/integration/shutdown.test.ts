// SIGTERM under load, against the built service as production runs it: requests in
// flight when the signal arrives (held by a slow homeserver) complete with 200 and
// Connection: close, a connection that is open but idle is closed, new connections are
// refused, and the process exits 0 as soon as the last answer is out, well within the
// 10 s a Kubernetes-style grace period allows (not at the shutdown timeout). /readyz says
// 503 "draining" from the signal on, but no client can ask it: the listener is closed and
// every open connection is closed after its answer, so the test checks what it can.

import { connect, type Socket } from 'node:net';
import { startBuiltService, type BuiltService } from '../helpers/built-service.js';
import { startHomeserver, type StandInHomeserver } from '../helpers/homeserver.js';
import { parseResponse, type RawResponse } from '../helpers/raw-http.js';
import { waitFor } from '../helpers/wait.js';

const PATH = '/_matrix/client/v3/voip/turnServer';
const IN_FLIGHT = 8;
/** Long enough that the requests are certainly still in flight when the signal lands. */
const HOMESERVER_DELAY_MS = 3000;

let homeserver: StandInHomeserver;
let service: BuiltService | undefined;

beforeAll(async () => {
  homeserver = await startHomeserver();
  for (let i = 0; i < IN_FLIGHT + 1; i++) homeserver.addToken(`drain-token-${i}`, { userId: `@drain${i}:example.org` });
});

afterAll(async () => {
  await service?.stop();
  await homeserver?.close();
});

/** A keep-alive connection on which requests are written one after another. */
function keepAliveConnection(
  port: number,
): Promise<{ socket: Socket; send(request: string): Promise<RawResponse>; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let buffer = '';
    let waiting: ((res: RawResponse) => void) | undefined;
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      const end = buffer.indexOf('\r\n\r\n');
      if (end === -1 || waiting === undefined) return;
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(buffer.slice(0, end))?.[1] ?? 0);
      if (buffer.length < end + 4 + length) return;
      const res = parseResponse(buffer.slice(0, end + 4 + length));
      buffer = buffer.slice(end + 4 + length);
      const done = waiting;
      waiting = undefined;
      done(res);
    });
    socket.once('connect', () =>
      resolve({
        socket,
        closed,
        send: (request) =>
          new Promise<RawResponse>((done, fail) => {
            waiting = done;
            socket.once('close', () => fail(new Error('connection closed before an answer')));
            socket.write(request);
          }),
      }),
    );
    socket.once('error', reject);
  });
}

const request = (path: string, token?: string) =>
  [`GET ${path} HTTP/1.1`, 'Host: localhost', ...(token === undefined ? [] : [`Authorization: Bearer ${token}`]), '', ''].join('\r\n');

function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

test('SIGTERM with requests in flight: they complete with 200, new connections are refused, exit 0 within 10 s', async () => {
  service = await startBuiltService({
    HOMESERVER_URL: homeserver.url,
    TURN_URIS: 'turn:turn.example.org:3478',
    TURN_SHARED_SECRET: 'shutdown-test-secret',
    LOG_LEVEL: 'info',
    SHUTDOWN_TIMEOUT_MS: '9000',
  });
  const { port, metricsPort } = service;
  expect((await fetch(`${service.url}/readyz`)).status).toBe(200);

  const idle = await keepAliveConnection(port);
  expect((await idle.send(request('/healthz'))).status).toBe(200);
  // One in-flight request on a keep-alive connection.
  const busy = await keepAliveConnection(port);
  const busyAnswer = busy.send(request(PATH, `drain-token-${IN_FLIGHT}`));

  homeserver.delayMs = HOMESERVER_DELAY_MS;
  const inFlight = Array.from({ length: IN_FLIGHT }, (_, i) =>
    fetch(`${service!.url}${PATH}`, { headers: { authorization: `Bearer drain-token-${i}` } }).then(async (res) => ({
      status: res.status,
      body: (await res.json()) as Record<string, unknown>,
    })),
  );
  // Every one of them is waiting on the homeserver before the signal is sent.
  await waitFor(
    async () => {
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      return /^matrix_turn_upstream_requests_in_flight\{upstream="homeserver"\} (\d+)$/m.exec(metrics)?.[1] === String(IN_FLIGHT + 1);
    },
    { what: 'all requests to be waiting on the homeserver' },
  );
  expect(homeserver.calls).toBe(0);

  const signalledMs = Date.now();
  service.child.kill('SIGTERM');

  // The listener closes at once: new connections are refused while the old ones finish.
  await waitFor(() => connectionRefused(port), { what: 'new connections to be refused' });
  await idle.closed;
  expect(homeserver.calls).toBeLessThan(IN_FLIGHT + 1);

  const answers = await Promise.all(inFlight);
  for (const answer of answers) {
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ username: expect.stringMatching(/:@drain\d+:example\.org$/), password: expect.any(String) });
  }
  // The connection that was busy at the signal gets its answer, told to go elsewhere next.
  const busyResponse = await busyAnswer;
  expect(busyResponse.status).toBe(200);
  expect(busyResponse.headers.connection).toBe('close');
  await busy.closed;

  const exit = await service.exited;
  const exitedAfterMs = Date.now() - signalledMs;
  expect(exit).toEqual({ code: 0, signal: null });
  expect(exitedAfterMs).toBeLessThan(10_000);
  const log = service.stdout();
  expect(log).toContain('stopping: draining in-flight requests');
  expect(log).toContain('"msg":"stopped"');
  // Done when the last answer was out, not when the shutdown timeout forced it.
  expect(log).not.toContain('shutdown timeout');
}, 60_000);
