// One log line and one latency observation per request on the public port. The route
// label is the router's template (bounded), never the raw path; a method refused on a
// known path (405) keeps its path's template. The user appears as a short hash at info
// and in full only at debug. kubelet's probes are logged at debug: at info they would be
// most of the log (about 18 lines a minute a pod), and their figures are in the metrics.
//
// This runs for every request, so it does the least it can: the metric child and a child
// logger carrying method, route and status are made once per (route, method, status),
// the user's hash is computed once per cached identity, and the line is written by
// accessLine (fast-paths/pino-access-line.ts) rather than by pino's generic serialiser.
// Its fields are fixed here and none can hold a token or a secret, so it needs no redaction.

import { hash } from 'node:crypto';
import type { Context } from 'koa';
import type { Identity } from '../auth/types.js';
import type { Observer } from '../fast-paths/latency-histogram.js';
import { accessLine, type AccessLevel, type AccessLine } from '../fast-paths/pino-access-line.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { PROBE_PATHS } from './probe-paths.js';

export interface RequestState {
  /** Who the request turned out to be, once the token is verified. */
  identity?: Identity;
}

/** What every request of one (route, method, status) shares, made once. */
interface Outcome {
  readonly duration: Observer;
  readonly level: AccessLevel;
  /** Writes the line, with the three fields already serialised. */
  readonly line: AccessLine;
}

const QUIET_ROUTES: ReadonlySet<string> = new Set(Object.values(PROBE_PATHS));

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
      const level = QUIET_ROUTES.has(route) ? 'debug' : 'info';
      const line = accessLine(lines.child({ method, route, status }), level);
      outcome = { duration: metrics.httpDuration.labels(route, method, String(status)), level, line };
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
    const outcome = outcomeOf(routeOf(ctx as RoutedContext), ctx.method, ctx.status);
    outcome.duration.observe(elapsedMs / 1000);
    if (!lines.isLevelEnabled(outcome.level)) return;
    const identity = (ctx.state as RequestState).identity;
    const durationMs = Math.round(elapsedMs * 1000) / 1000;
    if (identity === undefined) outcome.line(durationMs);
    else if (lines.isLevelEnabled('debug')) outcome.line(durationMs, 'userId', identity.userId);
    else outcome.line(durationMs, 'userHash', userHash(identity));
  };
}

/** What @koa/router leaves on the context (both documented): the template of the route that ran, and every layer whose path matched. */
interface RoutedContext {
  routerPath?: string;
  matched?: readonly { readonly path: string | RegExp; readonly methods: readonly string[] }[];
}

/**
 * The route template: the one that ran or, when the path matched a route but not its
 * method (a 405, which runs none), that route's path. Only the router's own templates,
 * so the label stays bounded; anything else is `unmatched`.
 */
function routeOf(ctx: RoutedContext): string {
  const route = ctx.routerPath ?? ctx.matched?.find((layer) => layer.methods.length > 0)?.path;
  return typeof route === 'string' ? route : 'unmatched';
}
