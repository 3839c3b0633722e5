// Calls to one upstream, against a small local server told per request how to answer:
// every failure that is the upstream's (refused connections, timeouts, 5xx answers, the
// open breaker, the cap on calls in flight) is a 5xx MatrixError marked as told, and the
// log tells each outage once when it starts and once when it ends, with its counts; the
// breaker's own changes are not lines of their own at info.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { createUpstream, type Upstream, type UpstreamOptions } from '../../../src/auth/upstream.js';
import { MatrixError } from '../../../src/errors.js';
import { createLogger } from '../../../src/logger.js';
import { createMetrics } from '../../../src/metrics.js';
import { manualClock, type ManualClock } from '../../helpers/clock.js';
import { freePort } from '../../helpers/ports.js';
import { captureLogs, type CapturedLogs } from '../../helpers/logs.js';

/**
 * How the server answers a path: a status, held until the test lets it go, or its
 * connection closed under the request without an answer (every time, or the first time).
 */
type Answer = { status: number } | 'hold' | 'close' | 'close-once';

let server: Server;
let baseUrl: string;
const answers = new Map<string, Answer>();
const held: ServerResponse[] = [];
let calls = 0;
beforeEach(() => {
  calls = 0;
});

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    calls += 1;
    const answer = answers.get(req.url ?? '') ?? { status: 200 };
    if (answer === 'close-once') answers.delete(req.url ?? '');
    if (answer === 'hold') held.push(res);
    else if (answer === 'close' || answer === 'close-once') req.socket.destroy();
    else res.writeHead(answer.status, { 'content-type': 'application/json' }).end('{"user_id":"@alice:example.org"}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const res of held.splice(0)) res.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const upstreams: Upstream[] = [];
afterEach(async () => {
  answers.clear();
  for (const res of held.splice(0)) res.destroy();
  await Promise.allSettled(upstreams.splice(0).map((u) => u.close()));
});

function setup(overrides: Partial<UpstreamOptions> = {}, level = 'info'): { upstream: Upstream; clock: ManualClock; logs: CapturedLogs } {
  const clock = manualClock();
  const logs = captureLogs();
  const upstream = createUpstream({
    name: 'homeserver',
    timeoutMs: 10_000,
    metrics: createMetrics(new Registry(), { defaultMetrics: false }),
    logger: createLogger(level, logs.stream),
    clock,
    ...overrides,
  });
  upstreams.push(upstream);
  return { upstream, clock, logs };
}

const get = (upstream: Upstream, path = '/ok', base = baseUrl) => upstream.call({ method: 'GET', url: `${base}${path}` });

/** The error a failed call threw; a call that did not fail fails the test. */
async function failure(pending: Promise<unknown>): Promise<MatrixError> {
  try {
    await pending;
  } catch (error) {
    if (error instanceof MatrixError) return error;
    throw error;
  }
  throw new Error('the call succeeded');
}

/** A hold lets the server receive the request before the test goes on. */
async function untilHeld(count: number): Promise<void> {
  while (held.length < count) await new Promise((resolve) => setImmediate(resolve));
}

describe('an upstream answering 5xx', () => {
  test('503 is 503 with Retry-After, any other 5xx is 502; the caller never sees the answer as one', async () => {
    const { upstream } = setup({ breakerFailureThreshold: 1000 });
    answers.set('/busy', { status: 503 });
    answers.set('/broken', { status: 500 });
    answers.set('/gateway', { status: 502 });
    expect(await failure(get(upstream, '/busy'))).toMatchObject({
      status: 503,
      errcode: 'M_UNKNOWN',
      headers: { 'Retry-After': '1' },
      detail: 'homeserver answered 503',
    });
    expect(await failure(get(upstream, '/broken'))).toMatchObject({
      status: 502,
      errcode: 'M_UNKNOWN',
      detail: 'homeserver answered HTTP 500',
    });
    expect(await failure(get(upstream, '/gateway'))).toMatchObject({
      status: 502,
      errcode: 'M_UNKNOWN',
      detail: 'homeserver answered HTTP 502',
    });
  });

  test('4xx answers are answers: the caller reads them, and they end an outage', async () => {
    const { upstream, logs } = setup();
    answers.set('/broken', { status: 500 });
    answers.set('/unknown-token', { status: 401 });
    await failure(get(upstream, '/broken'));
    expect((await get(upstream, '/unknown-token')).status).toBe(401);
    expect(logs.entries().map((e) => e.level)).toEqual(['warn', 'info']);
  });
});

describe('an outage, told once', () => {
  test(
    'N failed requests, the breaker opening and a probe: ' +
      'one warning at the start, one info line at the end with the counts and the duration',
    async () => {
      const { upstream, clock, logs } = setup({ breakerFailureThreshold: 3, breakerResetMs: 5000 });
      answers.set('/ok', { status: 500 });
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) {
        const error = await failure(get(upstream));
        expect(error.reported).toBe(true);
        statuses.push(error.status);
        clock.advance(1000);
      }
      // 3 asked, then refused by the breaker (opened at 2 s) until its probe at 7 s, which failed.
      expect(statuses).toEqual([502, 502, 502, 503, 503, 503, 503, 502]);
      expect(calls).toBe(4);
      clock.advance(20_000);
      answers.delete('/ok');
      expect((await get(upstream)).status).toBe(200);
      expect((await get(upstream)).status).toBe(200);
      expect(logs.entries()).toEqual([
        expect.objectContaining({ level: 'warn', upstream: 'homeserver', status: 502, detail: 'homeserver answered HTTP 500' }),
        expect.objectContaining({ level: 'info', upstream: 'homeserver', failedRequests: 8, failedFast: 4, durationMs: 28_000 }),
      ]);
    },
  );

  test('refused connections: the first line names the reason', async () => {
    const { upstream, logs } = setup({ breakerFailureThreshold: 1000 });
    const nobody = `http://127.0.0.1:${await freePort()}`;
    for (let i = 0; i < 4; i++) {
      expect(await failure(get(upstream, '/', nobody))).toMatchObject({
        status: 502,
        reported: true,
        detail: 'homeserver unreachable (ECONNREFUSED)',
      });
    }
    expect(logs.entries()).toEqual([
      expect.objectContaining({ level: 'warn', upstream: 'homeserver', detail: 'homeserver unreachable (ECONNREFUSED)' }),
    ]);
  });

  test('a timeout is 504, told', async () => {
    const { upstream, logs } = setup({ timeoutMs: 200 });
    answers.set('/slow', 'hold');
    expect(await failure(get(upstream, '/slow'))).toMatchObject({
      status: 504,
      reported: true,
      detail: 'homeserver did not answer within 200 ms',
    });
    expect(logs.entries()).toEqual([
      expect.objectContaining({ level: 'warn', status: 504, detail: 'homeserver did not answer within 200 ms' }),
    ]);
  });

  test('the cap refusing is an outage too; the answers to calls made before the refusal do not end it', async () => {
    // One in flight, one waiting, the third refused at once.
    const { upstream, logs } = setup({ maxConcurrency: 1, queueWaitMs: 60_000 });
    answers.set('/slow', 'hold');
    const first = get(upstream, '/slow');
    await untilHeld(1);
    const waiting = get(upstream, '/slow');
    expect(await failure(get(upstream, '/slow'))).toMatchObject({
      status: 503,
      reported: true,
      detail: 'homeserver: too many calls in flight (queue full)',
    });
    held.shift()!.writeHead(200).end('{}');
    expect((await first).status).toBe(200);
    await untilHeld(1);
    held.shift()!.writeHead(200).end('{}');
    expect((await waiting).status).toBe(200);
    expect(logs.entries().map((e) => e.level)).toEqual(['warn']);
    expect((await get(upstream)).status).toBe(200);
    expect(logs.entries()).toEqual([
      expect.objectContaining({ level: 'warn' }),
      expect.objectContaining({ level: 'info', failedRequests: 1, failedFast: 0 }),
    ]);
  });

  test('the breaker opening and closing are steps of the story: at debug, not lines of their own at info', async () => {
    const atDebug = setup({ breakerFailureThreshold: 2, breakerResetMs: 1000 }, 'debug');
    answers.set('/ok', { status: 500 });
    for (let i = 0; i < 3; i++) await failure(get(atDebug.upstream));
    atDebug.clock.advance(1000);
    answers.delete('/ok');
    expect((await get(atDebug.upstream)).status).toBe(200);
    const story = atDebug.logs.entries().filter((e) => e.level !== 'debug' || String(e.msg).startsWith('circuit breaker'));
    expect(story.map((e) => [e.level, String(e.msg).split(':')[0]])).toEqual([
      ['warn', 'upstream outage started'],
      ['debug', 'circuit breaker open'],
      ['debug', 'circuit breaker closed'],
      ['info', 'upstream outage ended'],
    ]);
  });
});

