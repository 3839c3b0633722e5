// Fast path: a GET on one of the given paths, exactly as written, goes straight to its
// handler instead of through @koa/router, whose dispatch tests every layer of the router
// (eight here) with its regular expression and a debug() call, then builds, for the one that
// matched, its captures, its params and a composed chain, on every request. Anything else
// (another method, or a path the router also takes for these routes: a trailing slash,
// other letter case) goes on to the router, which answers it as it did. ctx.routerPath is set
// as the router sets it, to the route's template, which here is the path itself: the access
// line and the metrics label the request the same either way.
//
// Measured: see docs/development.md ("Where the time went"), which gives the gain of each
// step with the bench's --ab=build.
// Checked against @koa/router 15.7.0: test/unit/fast-paths/exact-get-route.test.ts holds
// the answers and the route labels equal with and without it for the router's own variants
// of each path, so an upgrade that changes what the router sets or takes fails there.

import type { Middleware } from 'koa';

export function exactGetRoute<State>(paths: readonly string[], handler: Middleware<State>): Middleware<State> {
  const exact: ReadonlySet<string> = new Set(paths);
  return function exactGetRoute(ctx, next) {
    const { path } = ctx;
    if (ctx.method !== 'GET' || !exact.has(path)) return next();
    (ctx as { routerPath?: string }).routerPath = path;
    return handler(ctx, next) as Promise<void>;
  };
}
