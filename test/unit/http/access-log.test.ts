// The access record of a request, as an operator sees it: the route label of its log line
// and latency series is the router's template (from @koa/router's ctx.routerPath, or the
// matched path of a 405), never the raw path; an error's line has its errcode, every line
// its request id and the client's address (unless turned off); the user appears as a keyed
// hash at info and in full only at debug; kubelet's probes are logged at debug.

import { createHmac } from 'node:crypto';
import Router from '@koa/router';
import Koa from 'koa';
import { Registry } from 'prom-client';
import type { Identity } from '../../../src/auth/types.js';
import { createAccessLog, type AccessLogOptions, type RequestState } from '../../../src/http/access-log.js';
import { PROBE_PATHS } from '../../../src/http/probe-paths.js';
import { createLogger } from '../../../src/logger.js';
import { createMetrics } from '../../../src/metrics.js';
import { listen, type Listening } from '../../helpers/listen.js';
import { captureLogs } from '../../helpers/logs.js';

const ALICE: Identity = { userId: '@alice:example.org', isGuest: false };

const KEYED: AccessLogOptions = { trustProxy: false, clientAddress: true, userHashKey: 'deployment-key' };
const hmac = (key: string, userId: string) => createHmac('sha256', key).update(userId).digest('hex').slice(0, 16);

type State = RequestState & { errcode?: string };

async function serve(level: string, options: AccessLogOptions = KEYED) {
  const logs = captureLogs();
  const registry = new Registry();
  const record = createAccessLog(createLogger(level, logs.stream), createMetrics(registry, { defaultMetrics: false }), options);
  const app = new Koa<State>();
  app.silent = true;
  let requests = 0;
  app.use(async function recordEach(ctx, next) {
    try {
      await next();
    } finally {
      requests += 1;
      record(ctx, 1.5, `request-${requests}`, ctx.state.errcode);
    }
  });
  const router = new Router<State>();
  // Registered first and matching every path of the GET route too: the route label must be
  // the template of the route that ran, not of the first one whose path matched.
  router.put('/rooms/:room/:what', (ctx) => {
    ctx.status = 204;
  });
  router.get('/rooms/:room/things', (ctx) => {
    ctx.state.identity = ALICE;
    ctx.body = { ok: true };
  });
  router.get('/limited', (ctx) => {
    ctx.state.identity = ALICE;
    ctx.state.errcode = 'M_LIMIT_EXCEEDED';
    ctx.status = 429;
    ctx.body = { errcode: 'M_LIMIT_EXCEEDED' };
  });
  router.get(PROBE_PATHS.liveness, (ctx) => {
    ctx.body = { status: 'alive' };
  });
  app.use(router.routes());
  app.use(router.allowedMethods());
  const handle = app.callback();
  const server: Listening = await listen((req, res) => void handle(req, res));
  return {
    async call(path: string, method = 'GET') {
      const res = await fetch(`${server.url}${path}`, { method });
      await res.arrayBuffer();
      return res.status;
    },
    lines: () => logs.entries().filter((entry) => entry.msg === 'request'),
    logs,
    count: async (labels: string) => {
      const series = new RegExp(`^matrix_turn_http_request_duration_seconds_count\\{${labels}\\} (\\d+)$`, 'm');
      const found = series.exec(await registry.metrics());
      return found === null ? 0 : Number(found[1]);
    },
    close: () => server.close(),
  };
}

