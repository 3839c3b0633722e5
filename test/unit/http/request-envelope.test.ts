// The envelope around every request, as a client sees it: a MatrixError answered with its
// status, headers and body, anything else a generic 500, requests no route answers a JSON
// 404/405; details in the log only. (CORS on every answer: cors.test.ts.)

import Router from '@koa/router';
import Koa from 'koa';
import { Registry } from 'prom-client';
import { requestEnvelope } from '../../../src/http/request-envelope.js';
import { MatrixError } from '../../../src/errors.js';
import { createLogger } from '../../../src/logger.js';
import { createMetrics } from '../../../src/metrics.js';
import { listen, type Listening } from '../../helpers/listen.js';
import { captureLogs, type CapturedLogs } from '../../helpers/logs.js';

let server: Listening;
let logs: CapturedLogs;

beforeAll(async () => {
  logs = captureLogs();
  const app = new Koa();
  app.silent = true;
  app.use(requestEnvelope(createLogger('debug', logs.stream), createMetrics(new Registry(), { defaultMetrics: false })));
  const router = new Router();
  router.get('/ok', (ctx) => {
    ctx.body = { fine: true };
  });
  router.get('/limited', () => {
    throw new MatrixError(429, 'M_LIMIT_EXCEEDED', 'Too Many Requests', {
      headers: { 'Retry-After': '3' },
      extra: { retry_after_ms: 2500 },
      detail: 'operator-only detail 7c1f',
    });
  });
  router.get('/upstream-timeout', () => {
    throw MatrixError.upstream(504, 'homeserver did not answer within 5 ms');
  });
  router.get('/crash', () => {
    throw new TypeError('cannot read hunter2-internal-state');
  });
  router.get('/throws-a-string', () => {
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- what the test is about: a throw that is no Error
    throw 'not an Error';
  });
  router.get('/koa-client-error', (ctx) => ctx.throw(400, 'koa-internal wording'));
  router.get('/koa-not-found', (ctx) => ctx.throw(404));
  app.use(router.routes());
  app.use(router.allowedMethods());
  server = await listen(app.callback());
});
afterAll(() => server.close());

async function call(path: string, method = 'GET') {
  const res = await fetch(`${server.url}${path}`, { method });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

describe('a MatrixError', () => {
  it('becomes its status, JSON body with extra fields, and headers', async () => {
    const res = await call('/limited');
    expect(res.status).toBe(429);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('retry-after')).toBe('3');
    expect(JSON.parse(res.text)).toEqual({ errcode: 'M_LIMIT_EXCEEDED', error: 'Too Many Requests', retry_after_ms: 2500 });
  });

  it('keeps its detail for the logs only', async () => {
    const res = await call('/limited');
    expect(res.text).not.toContain('operator-only detail');
    expect(logs.text()).toContain('operator-only detail 7c1f');
  });

  it('is logged as a warning with its detail when it is a server-side failure', async () => {
    const res = await call('/upstream-timeout');
    expect(res.status).toBe(504);
    expect(JSON.parse(res.text)).toEqual({ errcode: 'M_UNKNOWN', error: 'Timed out verifying the access token' });
    const line = logs.entries().find((e) => e.detail === 'homeserver did not answer within 5 ms');
    expect(line).toMatchObject({ level: 'warn', status: 504, errcode: 'M_UNKNOWN' });
  });
});

describe('anything else thrown', () => {
  it('becomes 500 M_UNKNOWN with a generic message, never the error text', async () => {
    const res = await call('/crash');
    expect(res.status).toBe(500);
    expect(JSON.parse(res.text)).toEqual({ errcode: 'M_UNKNOWN', error: 'Internal server error' });
    expect(logs.entries().some((e) => e.level === 'warn' && String(e.detail).includes('TypeError'))).toBe(true);
  });

  it('copes with a thrown non-Error', async () => {
    const res = await call('/throws-a-string');
    expect(res.status).toBe(500);
    expect(JSON.parse(res.text)).toEqual({ errcode: 'M_UNKNOWN', error: 'Internal server error' });
  });

  it("keeps the status of Koa's own client errors but not their wording", async () => {
    const res = await call('/koa-client-error');
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text)).toEqual({ errcode: 'M_UNKNOWN', error: 'Bad request' });
    const notFound = await call('/koa-not-found');
    expect(notFound.status).toBe(404);
    expect(JSON.parse(notFound.text)).toEqual({ errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' });
  });
});

describe('requests no route answers', () => {
  it('an unknown path is 404 M_UNRECOGNIZED in JSON', async () => {
    const res = await call('/nowhere');
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(JSON.parse(res.text)).toEqual({ errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' });
  });

  it('a method the path does not take is 405 M_UNRECOGNIZED, with Allow', async () => {
    const res = await call('/ok', 'POST');
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toContain('GET');
    expect(JSON.parse(res.text)).toEqual({ errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' });
  });

  it('a method no route knows is 405 on a known path and 404 elsewhere, never a text/plain 501', async () => {
    const known = await call('/ok', 'PROPFIND');
    expect(known.status).toBe(405);
    expect(JSON.parse(known.text)).toEqual({ errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' });
    const unknown = await call('/nowhere', 'PROPFIND');
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.text)).toEqual({ errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' });
  });

  it("offers Allow only where there are methods to allow: none on an unknown path, the route's own on a known one", async () => {
    for (const method of ['PROPFIND', 'GET', 'POST']) expect((await call('/nowhere', method)).headers.has('allow')).toBe(false);
    for (const method of ['PROPFIND', 'POST']) {
      const known = await call('/ok', method);
      expect(known.status).toBe(405);
      expect(known.headers.get('allow')).toBe('HEAD, GET');
    }
  });

  it('leaves answers that succeeded alone', async () => {
    const res = await call('/ok');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toEqual({ fine: true });
  });
});
