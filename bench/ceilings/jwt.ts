// Ceiling for the jwt method's cold path: a Koa + @koa/router app that verifies each
// request's JWT with jose (the key, issuer, audience and algorithm the service is given)
// and answers: what one verification per request costs, before anything of the service.

import Router from '@koa/router';
import { importSPKI, jwtVerify } from 'jose';
import Koa from 'koa';
import { exitOnSigterm } from './exit-on-sigterm.js';

const key = await importSPKI(process.env.JWT_PUBLIC_KEY ?? '', 'ES256');
const options = { issuer: process.env.JWT_ISSUER!, audience: process.env.JWT_AUDIENCE!, algorithms: ['ES256'] };

const app = new Koa();
const router = new Router();
router.get('/_matrix/client/v3/voip/turnServer', async (ctx) => {
  const token = ctx.get('authorization').slice('Bearer '.length);
  try {
    const { payload } = await jwtVerify(token, key, options);
    ctx.body = { user_id: `@${payload.sub}:bench.example.org`, ttl: 3600 };
  } catch {
    ctx.status = 401;
    ctx.body = { errcode: 'M_UNKNOWN_TOKEN', error: 'Invalid token' };
  }
});
app.use(router.routes());
app.use(router.allowedMethods());
const server = app.listen(Number(process.env.PORT), '127.0.0.1');
server.keepAliveTimeout = 65_000;
exitOnSigterm();
