import Router from '@koa/router';
import Koa from 'koa';
import { Registry } from 'prom-client';
import { preflight } from '../../../src/http/cors.js';
import { requestEnvelope } from '../../../src/http/request-envelope.js';
import { MatrixError } from '../../../src/errors.js';
import { createLogger } from '../../../src/logger.js';
import { createMetrics } from '../../../src/metrics.js';
import { listen, type Listening } from '../../helpers/listen.js';
import { captureLogs } from '../../helpers/logs.js';

// The values the Matrix client-server spec ("Web Browser Clients") asks of every endpoint.
const SPEC = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, PUT, DELETE, OPTIONS',
  'access-control-allow-headers': 'X-Requested-With, Content-Type, Authorization',
  'access-control-expose-headers': 'X-Request-ID',
};

let server: Listening;

beforeAll(async () => {
  const app = new Koa();
  app.silent = true;
  app.use(requestEnvelope(createLogger('silent', captureLogs().stream), createMetrics(new Registry(), { defaultMetrics: false })));
  const router = new Router();
  router.get('/resource', (ctx) => {
    ctx.body = { ok: true };
  });
  router.options('/resource', preflight);
  router.get('/refused', () => {
    throw MatrixError.missingToken();
  });
  router.get('/crash', () => {
    throw new Error('boom');
  });
  app.use(router.routes());
  app.use(router.allowedMethods());
  server = await listen(app.callback());
});
afterAll(() => server.close());

function corsHeaders(res: Response): Record<string, string | null> {
  return Object.fromEntries(Object.keys(SPEC).map((name) => [name, res.headers.get(name)]));
}

describe('CORS headers', () => {
  it.each([
    ['a success', 'GET', '/resource', 200],
    ['a refusal', 'GET', '/refused', 401],
    ['a crash', 'GET', '/crash', 500],
    ['an unknown path', 'GET', '/nowhere', 404],
    ['a wrong method', 'DELETE', '/resource', 405],
  ])('are on %s', async (_what, method, path, status) => {
    const res = await fetch(`${server.url}${path}`, { method, headers: { origin: 'https://app.element.io' } });
    expect(res.status).toBe(status);
    expect(corsHeaders(res)).toEqual(SPEC);
    await res.arrayBuffer();
  });
});

describe('the preflight', () => {
  it('answers OPTIONS with 200 and an empty JSON object, no token needed', async () => {
    const res = await fetch(`${server.url}/resource`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.element.io',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      },
    });
    expect(res.status).toBe(200);
    expect(corsHeaders(res)).toEqual(SPEC);
    expect(await res.json()).toEqual({});
  });
});