describe('at info', () => {
  let service: Awaited<ReturnType<typeof serve>>;
  beforeAll(async () => (service = await serve('info')));
  afterAll(() => service.close());

  it("labels a request with its route's template, its id and address, and names the user by a keyed hash", async () => {
    expect(await service.call('/rooms/!abc:example.org/things')).toBe(200);
    expect(service.lines().at(-1)).toEqual({
      level: 'info',
      time: expect.any(Number),
      service: 'matrix-turn-credentials',
      method: 'GET',
      route: '/rooms/:room/things',
      status: 200,
      durationMs: 1.5,
      requestId: expect.stringMatching(/^request-\d+$/),
      clientAddress: '127.0.0.1',
      userHash: hmac('deployment-key', ALICE.userId),
      msg: 'request',
    });
    expect(await service.count('route="/rooms/:room/things",method="GET",status="200"')).toBe(1);
  });

  it("carries an error answer's errcode, and none on a success", async () => {
    expect(await service.call('/limited')).toBe(429);
    expect(service.lines().at(-1)).toMatchObject({ route: '/limited', status: 429, errcode: 'M_LIMIT_EXCEEDED' });
    expect(await service.call('/rooms/!abc:example.org/things')).toBe(200);
    expect(service.lines().at(-1)).not.toHaveProperty('errcode');
  });

  it('writes the request id it was given with each line', async () => {
    await service.call('/rooms/!abc:example.org/things');
    await service.call('/rooms/!abc:example.org/things');
    const [before, last] = service
      .lines()
      .slice(-2)
      .map((line) => Number(String(line.requestId).slice('request-'.length)));
    expect(last).toBe(before! + 1);
  });

  it('labels each route that ran with its own template', async () => {
    expect(await service.call('/rooms/!abc:example.org/things', 'PUT')).toBe(204);
    expect(service.lines().at(-1)).toMatchObject({ method: 'PUT', route: '/rooms/:room/:what', status: 204 });
    expect(await service.call('/rooms/!abc:example.org/things')).toBe(200);
    expect(service.lines().at(-1)).toMatchObject({ method: 'GET', route: '/rooms/:room/things', status: 200 });
  });

  it('labels a method refused on a known path with that path, and an unknown path as unmatched', async () => {
    expect(await service.call('/rooms/!abc:example.org/elsewhere', 'POST')).toBe(405);
    expect(service.lines().at(-1)).toMatchObject({ method: 'POST', route: '/rooms/:room/:what', status: 405 });
    expect(await service.count('route="/rooms/:room/:what",method="POST",status="405"')).toBe(1);
    expect(await service.call('/nowhere/!abc:example.org/elsewhere')).toBe(404);
    expect(service.lines().at(-1)).toMatchObject({ method: 'GET', route: 'unmatched', status: 404 });
    expect(await service.count('route="unmatched",method="GET",status="404"')).toBe(1);
  });

  it("keeps kubelet's probes out of the log but in the latency series", async () => {
    const before = service.lines().length;
    expect(await service.call(PROBE_PATHS.liveness)).toBe(200);
    expect(service.lines()).toHaveLength(before);
    expect(await service.count(`route="${PROBE_PATHS.liveness}",method="GET",status="200"`)).toBe(1);
  });
});

describe('at debug', () => {
  let service: Awaited<ReturnType<typeof serve>>;
  beforeAll(async () => (service = await serve('debug')));
  afterAll(() => service.close());

  it('names the user in full, and logs the probes at debug', async () => {
    await service.call('/rooms/!abc:example.org/things');
    expect(service.lines().at(-1)).toMatchObject({ level: 'info', route: '/rooms/:room/things', userId: ALICE.userId });
    await service.call(PROBE_PATHS.liveness);
    expect(service.lines().at(-1)).toMatchObject({ level: 'debug', route: PROBE_PATHS.liveness, status: 200 });
  });
});

describe('the user hash', () => {
  it('is HMAC-SHA256 of the user id under the key, and another key gives another', async () => {
    const keyed = await serve('info', { ...KEYED, userHashKey: 'deployment-key' });
    const other = await serve('info', { ...KEYED, userHashKey: 'another-key' });
    try {
      await keyed.call('/rooms/!abc:example.org/things');
      await other.call('/rooms/!abc:example.org/things');
      expect(keyed.lines().at(-1)!.userHash).toBe(hmac('deployment-key', ALICE.userId));
      expect(other.lines().at(-1)!.userHash).toBe(hmac('another-key', ALICE.userId));
      expect(keyed.lines().at(-1)!.userHash).not.toBe(other.lines().at(-1)!.userHash);
    } finally {
      await Promise.all([keyed.close(), other.close()]);
    }
  });

  it("without a key, is keyed by the process's own random key, and the log says so", async () => {
    const first = await serve('info', { ...KEYED, userHashKey: undefined });
    const second = await serve('info', { ...KEYED, userHashKey: undefined });
    try {
      await first.call('/rooms/!abc:example.org/things');
      await second.call('/rooms/!abc:example.org/things');
      expect(first.lines().at(-1)!.userHash).toMatch(/^[0-9a-f]{16}$/);
      expect(first.lines().at(-1)!.userHash).not.toBe(second.lines().at(-1)!.userHash);
      expect(first.logs.entries().filter((e) => String(e.msg).includes('user hashes are keyed by this process alone'))).toHaveLength(1);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });
});

describe('with LOG_CLIENT_ADDRESS=false', () => {
  it('leaves the address out of every line', async () => {
    const service = await serve('debug', { ...KEYED, clientAddress: false });
    try {
      await service.call('/rooms/!abc:example.org/things');
      await service.call('/limited');
      await service.call(PROBE_PATHS.liveness);
      expect(service.lines()).toHaveLength(3);
      for (const line of service.lines()) expect(line).not.toHaveProperty('clientAddress');
    } finally {
      await service.close();
    }
  });
});