describe('a connection closed under a call', () => {
  test('a kept-alive connection closed as the call arrives: one more attempt answers, and the breaker never hears of it', async () => {
    const { upstream, logs } = setup({ breakerFailureThreshold: 1 });
    expect((await get(upstream)).status).toBe(200);
    // The next call goes out on the connection just used, which the server drops unanswered.
    answers.set('/ok', 'close-once');
    expect((await get(upstream)).status).toBe(200);
    expect(calls).toBe(3);
    // A threshold of 1: a failure counted would have opened the breaker.
    expect((await get(upstream)).status).toBe(200);
    expect(logs.lines).toEqual([]);
  });

  test('an upstream that closes every time fails the call with 502 after one more attempt only', async () => {
    const { upstream } = setup();
    answers.set('/always', 'close');
    expect(await failure(get(upstream, '/always'))).toMatchObject({ status: 502, detail: 'homeserver unreachable (UND_ERR_SOCKET)' });
    expect(calls).toBe(2);
  });
});

describe("each call's deadline", () => {
  it('is armed while the call is in flight and cleared when the answer comes, so no timer outlives it', async () => {
    const timers = manualClock();
    const { upstream } = setup({ timers });
    answers.set('/held', 'hold');
    const pending = get(upstream, '/held');
    while (held.length === 0) await new Promise((resolve) => setImmediate(resolve));
    expect(timers.pendingTimers()).toBe(1);
    held.shift()!.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    expect((await pending).status).toBe(200);
    expect(timers.pendingTimers()).toBe(0);
  });

  it('ends a call the upstream holds with 504 once it passes, on the injected timers', async () => {
    const timers = manualClock();
    const { upstream } = setup({ timers });
    answers.set('/held', 'hold');
    const pending = failure(get(upstream, '/held'));
    while (held.length === 0) await new Promise((resolve) => setImmediate(resolve));
    expect(timers.pendingTimers()).toBe(1);
    timers.advance(10_000);
    const error = await pending;
    expect([error.status, error.errcode, error.detail]).toEqual([504, 'M_UNKNOWN', 'homeserver did not answer within 10000 ms']);
    expect(timers.pendingTimers()).toBe(0);
  });
});
