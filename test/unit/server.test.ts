// The listeners, in this process: the public port and the /metrics-only port apart, each
// answering only its own; a stop that lets a request in flight finish (with Connection:
// close) while refusing new connections, and that gives up on one still open at
// SHUTDOWN_TIMEOUT_MS; a port already taken refused at start. The homeserver is a stand-in
// whose whoami answers only when the test says, so "in flight" is a fact, not a guess.

import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { Registry } from 'prom-client';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/logger.js';
import { startService } from '../../src/server.js';
import { listen, type Listening } from '../helpers/listen.js';
import { freePort } from '../helpers/ports.js';
import { rawRequest } from '../helpers/raw-http.js';
import { startTestService, type TestService } from '../helpers/service.js';

const PATH = '/_matrix/client/v3/voip/turnServer';
const TOKEN = 'syt_server_test_token';

/** A whoami that says when a call arrives and answers each only once released. */
interface GatedHomeserver {
  readonly url: string;
  /** Resolves when the next whoami call has arrived. */
  arrived(): Promise<void>;
  /** Answers every call held so far, and every later one at once. */
  release(): void;
  close(): Promise<void>;
}

async function gatedHomeserver(): Promise<GatedHomeserver> {
  let onArrival: (() => void) | undefined;
  let released = false;
  const held: (() => void)[] = [];
  const server: Listening = await listen((_req, res) => {
    const answer = () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ user_id: '@alice:example.org' }));
    onArrival?.();
    if (released) answer();
    else held.push(answer);
  });
  return {
    url: server.url,
    arrived: () => new Promise<void>((resolve) => (onArrival = resolve)),
    release() {
      released = true;
      for (const answer of held.splice(0)) answer();
    },
    close: () => server.close(),
  };
}

/** Whether a new TCP connection to `port` is accepted. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const keptAliveGet = (token: string) => `GET ${PATH} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n\r\n`;

let homeserver: GatedHomeserver;
let service: TestService | undefined;

beforeEach(async () => {
  homeserver = await gatedHomeserver();
});
afterEach(async () => {
  homeserver.release();
  await service?.stop();
  service = undefined;
  await homeserver.close();
});

describe('listening', () => {
  test('the public port answers the API and the probes; /metrics is only on its own port, which answers nothing else', async () => {
    homeserver.release();
    service = await startTestService({ HOMESERVER_URL: homeserver.url });
    const { port, metricsPort } = service.running;
    expect(metricsPort).not.toBe(port);
    expect(service.logs.entries()).toContainEqual(expect.objectContaining({ msg: 'listening', port, metricsPort, authMethod: 'whoami' }));

    expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
    expect((await service.turnServer(TOKEN)).status).toBe(200);
    const publicMetrics = await fetch(`${service.url}/metrics`);
    expect(publicMetrics.status).toBe(404);
    expect(await publicMetrics.json()).toEqual({ errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' });

    const metrics = await fetch(service.metricsUrl);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/^matrix_turn_credentials_issued_total 1$/m);
    const apiOnMetricsPort = await fetch(`http://127.0.0.1:${metricsPort}${PATH}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect([apiOnMetricsPort.status, await apiOnMetricsPort.text()]).toEqual([404, 'not found\n']);
  });

  test('a port already taken is refused at start with its code, and the other port is released', async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const takenPort = (taken.address() as AddressInfo).port;
    const publicPort = await freePort();
    try {
      const config = loadConfig({
        PORT: String(publicPort),
        METRICS_PORT: String(takenPort),
        HOST: '127.0.0.1',
        HOMESERVER_URL: homeserver.url,
        TURN_URIS: 'turn:turn.example.org:3478',
        TURN_SHARED_SECRET: 's3cret',
      });
      await expect(
        startService(config, { logger: createLogger('silent'), registry: new Registry(), defaultMetrics: false }),
      ).rejects.toMatchObject({
        code: 'EADDRINUSE',
      });
      expect(await accepts(publicPort)).toBe(false);
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  });
});

describe('stop', () => {
  test('drains: the request in flight is answered, with Connection: close; new connections are refused; then both ports shut', async () => {
    service = await startTestService({ HOMESERVER_URL: homeserver.url, SHUTDOWN_TIMEOUT_MS: '60000' });
    const { port, metricsPort } = service.running;
    const arrived = homeserver.arrived();
    const inFlight = rawRequest(port, keptAliveGet(TOKEN));
    await arrived;

    let stopped = false;
    const stopping = service.stop().then(() => {
      stopped = true;
    });
    expect(await accepts(port)).toBe(false);
    expect(stopped).toBe(false);

    homeserver.release();
    const answer = await inFlight;
    expect(answer.status).toBe(200);
    expect(answer.headers.connection).toBe('close');
    expect(answer.json).toMatchObject({ username: expect.stringMatching(/:@alice:example\.org$/), ttl: 3600 });
    await stopping;
    expect(await accepts(metricsPort)).toBe(false);
    expect(service.logs.entries().filter((e) => e.level === 'warn')).toEqual([]);
  });

  test('gives up at SHUTDOWN_TIMEOUT_MS on a request still open: its connection is closed, and the log says so', async () => {
    service = await startTestService({ HOMESERVER_URL: homeserver.url, SHUTDOWN_TIMEOUT_MS: '50', UPSTREAM_TIMEOUT_MS: '30000' });
    const arrived = homeserver.arrived();
    const inFlight = rawRequest(service.running.port, keptAliveGet(TOKEN));
    await arrived;

    const stopping = service.stop();
    await expect(inFlight).rejects.toThrow(/no HTTP response head/);
    expect(service.logs.entries()).toContainEqual(
      expect.objectContaining({ level: 'warn', msg: 'shutdown timeout: closing connections still open' }),
    );
    // The whoami call is still held; closing the service's upstream waits for it.
    homeserver.release();
    await stopping;
  });
});
