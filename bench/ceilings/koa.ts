// Ceiling: Koa + @koa/router answering a fixed JSON body on the service's path: what the
// framework alone costs, before any of the service's own work.

import Router from '@koa/router';
import Koa from 'koa';
import { exitOnSigterm } from './exit-on-sigterm.js';

const body = {
  username: '1795597949:@user-000001:bench.example.org',
  password: '2WM2BrOpMrSyersaWftOyHRpzn8=',
  uris: ['turn:turn.example.org:3478?transport=udp', 'turns:turn.example.org:5349?transport=tcp'],
  ttl: 3600,
};

const app = new Koa();
const router = new Router();
router.get('/_matrix/client/v3/voip/turnServer', (ctx) => {
  ctx.body = body;
});
app.use(router.routes());
app.use(router.allowedMethods());
const server = app.listen(Number(process.env.PORT), '127.0.0.1', () => process.send?.('ready'));
server.keepAliveTimeout = 65_000;
exitOnSigterm();
