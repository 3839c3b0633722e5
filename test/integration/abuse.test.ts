// Token guessing: a flood of distinct unknown tokens from one client address reaches the
// homeserver `burst` times, no more (a check under way holds a unit of the address's
// unknown-token budget, so checks in flight cannot outrun it), while users elsewhere, and
// users behind the same address whose token is already known, are still served. Client
// addresses are simulated with X-Forwarded-For under TRUST_PROXY; without it the header
// must change nothing. (A wave of valid users from one address: cold-cache.test.ts.)

import { startHomeserver, type StandInHomeserver } from '../helpers/homeserver.js';
import { startTestService, type TestService } from '../helpers/service.js';

const BURST = 20;
// No refill during the test: the bound on homeserver calls is then exact, not a function
// of how long a loaded machine takes to send the flood.
const LIMITS = { UNKNOWN_TOKEN_RATE_LIMIT_BURST: String(BURST), UNKNOWN_TOKEN_RATE_LIMIT_PER_SECOND: '0', RATE_LIMIT_BURST: '1000' };
const FLOOD = 1000;
const CONCURRENCY = 50;
/** The budget: with no refill, checks in flight hold units of it and cannot add to it. */
const MAX_UPSTREAM_CALLS = BURST;

let homeserver: StandInHomeserver;

beforeAll(async () => {
  homeserver = await startHomeserver();
  homeserver.addToken('alice-token-valid', { userId: '@alice:example.org' });
  homeserver.addToken('bob-token-valid', { userId: '@bob:example.org' });
  homeserver.addToken('carol-token-valid', { userId: '@carol:example.org' });
});

afterAll(async () => {
  await homeserver?.close();
});

/** Sends `count` requests, `concurrency` at a time; returns how many got each status. */
async function flood(count: number, concurrency: number, send: (i: number) => Promise<Response>): Promise<Record<number, number>> {
  const statuses: Record<number, number> = {};
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const res = await send(next++);
      await res.arrayBuffer();
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return statuses;
}

const unknownToken = (i: number) => `syt_guess_${i}_${Math.random().toString(36).slice(2)}`;

describe('with TRUST_PROXY: the right-most X-Forwarded-For entry is the client', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService({ HOMESERVER_URL: homeserver.url, TRUST_PROXY: 'true', LOG_LEVEL: 'info', ...LIMITS });
  });
  afterAll(async () => {
    await service?.stop();
  });

  test('1,000 distinct unknown tokens from one address: bounded homeserver calls, 429 with retry advice, others still served', async () => {
    // Alice is behind the same address as the attacker and was served before the flood.
    const alice = await service.turnServer('alice-token-valid', { headers: { 'x-forwarded-for': '198.51.100.7' } });
    expect(alice.status).toBe(200);
    const before = homeserver.calls;

    const statuses = await flood(FLOOD, CONCURRENCY, (i) =>
      // The attacker also writes its own X-Forwarded-For entries; the proxy appends the real one.
      service.turnServer(unknownToken(i), { headers: { 'x-forwarded-for': `10.${i % 250}.0.1, 198.51.100.7` } }),
    );

    const upstreamCalls = homeserver.calls - before;
    expect(upstreamCalls).toBeGreaterThanOrEqual(BURST);
    expect(upstreamCalls).toBeLessThanOrEqual(MAX_UPSTREAM_CALLS);
    expect(Object.keys(statuses).sort()).toEqual(['401', '429']);
    expect(statuses[429]).toBeGreaterThanOrEqual(FLOOD - MAX_UPSTREAM_CALLS);

    const refused = await service.turnServer(unknownToken(-1), { headers: { 'x-forwarded-for': '198.51.100.7' } });
    expect(refused.status).toBe(429);
    const body = (await refused.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ errcode: 'M_LIMIT_EXCEEDED' });
    expect(Number.isInteger(body.retry_after_ms) && (body.retry_after_ms as number) > 0).toBe(true);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);

    // Bob, at another address, is verified and served as usual.
    const bob = await service.turnServer('bob-token-valid', { headers: { 'x-forwarded-for': '203.0.113.50' } });
    expect(bob.status).toBe(200);
    // Alice's token is known to be valid: the attacker's address does not lock her out.
    const aliceAgain = await service.turnServer('alice-token-valid', { headers: { 'x-forwarded-for': '198.51.100.7' } });
    expect(aliceAgain.status).toBe(200);
    // A valid token not yet known, from the flooding address, waits like the attacker:
    // nothing tells it apart before asking the homeserver, which is what the budget saves.
    const carol = await service.turnServer('carol-token-valid', { headers: { 'x-forwarded-for': '198.51.100.7' } });
    expect(carol.status).toBe(429);

    const metrics = await service.metrics();
    expect(metrics).toMatch(/matrix_turn_rate_limited_total\{scope="address"\} (\d+)/);
    expect(Number(/matrix_turn_rate_limited_total\{scope="address"\} (\d+)/.exec(metrics)![1])).toBeGreaterThanOrEqual(
      FLOOD - MAX_UPSTREAM_CALLS,
    );
  });

  test('rotating addresses within one IPv6 /64 does not escape the budget', async () => {
    const before = homeserver.calls;
    const statuses = await flood(300, 30, (i) =>
      service.turnServer(unknownToken(i), { headers: { 'x-forwarded-for': `2001:db8:77:1:${(i + 1).toString(16)}::1` } }),
    );
    expect(homeserver.calls - before).toBeLessThanOrEqual(MAX_UPSTREAM_CALLS);
    expect(statuses[429]).toBeGreaterThan(0);
  });

  test('the same unknown token again and again: the refusal is cached, the homeserver asked once', async () => {
    const before = homeserver.calls;
    const token = unknownToken(0);
    for (let i = 0; i < 5; i++) {
      const res = await service.turnServer(token, { headers: { 'x-forwarded-for': '192.0.2.200' } });
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ errcode: 'M_UNKNOWN_TOKEN' });
    }
    expect(homeserver.calls - before).toBe(1);
  });
});

describe('without TRUST_PROXY: X-Forwarded-For is whatever the client wrote, and ignored', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService({ HOMESERVER_URL: homeserver.url, LOG_LEVEL: 'info', ...LIMITS });
  });
  afterAll(async () => {
    await service?.stop();
  });

  test('a flood that claims a new address on every request is still one address', async () => {
    const before = homeserver.calls;
    const statuses = await flood(FLOOD, CONCURRENCY, (i) =>
      service.turnServer(unknownToken(i), { headers: { 'x-forwarded-for': `203.0.${Math.floor(i / 250)}.${i % 250}` } }),
    );
    expect(homeserver.calls - before).toBeLessThanOrEqual(MAX_UPSTREAM_CALLS);
    expect(statuses[429]).toBeGreaterThanOrEqual(FLOOD - MAX_UPSTREAM_CALLS);
    // And so a "different address" in the header does not get a fresh budget either.
    const claimed = await service.turnServer(unknownToken(-2), { headers: { 'x-forwarded-for': '192.0.2.1' } });
    expect(claimed.status).toBe(429);
  });
});
