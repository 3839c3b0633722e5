// exactGetRoute (fast-paths/exact-get-route.ts) sends a GET on its exact paths straight to
// the handler, ahead of @koa/router: every request, those paths in the variants the router
// also takes included, must be answered and labelled (ctx.routerPath, the access log's route)
// exactly as by the router alone, and only the exact GETs may skip the router.

import Router from '@koa/router';
import Koa, { type Middleware } from 'koa';
import { exactGetRoute } from '../../../src/fast-paths/exact-get-route.js';
import { listen, type Listening } from '../../helpers/listen.js';

const PATHS = ['/_matrix/client/v3/voip/turnServer', '/_matrix/client/r0/voip/turnServer'];

interface Seen {
  status: number;
  body: string;
  allow: string | null;
  route: string | undefined;
  viaRouter: boolean;
}

async function serve(withFastPath: boolean): Promise<{ server: Listening; seen: () => Pick<Seen, 'route' | 'viaRouter'> }> {
  let route: string | undefined;
  let viaRouter = false;
  const handler: Middleware = (ctx) => {
    ctx.body = { path: ctx.path };
  };
  const router = new Router();
  for (const path of PATHS) {
    router.register(path, ['GET'], handler);
    router.options(path, (ctx) => void (ctx.body = {}));
  }
  router.get('/_matrix/client/v3/other', handler);
  const app = new Koa();
  app.use(async (ctx, next) => {
    viaRouter = false;
    await next();
    route = (ctx as { routerPath?: string }).routerPath;
  });
  if (withFastPath) app.use(exactGetRoute(PATHS, handler));
  app.use(async (_ctx, next) => {
    viaRouter = true;
    await next();
  });
  app.use(router.routes());
  app.use(router.allowedMethods());
  return { server: await listen(app.callback()), seen: () => ({ route, viaRouter }) };
}

const REQUESTS: [string, string][] = [
  ...PATHS.map((path): [string, string] => ['GET', path]),
  ['GET', `${PATHS[0]}/`],
  ['GET', PATHS[0]!.toUpperCase()],
  ['GET', `${PATHS[0]}?access_token=x`],
  ['HEAD', PATHS[0]!],
  ['OPTIONS', PATHS[0]!],
  ['PUT', PATHS[0]!],
  ['GET', '/_matrix/client/v3/other'],
  ['GET', '/_matrix/client/v4/voip/turnServer'],
];

async function answers(withFastPath: boolean): Promise<Seen[]> {
  const { server, seen } = await serve(withFastPath);
  try {
    const all: Seen[] = [];
    for (const [method, path] of REQUESTS) {
      const res = await fetch(`${server.url}${path}`, { method });
      all.push({ status: res.status, body: await res.text(), allow: res.headers.get('allow'), ...seen() });
    }
    return all;
  } finally {
    await server.close();
  }
}

test('every request is answered and labelled as by the router alone; only the exact GETs skip it', async () => {
  const [fast, routed] = [await answers(true), await answers(false)];
  const withoutWay = (all: Seen[]) => all.map(({ viaRouter: _, ...rest }) => rest);
  expect(withoutWay(fast)).toEqual(withoutWay(routed));
  expect(fast.map((s, i) => [REQUESTS[i]!.join(' '), s.viaRouter])).toEqual(
    REQUESTS.map(([method, path]) => [`${method} ${path}`, !(method === 'GET' && PATHS.includes(path.split('?')[0]!))]),
  );
  expect(fast.slice(0, 2).map((s) => s.route)).toEqual(PATHS);
});
