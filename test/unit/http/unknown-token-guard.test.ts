// The token-guessing guard around a verification, in a real Koa app: an address over its
// unknown-token budget is refused before verification, only M_UNKNOWN_TOKEN outcomes
// spend from it, a verification in flight holds a unit of it, and tokens beyond those
// units wait their turn (bounded in count and time, on the manual clock's timers) instead of being
// refused. (That a token the cache knows never meets the guard is the route's doing,
// tested through the service in test/integration/abuse.test.ts.)

import Koa from 'koa';
import { Registry } from 'prom-client';
import { requestEnvelope } from '../../../src/http/request-envelope.js';
import { MatrixError } from '../../../src/errors.js';
import { unknownTokenGuard } from '../../../src/http/unknown-token-guard.js';
import { createLogger } from '../../../src/logger.js';
import { createMetrics } from '../../../src/metrics.js';
import { memoryLimiter } from '../../../src/ratelimit/memory.js';
import { manualClock, type ManualClock } from '../../helpers/clock.js';
import { listen, type Listening } from '../../helpers/listen.js';
import { captureLogs } from '../../helpers/logs.js';

const BURST = 3;
const MAX_PENDING = 8;
const MAX_WAIT_MS = 10_000;

interface Setup {
  server: Listening;
  /** Tokens that reached the guard, in order of arrival. */
  arrived: string[];
  /** Resolves when the next token reaches the guard. */
  nextArrival(): Promise<void>;
  /** Tokens verified, in order. */
  verified: string[];
  /** Verifications under way now, and the most there ever were at once. */
  inVerification: number;
  mostInVerification: number;
  /** Lets every "held" verification, under way or to come, answer. */
  release(): void;
  /** Moves the budget's time, and the waits' timers with it. */
  clock: ManualClock;
}

