// One log line and one latency observation per request on the public port. The route
// label is the router's template (bounded), never the raw path. The user appears as a
// short hash at info and in full only at debug.
//
// This runs for every request, so it does the least it can: metric children are bound
// once per (route, method, status), the user's hash is computed once per cached
// identity, and the line goes through a child logger without redaction: its fields are
// fixed above and none of them can hold a token or a secret.

import { hash } from 'node:crypto';
import type { Context } from 'koa';
import type { Identity } from '../auth/types.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';

export interface RequestState {
  /** Who the request turned out to be, once the token is verified. */
  identity?: Identity;
}

type Observer = { observe(seconds: number): void };

/** Records one finished request: its latency observation and its log line. */
export function createAccessLog(logger: Logger, metrics: Metrics): (ctx: Context, elapsedMs: number) => void {
  const lines = logger.child({}, { redact: [] });
  const observers = new Map<string, Observer>();
  const userHashes = new WeakMap<Identity, string>();
  const observerFor = (route: string, method: string, status: number): Observer => {
    const key = `${route} ${method} ${status}`;
    let observer = observers.get(key);
    if (observer === undefined) {
      observer = metrics.httpDuration.labels(route, method, String(status));
      observers.set(key, observer);
    }
    return observer;
  };
  const userHash = (identity: Identity): string => {
    let digest = userHashes.get(identity);
    if (digest === undefined) {
      digest = hash('sha256', identity.userId, 'hex').slice(0, 16);
      userHashes.set(identity, digest);
    }
    return digest;
  };

  return function recordRequest(ctx, elapsedMs) {
    const route = (ctx as unknown as { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
    const { method, status } = ctx;
    observerFor(route, method, status).observe(elapsedMs / 1000);
    if (!lines.isLevelEnabled('info')) return;
    const identity = (ctx.state as RequestState).identity;
    const line: Record<string, unknown> = { method, route, status, durationMs: Math.round(elapsedMs * 1000) / 1000 };
    if (identity !== undefined) {
      if (lines.isLevelEnabled('debug')) line.userId = identity.userId;
      else line.userHash = userHash(identity);
    }
    lines.info(line, 'request');
  };
}
