// A cold cache behind one proxy: the service started with the defaults (TRUST_PROXY off,
// in-process limiter, UNKNOWN_TOKEN_RATE_LIMIT_BURST 20), every request from one address,
// as behind the homeserver's reverse proxy after a restart or a rollout. Every user then
// presents a token the cache cannot vouch for: all of them must be served, while a flood
// of wrong tokens from that same address still reaches the homeserver about `burst` times.

import { startHomeserver, type StandInHomeserver } from '../helpers/homeserver.js';
import { startTestService, type TestService } from '../helpers/service.js';

const USERS = 200;
const FLOOD = 1000;
// The defaults, restated so the bound below reads from them.
const BURST = 20;
const PER_SECOND = 1;
// A homeserver answers whoami in milliseconds when idle and in tens or hundreds of them
// during the wave that a restart brings; at a loopback stand-in's speed no two requests
// would ever overlap, and the wave would not be one.
const WHOAMI_DELAY_MS = 100;

let homeserver: StandInHomeserver;
let service: TestService;

const userToken = (i: number) => `syt_user${i}_cold_cache_token`;

beforeAll(async () => {
  homeserver = await startHomeserver();
  for (let i = 0; i < USERS; i++) homeserver.addToken(userToken(i), { userId: `@user${i}:example.org` });
  homeserver.delayMs = WHOAMI_DELAY_MS;
});
afterAll(async () => {
  await homeserver?.close();
});

beforeEach(async () => {
  // Defaults only: nothing about limits is set, so this is what an operator starts.
  service = await startTestService({ HOMESERVER_URL: homeserver.url, LOG_LEVEL: 'info' });
  expect(service.config.trustProxy).toBe(false);
  expect(service.config.redis).toBeUndefined();
  expect(service.config.rateLimit).toMatchObject({ unknownTokenBurst: BURST, unknownTokenPerSecond: PER_SECOND });
});
afterEach(async () => {
  await service?.stop();
});

/** Sends every request at once; resolves with how many got each status. */
async function allAtOnce(count: number, token: (i: number) => string): Promise<Record<number, number>> {
  const statuses: Record<number, number> = {};
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const res = await service.turnServer(token(i));
      await res.arrayBuffer();
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
    }),
  );
  return statuses;
}

test(`${USERS} new users at once from one address are all served, each verified once`, async () => {
  const before = homeserver.calls;
  const statuses = await allAtOnce(USERS, userToken);
  const whoamiCalls = homeserver.calls - before;
  process.stdout.write(`cold cache: ${statuses[200] ?? 0} of ${USERS} answered 200; ${whoamiCalls} whoami calls\n`);
  expect(statuses).toEqual({ 200: USERS });
  expect(whoamiCalls).toBe(USERS);
  // And they spent nothing of the address's budget: a wrong token is still only 401.
  const wrong = await service.turnServer('syt_wrong_after_the_wave');
  expect(wrong.status).toBe(401);
});

test(`${FLOOD} wrong tokens at once from that address reach the homeserver about burst times`, async () => {
  const before = homeserver.calls;
  const startedMs = Date.now();
  const statuses = await allAtOnce(FLOOD, (i) => `syt_wrong_${i}_${Math.random().toString(36).slice(2)}`);
  const elapsedS = (Date.now() - startedMs) / 1000;
  const whoamiCalls = homeserver.calls - before;
  const figures = `${whoamiCalls} whoami calls in ${elapsedS.toFixed(2)} s; statuses ${JSON.stringify(statuses)}`;
  process.stdout.write(`wrong-token flood: ${figures}\n`);
  // The budget, plus what it refilled while the flood lasted; nothing for being sent at once.
  expect(whoamiCalls).toBeGreaterThanOrEqual(BURST);
  expect(whoamiCalls).toBeLessThanOrEqual(BURST + Math.ceil(elapsedS * PER_SECOND));
  expect(Object.keys(statuses).sort()).toEqual(['401', '429']);
  expect(statuses[401]).toBe(whoamiCalls);
});
