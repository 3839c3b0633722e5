// Ceiling: the sketch of this service, a Koa + @koa/router app doing only its irreducible
// work: read the Authorization header, look the token's hash (sha256, as
// src/auth/token-hash.ts) up in a Map filled at start, one in-memory token-bucket decision
// for the user, one HMAC-SHA1 TURN password (plain createHmac: the fast path of
// src/fast-paths/ is the service's own gain), and the JSON answer. What the service adds
// (logs, metrics, the cache's bounds and expiry, CORS, the error model) should cost nothing
// measurable against it. Its bucket decisions are taken at the end of the event-loop turn,
// for the turn's requests together, as the service's are (src/ratelimit/per-turn.ts): the
// same app deciding in the tick that parsed each request costs 62-75 µs of CPU per request
// against 39-47 (measured here, same run), so that sketch would be no ceiling at all.

import Router from '@koa/router';
import Koa from 'koa';
import { createHmac, hash } from 'node:crypto';
import { exitOnSigterm } from './exit-on-sigterm.js';

const USERS = Number(process.env.USERS ?? 5000);
const SECRET = process.env.TURN_SHARED_SECRET ?? 'bench-secret';
const URIS = ['turn:turn.example.org:3478?transport=udp', 'turns:turn.example.org:5349?transport=tcp'];
const TTL_SECONDS = 3600;
const PER_SECOND = 1_000_000;
const BURST = 1_000_000;

const identities = new Map<string, string>();
for (let n = 0; n < USERS; n += 1) identities.set(hash('sha256', `bench-${n}`, 'base64url'), `@user-${n}:bench.example.org`);

const buckets = new Map<string, { tokens: number; atMs: number }>();
function allowed(userId: string, nowMs: number): boolean {
  const bucket = buckets.get(userId) ?? { tokens: BURST, atMs: nowMs };
  bucket.tokens = Math.min(BURST, bucket.tokens + ((nowMs - bucket.atMs) * PER_SECOND) / 1000);
  bucket.atMs = nowMs;
  buckets.set(userId, bucket);
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}

const app = new Koa();
const router = new Router();
let turn: (() => void)[] = [];
const endOfTurn = () =>
  new Promise<void>((resolve) => {
    if (turn.push(resolve) === 1)
      setImmediate(() => {
        const waiting = turn;
        turn = [];
        for (const resume of waiting) resume();
      });
  });

router.get('/_matrix/client/v3/voip/turnServer', async (ctx) => {
  const header = ctx.get('authorization');
  const userId = header.startsWith('Bearer ') ? identities.get(hash('sha256', header.slice(7), 'base64url')) : undefined;
  if (userId === undefined) {
    ctx.status = 401;
    ctx.body = { errcode: 'M_UNKNOWN_TOKEN', error: 'Unknown token' };
    return;
  }
  await endOfTurn();
  const nowMs = Date.now();
  if (!allowed(userId, nowMs)) {
    ctx.status = 429;
    ctx.body = { errcode: 'M_LIMIT_EXCEEDED', error: 'Too many requests' };
    return;
  }
  const username = `${Math.floor(nowMs / 1000) + TTL_SECONDS}:${userId}`;
  ctx.body = { username, password: createHmac('sha1', SECRET).update(username).digest('base64'), uris: URIS, ttl: TTL_SECONDS };
});
app.use(router.routes());
app.use(router.allowedMethods());
const server = app.listen(Number(process.env.PORT), '127.0.0.1');
server.keepAliveTimeout = 65_000;
exitOnSigterm();
