// What an operator sees of three things through the running service: HEAD on the
// endpoint is refused like any other method the Matrix API does not define (it mints,
// counts and spends nothing, and is recorded under its route); kubelet's probes stay out
// of the log at info; an outage of the homeserver is told once when it starts and once
// when it ends, with its counts, instead of a warning per request.

import { manualClock } from '../helpers/clock.js';
import { startHomeserver, type StandInHomeserver } from '../helpers/homeserver.js';
import { startTestService, type TestService } from '../helpers/service.js';

const TURN_PATHS = ['/_matrix/client/v3/voip/turnServer', '/_matrix/client/r0/voip/turnServer', '/_matrix/client/api/v1/voip/turnServer'];
const V3 = TURN_PATHS[0]!;

let homeserver: StandInHomeserver;
const services: TestService[] = [];
let tokenSerial = 0;

/** A token the homeserver knows and the service has never seen (so never cached). */
function freshToken(): string {
  tokenSerial += 1;
  const token = `fresh-token-${tokenSerial}`;
  homeserver.addToken(token, { userId: `@user${tokenSerial}:example.org` });
  return token;
}

async function service(env: Record<string, string>, options: Parameters<typeof startTestService>[1] = {}): Promise<TestService> {
  const svc = await startTestService({ HOMESERVER_URL: homeserver.url, UNKNOWN_TOKEN_RATE_LIMIT_BURST: '10000', ...env }, options);
  services.push(svc);
  return svc;
}

