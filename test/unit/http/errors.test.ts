// The Koa error step on its own, served over real HTTP: what a client receives for each
// kind of failure (a MatrixError as it is, Koa's own client errors in Matrix words, an
// unexpected throw as a generic 500), and what the operator's log gets (the detail, at
// warn for a server-side failure nobody reported yet, at debug otherwise).

import Koa, { type Context } from 'koa';
import { MatrixError } from '../../../src/errors.js';
import { refuseUnmatched, respondWithError } from '../../../src/http/errors.js';
import { createLogger } from '../../../src/logger.js';
import { listen, type Listening } from '../../helpers/listen.js';
import { captureLogs, type CapturedLogs } from '../../helpers/logs.js';

let server: Listening;
let logs: CapturedLogs;
/** What the next request's handler does. */
let handle: (ctx: Context) => void;

beforeAll(async () => {
  const app = new Koa();
  app.silent = true;
  app.use(async (ctx, next) => {
    try {
      await next();
      refuseUnmatched(ctx);
    } catch (caught) {
      respondWithError(ctx, caught, createLogger('debug', logs.stream));
    }
  });
  app.use((ctx) => handle(ctx));
  const callback = app.callback();
  server = await listen((req, res) => void callback(req, res));
});
afterAll(() => server.close());
beforeEach(() => {
  logs = captureLogs();
});

async function answer(handler: (ctx: Context) => void) {
  handle = handler;
  const res = await fetch(`${server.url}/_matrix/client/v3/voip/turnServer`);
  return { status: res.status, headers: res.headers, body: await res.json() };
}

describe('respondWithError', () => {
  test('a MatrixError is answered as it says: status, headers, JSON body; its detail goes to the log at debug only', async () => {
    const res = await answer(() => {
      throw MatrixError.limitExceeded(2500);
    });
    expect(res.status).toBe(429);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.headers.get('retry-after')).toBe('3');
    expect(res.body).toEqual({ errcode: 'M_LIMIT_EXCEEDED', error: 'Too Many Requests', retry_after_ms: 2500 });
    expect(logs.entries()).toEqual([]);

    const refused = await answer(() => {
      throw MatrixError.forbidden('Not allowed', 'appservice: user of another server');
    });
    expect([refused.status, refused.body]).toEqual([403, { errcode: 'M_FORBIDDEN', error: 'Not allowed' }]);
    expect(logs.entries()).toEqual([
      expect.objectContaining({ level: 'debug', msg: 'request refused', status: 403, detail: 'appservice: user of another server' }),
    ]);
  });

  test("Koa's own client errors keep their status in Matrix words, never Koa's wording", async () => {
    const bad = await answer((ctx) => ctx.throw(400, 'koa-internal wording'));
    expect([bad.status, bad.body]).toEqual([400, { errcode: 'M_UNKNOWN', error: 'Bad request' }]);
    const notFound = await answer((ctx) => ctx.throw(404));
    expect([notFound.status, notFound.body]).toEqual([404, { errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' }]);
    const notAllowed = await answer((ctx) => ctx.throw(405));
    expect([notAllowed.status, notAllowed.body]).toEqual([405, { errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' }]);
    expect(logs.entries().filter((e) => e.level !== 'debug')).toEqual([]);
  });

  test('an unexpected throw is a generic 500: its detail is logged as a warning and never sent', async () => {
    const res = await answer(() => {
      throw new TypeError('cannot read hunter2-internal-state');
    });
    expect([res.status, res.body]).toEqual([500, { errcode: 'M_UNKNOWN', error: 'Internal server error' }]);
    expect(JSON.stringify(res.body)).not.toContain('hunter2');
    expect(logs.entries()).toEqual([
      expect.objectContaining({
        level: 'warn',
        msg: 'request failed',
        status: 500,
        errcode: 'M_UNKNOWN',
        detail: 'TypeError: cannot read hunter2-internal-state',
      }),
    ]);
  });

  test('a thrown value that is no error is a 500 too, logged as such', async () => {
    const res = await answer(() => {
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- what this test is about: code that throws no error.
      throw 'a string';
    });
    expect([res.status, res.body]).toEqual([500, { errcode: 'M_UNKNOWN', error: 'Internal server error' }]);
    expect(logs.entries()).toEqual([expect.objectContaining({ level: 'warn', detail: 'non-error thrown' })]);
  });

  test('a server-side failure is a warning with its detail, unless its source reported it already: then debug', async () => {
    const unreported = await answer(() => {
      throw MatrixError.upstream(504, 'homeserver did not answer within 5000 ms');
    });
    expect([unreported.status, unreported.body]).toEqual([504, { errcode: 'M_UNKNOWN', error: 'Timed out verifying the access token' }]);
    const reported = await answer(() => {
      throw MatrixError.limiterUnavailable(5);
    });
    expect([reported.status, reported.headers.get('retry-after')]).toEqual([503, '5']);
    expect(logs.entries()).toEqual([
      expect.objectContaining({ level: 'warn', msg: 'request failed', status: 504, detail: 'homeserver did not answer within 5000 ms' }),
      expect.objectContaining({
        level: 'debug',
        msg: 'request failed',
        status: 503,
        detail: 'redis unreachable and RATE_LIMIT_ON_REDIS_ERROR=deny',
      }),
    ]);
  });
});

describe('refuseUnmatched', () => {
  test('nothing answered is 404 M_UNRECOGNIZED; an answer with a body is left alone', async () => {
    const unmatched = await answer(() => {});
    expect([unmatched.status, unmatched.body]).toEqual([404, { errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' }]);
    const answered = await answer((ctx) => {
      ctx.body = { fine: true };
    });
    expect([answered.status, answered.body]).toEqual([200, { fine: true }]);
  });

  test("a 501 (the router's for a method it knows nowhere) is 405 where Allow names methods, else 404 with no Allow", async () => {
    const known = await answer((ctx) => {
      ctx.status = 501;
      ctx.set('Allow', 'HEAD, GET');
    });
    expect([known.status, known.headers.get('allow'), known.body]).toEqual([
      405,
      'HEAD, GET',
      { errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' },
    ]);
    const unknown = await answer((ctx) => {
      ctx.status = 501;
      ctx.set('Allow', '');
    });
    expect([unknown.status, unknown.headers.has('allow'), unknown.body]).toEqual([
      404,
      false,
      { errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' },
    ]);
  });
});
