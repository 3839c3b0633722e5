// The token-guessing guard around a verification, in a real Koa app: an address over its
// unknown-token budget is refused before verification, only M_UNKNOWN_TOKEN outcomes
// spend from it, and a burst of concurrent unproven tokens is capped per address. (That a
// token the cache knows never meets the guard is the route's doing, tested through the
// service in test/integration/abuse.test.ts.)

import Koa from 'koa';
import { Registry } from 'prom-client';
import { edge } from '../../../src/http/edge.js';
import { MatrixError } from '../../../src/http/matrix-error.js';
import { unknownTokenGuard } from '../../../src/http/unknown-token-guard.js';
import { createLogger } from '../../../src/logger.js';
import { createMetrics } from '../../../src/metrics.js';
import { memoryLimiter } from '../../../src/ratelimit/memory.js';
import { manualClock } from '../../helpers/clock.js';
import { listen, type Listening } from '../../helpers/listen.js';
import { waitFor } from '../../helpers/wait.js';
import { captureLogs } from '../../helpers/logs.js';

const BURST = 3;

interface Setup {
  server: Listening;
  verified: string[];
  /** While set, verifying a token that starts with "held" waits for it: the request stays in flight. */
  hold?: Promise<void>;
  clock: ReturnType<typeof manualClock>;
}

async function setup(): Promise<Setup> {
  const clock = manualClock();
  const state: Setup = { server: undefined as unknown as Listening, verified: [], clock };
  const app = new Koa({ proxy: true, maxIpsCount: 1 });
  app.silent = true;
  app.use(edge(createLogger('silent', captureLogs().stream), createMetrics(new Registry(), { defaultMetrics: false })));
  const guard = unknownTokenGuard({
    budget: memoryLimiter({ perSecond: 1, burst: BURST, clock }),
    maxPendingPerAddress: BURST,
    trustProxy: true,
    metrics: createMetrics(new Registry(), { defaultMetrics: false }),
  });
  // The verification the guard wraps: a small stand-in whose answers the test controls.
  const verify = async (token: string) => {
    state.verified.push(token);
    if (state.hold && token.startsWith('held')) await state.hold;
    if (token.startsWith('bad') || token.startsWith('held')) throw MatrixError.unknownToken();
    if (token.startsWith('down')) throw MatrixError.upstream(502, 'homeserver down');
    return { ok: true };
  };
  app.use(async (ctx) => {
    const token = ctx.get('x-token');
    ctx.body = await guard(ctx.req, () => verify(token));
  });
  state.server = await listen(app.callback());
  return state;
}

const ask = (s: Setup, token: string, address = '192.0.2.1') =>
  fetch(s.server.url, { headers: { 'x-token': token, 'x-forwarded-for': address } }).then(async (res) => ({
    status: res.status,
    body: (await res.json()) as Record<string, unknown>,
  }));

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

test('at most BURST unproven tokens of one address are verified at once', async () => {
  let release!: () => void;
  s.hold = new Promise((resolve) => (release = resolve));
  const pending = Array.from({ length: BURST }, (_, i) => ask(s, `held-${i}`));
  // Once the held ones are all being verified, one more from that address is refused at once.
  await waitFor(() => s.verified.length === BURST, { what: 'the held tokens to be in verification' });
  expect((await ask(s, 'bad-extra')).status).toBe(429);
  expect((await ask(s, 'good-other-address', '198.51.100.9')).status).toBe(200);
  release();
  expect((await Promise.all(pending)).map((r) => r.status)).toEqual([401, 401, 401]);
  expect(s.verified).not.toContain('bad-extra');
});
