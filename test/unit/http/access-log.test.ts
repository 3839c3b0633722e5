// The access record of a request, as an operator sees it: the route label of its log line
// and latency series is the router's template (from @koa/router's ctx.routerPath, or the
// matched path of a 405), never the raw path; the user appears as a short hash at info and
// in full only at debug; kubelet's probes are logged at debug.

import Router from '@koa/router';
import Koa from 'koa';
import { Registry } from 'prom-client';
import type { Identity } from '../../../src/auth/types.js';
import { createAccessLog, type RequestState } from '../../../src/http/access-log.js';
import { PROBE_PATHS } from '../../../src/http/probe-paths.js';
import { createLogger } from '../../../src/logger.js';
import { createMetrics } from '../../../src/metrics.js';
import { listen, type Listening } from '../../helpers/listen.js';
import { captureLogs } from '../../helpers/logs.js';

const ALICE: Identity = { userId: '@alice:example.org', isGuest: false };

async function serve(level: string) {
  const logs = captureLogs();
  const registry = new Registry();
  const record = createAccessLog(createLogger(level, logs.stream), createMetrics(registry, { defaultMetrics: false }));
  const app = new Koa<RequestState>();
  app.silent = true;
  app.use(async function recordEach(ctx, next) {
    try {
      await next();
    } finally {
      record(ctx, 1.5);
    }
  });
  const router = new Router<RequestState>();
  // Registered first and matching every path of the GET route too: the route label must be
  // the template of the route that ran, not of the first one whose path matched.
  router.put('/rooms/:room/:what', (ctx) => {
    ctx.status = 204;
  });
  router.get('/rooms/:room/things', (ctx) => {
    ctx.state.identity = ALICE;
    ctx.body = { ok: true };
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

  it("labels a request with its route's template, and names the user by a short hash", async () => {
    expect(await service.call('/rooms/!abc:example.org/things')).toBe(200);
    expect(service.lines().at(-1)).toEqual(
      expect.objectContaining({
        level: 'info',
        method: 'GET',
        route: '/rooms/:room/things',
        status: 200,
        durationMs: 1.5,
        userHash: expect.stringMatching(/^[0-9a-f]{16}$/),
      }),
    );
    expect(service.lines().at(-1)).not.toHaveProperty('userId');
    expect(await service.count('route="/rooms/:room/things",method="GET",status="200"')).toBe(1);
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
