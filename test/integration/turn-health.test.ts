// Several TURN servers and their health checks against real coturn processes: a server
// killed while requests run leaves the answers within interval + timeout (+1 s) and comes
// back as fast once restarted; a coturn with another secret is reported `unauthorized`; a
// closed port `refused` or `timeout`; a turns: URI is checked over TLS; a stun:-only server
// is checked with a Binding and needs no credential; 'spread' keeps a user on one server;
// and the credential of every answer allocates on the server whose URIs it came with.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probeUri } from '../../src/turn/probe/probe-uri.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { startHomeserver, type StandInHomeserver } from '../helpers/homeserver.js';
import { freePort } from '../helpers/ports.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { waitFor } from '../helpers/wait.js';

const SECRET_A = 'coturn-a-secret-6f2d';
const SECRET_B = 'coturn-b-secret-91ce';
const INTERVAL_S = 1;
const TIMEOUT_MS = 500;
/** The bound: interval + timeout, plus one second. */
const CHANGE_BOUND_MS = INTERVAL_S * 1000 + TIMEOUT_MS + 1000;

interface Answer {
  username: string;
  password: string;
  uris: string[];
  ttl: number;
}

interface ReadyTurn {
  status: string;
  components: {
    turn: {
      degraded: boolean;
      servers: { name: string; state: string; uris: { uri: string; state: string; reason?: string; detail?: string }[] }[];
    };
  };
}

let homeserver: StandInHomeserver;
let dir: string;
const coturns: Coturn[] = [];
const services: TestService[] = [];

beforeAll(async () => {
  homeserver = await startHomeserver();
  for (let i = 0; i < 40; i++) homeserver.addToken(`token-${i}`, { userId: `@user${i}:example.org` });
  dir = mkdtempSync(join(tmpdir(), 'mtc-turn-health-'));
});

afterEach(async () => {
  await Promise.all(services.splice(0).map((service) => service.stop()));
  await Promise.all(coturns.splice(0).map((coturn) => coturn.stop()));
});

afterAll(async () => {
  await homeserver.close();
  rmSync(dir, { recursive: true, force: true });
});

async function coturn(options: Parameters<typeof startCoturn>[0]): Promise<Coturn> {
  const started = await startCoturn(options);
  coturns.push(started);
  return started;
}

/** The service with `turn_servers` from a YAML file, health checks every second. */
async function serviceWith(yaml: string[], env: Record<string, string> = {}, probe?: typeof probeUri): Promise<TestService> {
  const path = join(dir, `config-${services.length}-${Date.now()}.yaml`);
  writeFileSync(path, [`homeserver_url: ${homeserver.url}`, ...yaml].join('\n'));
  const service = await startTestService(
    {
      CONFIG_FILE: path,
      TURN_URIS: undefined,
      TURN_SHARED_SECRET: undefined,
      TURN_HEALTH_CHECK_INTERVAL: String(INTERVAL_S),
      TURN_HEALTH_CHECK_TIMEOUT_MS: String(TIMEOUT_MS),
      RATE_LIMIT_BURST: '100000',
      RATE_LIMIT_PER_SECOND: '100000',
      LOG_LEVEL: 'info',
      ...env,
    },
    probe ? { probe } : {},
  );
  services.push(service);
  return service;
}

async function answer(service: TestService, token = 'token-0'): Promise<Answer> {
  const res = await service.turnServer(token);
  expect(res.status).toBe(200);
  return (await res.json()) as Answer;
}

async function ready(service: TestService): Promise<ReadyTurn> {
  return (await (await fetch(`${service.url}/readyz`)).json()) as ReadyTurn;
}

const udp = (port: number) => `turn:127.0.0.1:${port}?transport=udp`;

/** Every URI's state once each has been checked at least once. */
async function checked(service: TestService): Promise<ReadyTurn> {
  return waitFor(
    async () => {
      const report = await ready(service);
      const all = report.components.turn.servers.every((server) => server.uris.every((uri) => uri.state !== 'unchecked'));
      return all ? report : undefined;
    },
    { what: 'every URI to be checked once' },
  );
}