/** A sample of the exposition, by its name and exact label set; 0 when absent. */
function sample(metrics: string, name: string, labels = ''): number {
  const line = metrics.split('\n').find((l) => l.startsWith(`${name}${labels === '' ? '' : `{${labels}}`} `));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

const durationCount = (metrics: string, route: string, method: string, status: number) =>
  sample(metrics, 'matrix_turn_http_request_duration_seconds_count', `route="${route}",method="${method}",status="${status}"`);

beforeAll(async () => {
  homeserver = await startHomeserver();
});

afterAll(async () => {
  await Promise.allSettled(services.map((s) => s.stop()));
  await homeserver?.close();
});

describe('HEAD on the endpoint', () => {
  let svc: TestService;
  beforeAll(async () => {
    // One request per user and no refill to speak of: a HEAD that spent would leave none.
    svc = await service({ LOG_LEVEL: 'info', RATE_LIMIT_BURST: '1', RATE_LIMIT_PER_SECOND: '0.0001' });
  });

  it.each(TURN_PATHS)('%s: 405 M_UNRECOGNIZED with the Allow of any other refused method', async (path) => {
    const head = await fetch(`${svc.url}${path}`, { method: 'HEAD', headers: { authorization: `Bearer ${freshToken()}` } });
    const put = await fetch(`${svc.url}${path}`, { method: 'PUT', headers: { authorization: `Bearer ${freshToken()}` } });
    expect(head.status).toBe(405);
    expect(await put.json()).toMatchObject({ errcode: 'M_UNRECOGNIZED' });
    expect(put.status).toBe(405);
    expect(head.headers.get('allow')).toBe('GET, OPTIONS');
    expect(put.headers.get('allow')).toBe('GET, OPTIONS');
    expect(head.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('mints nothing, counts nothing, spends nothing of the limit, and asks the homeserver nothing', async () => {
    const token = freshToken();
    const before = await svc.metrics();
    const callsBefore = homeserver.calls;
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${svc.url}${V3}`, { method: 'HEAD', headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(405);
    }
    const after = await svc.metrics();
    expect(homeserver.calls).toBe(callsBefore);
    expect(sample(after, 'matrix_turn_credentials_issued_total')).toBe(sample(before, 'matrix_turn_credentials_issued_total'));
    // The user's single request is still there to be had.
    const get = await svc.turnServer(token);
    expect(get.status).toBe(200);
    expect(homeserver.calls).toBe(callsBefore + 1);
    expect(sample(await svc.metrics(), 'matrix_turn_credentials_issued_total')).toBe(
      sample(before, 'matrix_turn_credentials_issued_total') + 1,
    );
  });

  it('a 405 on a known path is recorded under its route, in the access log and the latency histogram, never as unmatched', async () => {
    for (const method of ['HEAD', 'PUT', 'PROPFIND']) await fetch(`${svc.url}${V3}`, { method });
    await fetch(`${svc.url}/no/such/path`);
    const metrics = await svc.metrics();
    for (const method of ['HEAD', 'PUT', 'PROPFIND']) {
      expect(durationCount(metrics, V3, method, 405)).toBeGreaterThanOrEqual(1);
      expect(durationCount(metrics, 'unmatched', method, 405)).toBe(0);
      const lines = svc.logs.entries().filter((e) => e.msg === 'request' && e.method === method && e.status === 405);
      expect(lines.filter((e) => e.route === V3).length).toBeGreaterThanOrEqual(1);
      for (const line of lines) expect(TURN_PATHS).toContain(line.route);
      for (const line of lines) expect(line.level).toBe('info');
    }
    // An unknown path is still unmatched: its raw path must never become a label.
    expect(durationCount(metrics, 'unmatched', 'GET', 404)).toBe(1);
  });
});

describe("kubelet's probes", () => {
  it('are not logged at LOG_LEVEL=info, though still measured; a request to the endpoint is', async () => {
    const svc = await service({ LOG_LEVEL: 'info' });
    for (let i = 0; i < 3; i++) {
      expect((await fetch(`${svc.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${svc.url}/readyz`)).status).toBe(200);
    }
    expect((await svc.turnServer()).status).toBe(401);
    const accessLines = svc.logs.entries().filter((e) => e.msg === 'request');
    expect(accessLines.map((e) => e.route)).toEqual([V3]);
    const metrics = await svc.metrics();
    expect(durationCount(metrics, '/healthz', 'GET', 200)).toBe(3);
    expect(durationCount(metrics, '/readyz', 'GET', 200)).toBe(3);
  });

  it('are logged at debug, with the fields of every access line', async () => {
    const svc = await service({ LOG_LEVEL: 'debug' });
    await fetch(`${svc.url}/healthz`);
    await fetch(`${svc.url}/readyz`);
    const lines = svc.logs.entries().filter((e) => e.msg === 'request');
    expect(lines).toEqual([
      expect.objectContaining({ level: 'debug', method: 'GET', route: '/healthz', status: 200, durationMs: expect.any(Number) }),
      expect.objectContaining({ level: 'debug', method: 'GET', route: '/readyz', status: 200, durationMs: expect.any(Number) }),
    ]);
  });
});

describe('an outage of the homeserver', () => {
  const FAILURES = 3;
  const REQUESTS = 10;

  afterEach(() => {
    homeserver.mode = 'normal';
  });

  /** Everything logged at info or above that is not an access line. */
  const story = (svc: TestService) =>
    svc.logs.entries().filter((e) => e.msg !== 'request' && (e.level === 'info' || e.level === 'warn' || e.level === 'error'));

  it(
    'is logged once when it starts (warn, naming the upstream and why) ' +
      'and once when it ends (info, with its counts), and not per request',
    async () => {
      const clock = manualClock();
      const svc = await service(
        { LOG_LEVEL: 'info', UPSTREAM_BREAKER_FAILURES: String(FAILURES), UPSTREAM_BREAKER_RESET_MS: '5000', RATE_LIMIT_BURST: '10000' },
        { clock },
      );
      expect((await svc.turnServer(freshToken())).status).toBe(200);
      const quietBefore = story(svc).length;

      homeserver.mode = 'error500';
      const statuses: number[] = [];
      for (let i = 0; i < REQUESTS; i++) {
        statuses.push((await svc.turnServer(freshToken())).status);
        clock.advance(1000);
      }
      // The breaker opened after FAILURES (at 2 s), failed fast for its reset period, let one
      // probe through at 7 s (it failed), and failed fast again.
      expect(statuses).toEqual([502, 502, 502, 503, 503, 503, 503, 502, 503, 503]);
      clock.advance(50_000);
      homeserver.mode = 'normal';
      expect((await svc.turnServer(freshToken())).status).toBe(200);
      expect((await svc.turnServer(freshToken())).status).toBe(200);

      // 4 of the 10 asked the homeserver (3, then the probe); 6 were refused by the breaker.
      expect(story(svc).slice(quietBefore)).toEqual([
        expect.objectContaining({
          level: 'warn',
          msg: expect.stringMatching(/^upstream outage started/),
          upstream: 'homeserver',
          detail: 'homeserver answered HTTP 500',
        }),
        expect.objectContaining({
          level: 'info',
          msg: expect.stringMatching(/^upstream outage ended/),
          upstream: 'homeserver',
          failedRequests: REQUESTS,
          failedFast: 6,
          durationMs: REQUESTS * 1000 + 50_000,
        }),
      ]);
      // And no line per failed request at info: those are at debug.
      expect(svc.logs.entries().filter((e) => e.msg === 'request failed')).toEqual([]);
    },
  );

  it('of refused connections says so in its first line, and ends with the first answer', async () => {
    const doomed = await startHomeserver();
    doomed.addToken('alice-token', { userId: '@alice:example.org' });
    const clock = manualClock();
    const svc = await startTestService(
      { HOMESERVER_URL: doomed.url, LOG_LEVEL: 'info', UPSTREAM_BREAKER_FAILURES: '1000', TOKEN_CACHE_TTL: '0' },
      { clock },
    );
    services.push(svc);
    expect((await svc.turnServer('alice-token')).status).toBe(200);
    const quietBefore = story(svc).length;
    const port = doomed.port;
    await doomed.close();
    for (let i = 0; i < REQUESTS; i++) expect((await svc.turnServer('alice-token')).status).toBe(502);
    clock.advance(7000);
    const back = await startHomeserver({ port });
    back.addToken('alice-token', { userId: '@alice:example.org' });
    try {
      expect((await svc.turnServer('alice-token')).status).toBe(200);
    } finally {
      await back.close();
    }
    expect(story(svc).slice(quietBefore)).toEqual([
      expect.objectContaining({ level: 'warn', upstream: 'homeserver', detail: 'homeserver unreachable (ECONNREFUSED)' }),
      expect.objectContaining({ level: 'info', upstream: 'homeserver', failedRequests: REQUESTS, failedFast: 0, durationMs: 7000 }),
    ]);
  });
});
