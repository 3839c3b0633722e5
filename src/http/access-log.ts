// One log line and one latency observation per request on the public port. The route
// label is the router's template (bounded), never the raw path. The user appears as a
// short hash at info and in full only at debug.
//
// This runs for every request, so it does the least it can: the metric child and a child
// logger carrying method, route and status are made once per (route, method, status),
// the user's hash is computed once per cached identity, and the lines go through a
// logger without redaction: their fields are fixed here and none can hold a token or a
// secret.

import { hash } from 'node:crypto';
import type { Context } from 'koa';
import type { Identity } from '../auth/types.js';
import type { Logger } from '../logger.js';
import type { Observer } from '../latency-histogram.js';
import type { Metrics } from '../metrics.js';

export interface RequestState {
  /** Who the request turned out to be, once the token is verified. */
  identity?: Identity;
}

/** What every request of one (route, method, status) shares, made once. */
interface Outcome {
  readonly duration: Observer;
  /** A child logger with the three fields bound: pino serialises them once, not per line. */
  readonly lines: Logger;
}

/** Records one finished request: its latency observation and its log line. */
export function createAccessLog(logger: Logger, metrics: Metrics): (ctx: Context, elapsedMs: number) => void {
  const lines = logger.child({}, { redact: [] });
  // Bounded: route templates, the methods Node's parser accepts, and status codes.
  const outcomes = new Map<string, Outcome>();
  const userHashes = new WeakMap<Identity, string>();
  const outcomeOf = (route: string, method: string, status: number): Outcome => {
    const key = `${route} ${method} ${status}`;
    let outcome = outcomes.get(key);
    if (outcome === undefined) {
      outcome = { duration: metrics.httpDuration.labels(route, method, String(status)), lines: lines.child({ method, route, status }) };
      outcomes.set(key, outcome);
    }
    return outcome;
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
    const outcome = outcomeOf(route, ctx.method, ctx.status);
    outcome.duration.observe(elapsedMs / 1000);
    if (!lines.isLevelEnabled('info')) return;
    const identity = (ctx.state as RequestState).identity;
    const durationMs = Math.round(elapsedMs * 1000) / 1000;
    if (identity === undefined) outcome.lines.info({ durationMs }, 'request');
    else if (lines.isLevelEnabled('debug')) outcome.lines.info({ durationMs, userId: identity.userId }, 'request');
    else outcome.lines.info({ durationMs, userHash: userHash(identity) }, 'request');
  };
}