async function setup(): Promise<Setup> {
  const clock = manualClock();
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let arrival: (() => void) | undefined;
  const state: Setup = {
    server: undefined as unknown as Listening,
    arrived: [],
    nextArrival: () => new Promise<void>((resolve) => (arrival = resolve)),
    verified: [],
    inVerification: 0,
    mostInVerification: 0,
    release,
    clock,
  };
  const app = new Koa({ proxy: true, maxIpsCount: 1 });
  app.silent = true;
  app.use(requestEnvelope(createLogger('silent', captureLogs().stream), createMetrics(new Registry(), { defaultMetrics: false })));
  const guard = unknownTokenGuard({
    budget: memoryLimiter({ perSecond: 1, burst: BURST, clock }),
    maxPendingPerAddress: MAX_PENDING,
    trustProxy: true,
    metrics: createMetrics(new Registry(), { defaultMetrics: false }),
    maxWaitMs: MAX_WAIT_MS,
    timers: clock,
  });
  // The verification the guard wraps: a small stand-in whose answers the test controls.
  // "held-…" tokens answer once the test releases them; "…bad…" ones are unknown.
  const verify = async (token: string) => {
    state.verified.push(token);
    state.inVerification += 1;
    state.mostInVerification = Math.max(state.mostInVerification, state.inVerification);
    try {
      if (token.startsWith('held')) await held;
      if (token.includes('bad')) throw MatrixError.unknownToken();
      if (token.startsWith('down')) throw MatrixError.upstream(502, 'homeserver down');
      return { ok: true };
    } finally {
      state.inVerification -= 1;
    }
  };
  app.use(async (ctx) => {
    const token = ctx.get('x-token');
    state.arrived.push(token);
    arrival?.();
    ctx.body = await guard(ctx.req, () => verify(token));
  });
  state.server = await listen(app.callback());
  return state;
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

const ask = (s: Setup, token: string, address = '192.0.2.1'): Promise<Answer> =>
  fetch(s.server.url, { headers: { 'x-token': token, 'x-forwarded-for': address } }).then(async (res) => ({
    status: res.status,
    body: (await res.json()) as Record<string, unknown>,
  }));

/**
 * Sends them one after another without waiting for answers, each once the one before has
 * reached the guard (admitted or queued: that part is synchronous), so their order is known.
 */
async function sendAll(s: Setup, tokens: string[]): Promise<Promise<Answer>[]> {
  const answers: Promise<Answer>[] = [];
  for (const token of tokens) {
    const arrived = s.nextArrival();
    answers.push(ask(s, token));
    await arrived;
  }
  return answers;
}

const statuses = async (answers: Promise<Answer>[]) => (await Promise.all(answers)).map((a) => a.status);
const named = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

let s: Setup;
beforeEach(async () => {
  s = await setup();
});
afterEach(async () => {
  await s.server.close();
});

test('after BURST unknown tokens the address is refused without verifying; others are not', async () => {
  for (let i = 0; i < BURST; i++) expect((await ask(s, `bad-${i}`)).status).toBe(401);
  const refused = await ask(s, 'bad-more');
  expect(refused).toEqual({ status: 429, body: { errcode: 'M_LIMIT_EXCEEDED', error: 'Too Many Requests', retry_after_ms: 1000 } });
  expect(s.verified).toEqual(['bad-0', 'bad-1', 'bad-2']);
  expect((await ask(s, 'good-elsewhere', '198.51.100.9')).status).toBe(200);
});

test('the budget refills with time', async () => {
  for (let i = 0; i < BURST; i++) await ask(s, `bad-${i}`);
  expect((await ask(s, 'good')).status).toBe(429);
  s.clock.advance(1000);
  expect((await ask(s, 'good')).status).toBe(200);
});

test('valid tokens and upstream failures spend nothing', async () => {
  for (let i = 0; i < BURST * 3; i++) expect((await ask(s, `good-${i}`)).status).toBe(200);
  for (let i = 0; i < BURST * 3; i++) expect((await ask(s, `down-${i}`)).status).toBe(502);
  expect((await ask(s, 'bad-first')).status).toBe(401);
});

test('many valid tokens at once from one address: all served, BURST verified at a time, the rest waiting their turn', async () => {
  const answers = await sendAll(s, named('held-good', MAX_PENDING));
  expect(s.verified).toEqual(named('held-good', BURST));
  s.release();
  expect(await statuses(answers)).toEqual(Array(MAX_PENDING).fill(200));
  expect(s.verified).toEqual(named('held-good', MAX_PENDING));
  expect(s.mostInVerification).toBe(BURST);
  // They spent nothing: a whole budget of wrong tokens is still only 401.
  for (let i = 0; i < BURST; i++) expect((await ask(s, `bad-${i}`)).status).toBe(401);
});

test('wrong tokens at once: BURST verified, those waiting get the 429 a newcomer gets, unverified', async () => {
  const answers = await sendAll(s, named('held-bad', 6));
  s.release();
  const all = await Promise.all(answers);
  expect(all.map((a) => a.status)).toEqual([401, 401, 401, 429, 429, 429]);
  expect(all[5]!.body).toEqual({ errcode: 'M_LIMIT_EXCEEDED', error: 'Too Many Requests', retry_after_ms: 1000 });
  expect(s.verified).toEqual(named('held-bad', BURST));
});

test('a verification in flight holds its unit: with one spent, BURST - 1 are verified at once', async () => {
  expect((await ask(s, 'bad-first')).status).toBe(401);
  const answers = await sendAll(s, named('held-good', 4));
  expect(s.verified).toEqual(['bad-first', ...named('held-good', BURST - 1)]);
  s.release();
  expect(await statuses(answers)).toEqual([200, 200, 200, 200]);
  expect(s.mostInVerification).toBe(BURST - 1);
});

test('a waiter re-checks the budget on its turn: wrong tokens ahead spend it, valid ones hand their unit back', async () => {
  const answers = await sendAll(s, ['held-bad-0', 'held-bad-1', 'held-good-0', 'good-a', 'good-b', 'bad-c']);
  expect(s.verified).toEqual(['held-bad-0', 'held-bad-1', 'held-good-0']);
  s.release();
  // Two units spent, one left: the waiters go one at a time until bad-c spends the last.
  expect(await statuses(answers)).toEqual([401, 401, 200, 200, 200, 401]);
  expect(s.mostInVerification).toBe(BURST);
  expect((await ask(s, 'good-after')).status).toBe(429);
});

test('the wait is bounded in time: a turn that does not come in maxWaitMs is 429, unverified', async () => {
  const answers = await sendAll(s, [...named('held-bad', BURST), 'good-late']);
  let answered = false;
  void answers[BURST]!.then(() => (answered = true));
  s.clock.advance(MAX_WAIT_MS - 1);
  // A round trip to another address: had the waiter been answered, it would be by now.
  expect((await ask(s, 'good-elsewhere', '198.51.100.9')).status).toBe(200);
  expect(answered).toBe(false);
  s.clock.advance(1);
  expect(await answers[BURST]).toEqual({
    status: 429,
    body: { errcode: 'M_LIMIT_EXCEEDED', error: 'Too Many Requests', retry_after_ms: 1000 },
  });
  s.release();
  expect(await statuses(answers)).toEqual([401, 401, 401, 429]);
  expect(s.verified).not.toContain('good-late');
});

test('the wait is bounded in count: past maxPendingPerAddress, verifying and waiting, 429 at once', async () => {
  const answers = await sendAll(s, named('held-good', MAX_PENDING));
  // Answered while all the others are still held.
  expect(await ask(s, 'good-one-too-many')).toEqual({
    status: 429,
    body: { errcode: 'M_LIMIT_EXCEEDED', error: 'Too Many Requests', retry_after_ms: 1000 },
  });
  expect((await ask(s, 'good-elsewhere', '198.51.100.9')).status).toBe(200);
  s.release();
  expect(await statuses(answers)).toEqual(Array(MAX_PENDING).fill(200));
  expect(s.verified).not.toContain('good-one-too-many');
});
