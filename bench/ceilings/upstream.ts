// Ceiling for the whoami and introspection cold paths: a Koa + @koa/router app making one
// undici request per request to the same stand-in the service asks (UPSTREAM=whoami: GET
// the homeserver's whoami with the caller's token; UPSTREAM=introspection: POST the token
// to the RFC 7662 stand-in with HTTP Basic), reading the JSON answer and answering with
// the user it names. A keep-alive pool like the service's (src/auth/upstream.ts).

import Router from '@koa/router';
import Koa from 'koa';
import { Agent, request } from 'undici';
import { exitOnSigterm } from './exit-on-sigterm.js';

const kind = process.env.UPSTREAM;
const base = process.env.UPSTREAM_URL ?? '';
const basic = `Basic ${Buffer.from(`${process.env.CLIENT_ID}:${process.env.CLIENT_SECRET}`).toString('base64')}`;
const dispatcher = new Agent({ keepAliveTimeout: 30_000, connections: 256, pipelining: 1 });

async function userOf(authorization: string): Promise<string | undefined> {
  if (kind === 'whoami') {
    const res = await request(`${base}/_matrix/client/v3/account/whoami`, { headers: { authorization }, dispatcher });
    const body = (await res.body.json()) as { user_id?: string };
    return res.statusCode === 200 ? body.user_id : undefined;
  }
  const res = await request(base, {
    method: 'POST',
    headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: authorization.slice('Bearer '.length), token_type_hint: 'access_token' }).toString(),
    dispatcher,
  });
  const body = (await res.body.json()) as { active?: boolean; username?: string };
  return res.statusCode === 200 && body.active === true ? `@${body.username}:bench.example.org` : undefined;
}

const app = new Koa();
const router = new Router();
router.get('/_matrix/client/v3/voip/turnServer', async (ctx) => {
  const userId = await userOf(ctx.get('authorization'));
  if (userId === undefined) {
    ctx.status = 401;
    ctx.body = { errcode: 'M_UNKNOWN_TOKEN', error: 'Unknown token' };
    return;
  }
  ctx.body = { user_id: userId, ttl: 3600 };
});
app.use(router.routes());
app.use(router.allowedMethods());
const server = app.listen(Number(process.env.PORT), '127.0.0.1');
server.keepAliveTimeout = 65_000;
exitOnSigterm();