describe('TURN health checks against real coturn', () => {
  it('a server killed while requests run leaves the answers within interval + timeout + 1 s, is back as fast once restarted', async () => {
    const a = await coturn({ secrets: [SECRET_A] });
    const b = await coturn({ secrets: [SECRET_B] });
    const service = await serviceWith([
      'turn_servers:',
      `  - {name: a, uris: ["${udp(a.port)}"], shared_secret: ${SECRET_A}}`,
      `  - {name: b, uris: ["${udp(b.port)}"], shared_secret: ${SECRET_B}}`,
    ]);
    await checked(service);
    expect((await answer(service)).uris).toEqual([udp(a.port)]);

    const statuses: number[] = [];
    const traffic = async (until: (answer: Answer) => boolean): Promise<number> => {
      const start = Date.now();
      for (;;) {
        const res = await service.turnServer('token-1');
        statuses.push(res.status);
        if (until((await res.json()) as Answer)) return Date.now() - start;
        if (Date.now() - start > 3 * CHANGE_BOUND_MS) return Number.POSITIVE_INFINITY;
      }
    };

    await a.stop();
    const leftAfterMs = await traffic((next) => next.uris[0] === udp(b.port));
    expect(leftAfterMs).toBeLessThanOrEqual(CHANGE_BOUND_MS);
    const downReport = await ready(service);
    expect(downReport.components.turn.servers[0]).toMatchObject({ name: 'a', state: 'down' });
    expect(['timeout', 'refused']).toContain(downReport.components.turn.servers[0]!.uris[0]!.reason);

    const restarted = await coturn({ secrets: [SECRET_A], port: a.port });
    expect(restarted.port).toBe(a.port);
    const backAfterMs = await traffic((next) => next.uris[0] === udp(a.port));
    expect(backAfterMs).toBeLessThanOrEqual(CHANGE_BOUND_MS);
    expect(new Set(statuses)).toEqual(new Set([200]));
    const metrics = await service.metrics();
    expect(metrics).toContain(`matrix_turn_server_up{server="a",uri="${udp(a.port)}"} 1`);
    expect(metrics).toMatch(/matrix_turn_server_check_failures_total\{server="a",reason="(timeout|refused)"\} [1-9]/);
  });

  it('a coturn that does not know our secret is unauthorized, and passed over; a closed port is refused or times out', async () => {
    const stranger = await coturn({ secrets: ['a-secret-we-do-not-have-0c4'] });
    const good = await coturn({ secrets: [SECRET_B] });
    const closedPort = await freePort();
    const service = await serviceWith([
      'turn_servers:',
      `  - {name: stranger, uris: ["${udp(stranger.port)}"], shared_secret: ${SECRET_A}}`,
      `  - {name: closed, uris: ["turn:127.0.0.1:${closedPort}?transport=tcp", "${udp(closedPort)}"], shared_secret: ${SECRET_A}}`,
      `  - {name: good, uris: ["${udp(good.port)}"], shared_secret: ${SECRET_B}}`,
    ]);
    const report = await checked(service);
    const [strangerState, closedState, goodState] = report.components.turn.servers;
    expect(strangerState!.uris[0]).toMatchObject({ state: 'down', reason: 'unauthorized' });
    expect(closedState!.uris[0]).toMatchObject({ state: 'down', reason: 'refused' });
    expect(['refused', 'timeout']).toContain(closedState!.uris[1]!.reason);
    expect(goodState).toMatchObject({ state: 'up' });
    expect(report.components.turn.degraded).toBe(false);
    expect((await answer(service)).uris).toEqual([udp(good.port)]);
    expect(JSON.stringify(report)).not.toContain(SECRET_A);
    expect(service.logs.text()).toContain('unauthorized');
    expect(service.logs.text()).not.toContain(SECRET_A);
  });

  it('every server down: /readyz says degraded and the answer still holds what is configured', async () => {
    const closedPort = await freePort();
    const service = await serviceWith([
      'turn_servers:',
      `  - {name: gone, uris: ["turn:127.0.0.1:${closedPort}?transport=tcp"], shared_secret: s}`,
    ]);
    const report = await checked(service);
    expect(report.status).toBe('degraded');
    expect(report.components.turn.degraded).toBe(true);
    expect((await answer(service)).uris).toEqual([`turn:127.0.0.1:${closedPort}?transport=tcp`]);
  });

  it('checks a turns: URI over TLS, and a stun:-only server with a Binding and no credential', async () => {
    const tls = await coturn({ secrets: [SECRET_A], tls: true });
    const turns = `turns:localhost:${tls.tlsPort!}?transport=tcp`;
    const stun = `stun:127.0.0.1:${tls.port}`;
    // The test's own CA, as NODE_EXTRA_CA_CERTS would give it to the service.
    const probe: typeof probeUri = (uri, options) => probeUri(uri, { ...options, tls: { ca: tls.caPem! } });
    const service = await serviceWith(
      ['turn_servers:', `  - {name: tls, uris: ["${turns}"], shared_secret: ${SECRET_A}}`, `  - {name: stun-only, uris: ["${stun}"]}`],
      {},
      probe,
    );
    const report = await checked(service);
    expect(report.components.turn.servers.map((server) => [server.name, server.uris.map((uri) => [uri.uri, uri.state])])).toEqual([
      ['tls', [[turns, 'up']]],
      ['stun-only', [[stun, 'up']]],
    ]);
    expect(tls.log()).toMatch(/TLS/);
  });

  it('a stun:-only server answers with its URIs and an empty username and password when it is the one left', async () => {
    const stunServer = await coturn({ secrets: [SECRET_A] });
    const closedPort = await freePort();
    const service = await serviceWith([
      'turn_servers:',
      `  - {name: gone, uris: ["turn:127.0.0.1:${closedPort}?transport=tcp"], shared_secret: s}`,
      `  - {name: public-stun, uris: ["stun:127.0.0.1:${stunServer.port}"]}`,
    ]);
    await checked(service);
    expect(await answer(service)).toEqual({ username: '', password: '', uris: [`stun:127.0.0.1:${stunServer.port}`], ttl: 3600 });
  });

  it("'spread' keeps each user on one server, uses both, and every answer's credential allocates on the server it names", async () => {
    const a = await coturn({ secrets: [SECRET_A] });
    const b = await coturn({ secrets: [SECRET_B] });
    const service = await serviceWith([
      'turn_server_selection: spread',
      'turn_servers:',
      `  - {name: a, uris: ["${udp(a.port)}"], shared_secret: ${SECRET_A}}`,
      `  - {name: b, uris: ["${udp(b.port)}"], shared_secret: ${SECRET_B}}`,
    ]);
    await checked(service);
    const first: Answer[] = [];
    for (let i = 0; i < 40; i++) first.push(await answer(service, `token-${i}`));
    for (let i = 0; i < 40; i++) expect((await answer(service, `token-${i}`)).uris).toEqual(first[i]!.uris);
    const onA = first.filter((next) => next.uris[0] === udp(a.port));
    const onB = first.filter((next) => next.uris[0] === udp(b.port));
    expect(onA.length + onB.length).toBe(40);
    expect(onA.length).toBeGreaterThan(5);
    expect(onB.length).toBeGreaterThan(5);

    const [fromA, fromB] = [onA[0]!, onB[0]!];
    const allocations = await Promise.all([
      a.allocate(fromA.username, fromA.password),
      b.allocate(fromB.username, fromB.password),
      // The other server's credential is no good here: each server has its own secret.
      a.allocate(fromB.username, fromB.password),
    ]);
    expect(allocations.map((result) => result.ok)).toEqual([true, true, false]);
  }, 120_000);
});
