// The envelope around every request, as a client sees it: a MatrixError answered with its
// status, headers and body, anything else a generic 500, requests no route answers a JSON
// 404/405; details in the log only; every answer with an X-Request-ID that its access line
// (with the errcode of an error) and any failure line carry. (CORS on every answer: cors.test.ts.)

import Router from '@koa/router';
import Koa from 'koa';
import { Registry } from 'prom-client';
import type { AccessLogOptions } from '../../../src/http/access-log.js';
import { requestEnvelope } from '../../../src/http/request-envelope.js';
import { MatrixError } from '../../../src/errors.js';
import { createLogger } from '../../../src/logger.js';
import { createMetrics } from '../../../src/metrics.js';
import { listen, type Listening } from '../../helpers/listen.js';
import { captureLogs, type CapturedLogs } from '../../helpers/logs.js';

let server: Listening;
let logs: CapturedLogs;

async function serve(logs: CapturedLogs, accessLog?: AccessLogOptions): Promise<Listening> {
  const app = new Koa();
  app.silent = true;
  const metrics = createMetrics(new Registry(), { defaultMetrics: false });
  app.use(requestEnvelope(createLogger('debug', logs.stream), metrics, undefined, accessLog));
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
  return listen(app.callback());
}

beforeAll(async () => {
  logs = captureLogs();
  server = await serve(logs);
});
afterAll(() => server.close());

async function call(path: string, method = 'GET', headers: Record<string, string> = {}, at: Listening = server) {
  const res = await fetch(`${at.url}${path}`, { method, headers });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** The access line of the answer that carried this request id. */
const accessLineOf = (requestId: string | null, from: CapturedLogs = logs) =>
  from.entries().filter((e) => e.msg === 'request' && e.requestId === requestId);

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

describe('the request id and the access line', () => {
  it.each([
    ['a success', '/ok', 200, undefined],
    ['a MatrixError', '/limited', 429, 'M_LIMIT_EXCEEDED'],
    ['an upstream failure', '/upstream-timeout', 504, 'M_UNKNOWN'],
    ['a crash', '/crash', 500, 'M_UNKNOWN'],
    ["Koa's own client error", '/koa-client-error', 400, 'M_UNKNOWN'],
    ["Koa's own 404", '/koa-not-found', 404, 'M_UNRECOGNIZED'],
    ['an unknown path', '/nowhere', 404, 'M_UNRECOGNIZED'],
  ])('%s: the answer has an X-Request-ID, and its one access line that id and the errcode', async (_what, path, status, errcode) => {
    const res = await call(path);
    expect(res.status).toBe(status);
    const id = res.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f]{12}-[0-9a-z]+$/);
    const lines = accessLineOf(id);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ status, clientAddress: '127.0.0.1' });
    expect(lines[0]!.errcode).toBe(errcode);
  });

  it('gives each answer its own id', async () => {
    const ids = await Promise.all([call('/ok'), call('/ok'), call('/crash')]).then((all) => all.map((r) => r.headers.get('x-request-id')));
    expect(new Set(ids).size).toBe(3);
  });

  it("puts the id on the failure's own warning too, so the two lines can be matched", async () => {
    const res = await call('/crash');
    const id = res.headers.get('x-request-id');
    const warning = logs.entries().find((e) => e.msg === 'request failed' && e.requestId === id);
    expect(warning).toMatchObject({ level: 'warn', status: 500, detail: expect.stringContaining('TypeError') });
  });

  it("ignores a client's X-Request-ID without TRUST_PROXY", async () => {
    const res = await call('/ok', 'GET', { 'x-request-id': 'chosen-by-the-client' });
    expect(res.headers.get('x-request-id')).not.toBe('chosen-by-the-client');
    expect(accessLineOf('chosen-by-the-client')).toHaveLength(0);
  });
});

describe('with TRUST_PROXY', () => {
  let proxied: Listening;
  let proxiedLogs: CapturedLogs;
  beforeAll(async () => {
    proxiedLogs = captureLogs();
    proxied = await serve(proxiedLogs, { trustProxy: true, clientAddress: true, userHashKey: 'k' });
  });
  afterAll(() => proxied.close());

  it("answers and logs with the proxy's id and the address it forwarded, errors included", async () => {
    for (const path of ['/ok', '/limited']) {
      const id = `proxy-id-${path.slice(1)}`;
      const res = await call(path, 'GET', { 'x-request-id': id, 'x-forwarded-for': '198.51.100.1, 203.0.113.9' }, proxied);
      expect(res.headers.get('x-request-id')).toBe(id);
      expect(accessLineOf(id, proxiedLogs)).toEqual([expect.objectContaining({ clientAddress: '203.0.113.9' })]);
    }
  });

  it('replaces an id that is too long or not printable with its own', async () => {
    for (const bad of ['x'.repeat(129), 'quote"inside']) {
      const res = await call('/ok', 'GET', { 'x-request-id': bad }, proxied);
      const id = res.headers.get('x-request-id');
      expect(id).toMatch(/^[0-9a-f]{12}-[0-9a-z]+$/);
      expect(accessLineOf(id, proxiedLogs)).toHaveLength(1);
    }
  });
});
