// One log line and one latency observation per request on the public port. The route
// label is the router's template (bounded), never the raw path; a method refused on a
// known path (405) keeps its path's template. An error answer's line carries its errcode;
// every line its request id (request-id.ts) and, unless LOG_CLIENT_ADDRESS=false, the
// client's address (client-address.ts). The user appears as a keyed hash at info
// (user-hash.ts) and in full only at debug. kubelet's probes are logged at debug: at info
// they would be most of the log (about 18 lines a minute a pod), and their figures are in
// the metrics. docs/operations.md ("Logs") explains every field to operators.
//
// This runs for every request, so it does the least it can: the metric child and a child
// logger carrying method, route, status and errcode are made once per such outcome (all
// four bounded), the user's hash is computed once per cached identity, and the line is
// written by accessLine (fast-paths/pino-access-line.ts) rather than by pino's generic
// serialiser. Its fields are fixed here and none can hold a token or a secret, so it
// needs no redaction.

import type { Context } from 'koa';
import type { Identity } from '../auth/types.js';
import type { Observer } from '../fast-paths/latency-histogram.js';
import { accessLine, type AccessLevel, type AccessLine } from '../fast-paths/pino-access-line.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { clientAddress } from './client-address.js';
import { PROBE_PATHS } from './probe-paths.js';
import { randomUserHashKey, userHasher } from './user-hash.js';

export interface RequestState {
  /** The request's id, from the envelope (request-envelope.ts). */
  requestId?: string;
  /** Who the request turned out to be, once the token is verified. */
  identity?: Identity;
}

export interface AccessLogOptions {
  /** The address from X-Forwarded-For rather than the peer (TRUST_PROXY). */
  readonly trustProxy: boolean;
  /** Whether a line carries the client's address (LOG_CLIENT_ADDRESS). */
  readonly clientAddress: boolean;
  /** The key of the user hash (app.ts chooses it); none: a random key of this process, said once in the log. */
  readonly userHashKey: string | Buffer | undefined;
}

/**
 * Records one finished request: its latency observation and its log line. `errcode` is
 * that of the error it was answered with (a bounded set, as the route and the status).
 */
export type RecordRequest = (ctx: Context, elapsedMs: number, requestId: string, errcode: string | undefined) => void;

/** What every request of one (route, method, status, errcode) shares, made once. */
interface Outcome {
  readonly duration: Observer;
  readonly level: AccessLevel;
  /** Writes the line, with the four fields already serialised. */
  readonly line: AccessLine;
}

const QUIET_ROUTES: ReadonlySet<string> = new Set(Object.values(PROBE_PATHS));

export function createAccessLog(logger: Logger, metrics: Metrics, options: AccessLogOptions): RecordRequest {
  const lines = logger.child({}, { redact: [] });
  if (options.userHashKey === undefined) {
    logger.info('access log: no LOG_USER_HASH_KEY and no secret to derive one from, so user hashes are keyed by this process alone');
  }
  const hashOf = userHasher(options.userHashKey ?? randomUserHashKey());
  const { trustProxy } = options;
  // Bounded: route templates, the methods Node's parser accepts, status codes and errcodes.
  const outcomes = new Map<string, Outcome>();
  const userHashes = new WeakMap<Identity, string>();
  // The last outcome, checked first: under load nearly every request has the one before's,
  // and four comparisons cost less than building the map's key.
  let last: { route: string; method: string; status: number; errcode: string | undefined; outcome: Outcome } | undefined;
  const outcomeOf = (route: string, method: string, status: number, errcode: string | undefined): Outcome => {
    if (last !== undefined && last.route === route && last.method === method && last.status === status && last.errcode === errcode) {
      return last.outcome;
    }
    const key = `${route} ${method} ${status} ${errcode}`;
    let outcome = outcomes.get(key);
    if (outcome === undefined) {
      const level = QUIET_ROUTES.has(route) ? 'debug' : 'info';
      const line = accessLine(lines.child({ method, route, status, ...(errcode !== undefined && { errcode }) }), level);
      outcome = { duration: metrics.httpDuration.labels(route, method, String(status)), level, line };
      outcomes.set(key, outcome);
    }
    last = { route, method, status, errcode, outcome };
    return outcome;
  };
  const userHash = (identity: Identity): string => {
    let digest = userHashes.get(identity);
    if (digest === undefined) {
      digest = hashOf(identity.userId);
      userHashes.set(identity, digest);
    }
    return digest;
  };
  const addressOf = options.clientAddress
    ? ({ req }: Context) =>
        clientAddress({ remoteAddress: req.socket.remoteAddress, forwardedFor: req.headers['x-forwarded-for'], trustProxy })
    : () => undefined;

  return function recordRequest(ctx, elapsedMs, requestId, errcode) {
    const outcome = outcomeOf(routeOf(ctx as RoutedContext), ctx.method, ctx.status, errcode);
    outcome.duration.observe(elapsedMs / 1000);
    if (!lines.isLevelEnabled(outcome.level)) return;
    const identity = (ctx.state as RequestState).identity;
    const durationMs = Math.round(elapsedMs * 1000) / 1000;
    const address = addressOf(ctx);
    if (identity === undefined) outcome.line(durationMs, requestId, address);
    else if (lines.isLevelEnabled('debug')) outcome.line(durationMs, requestId, address, 'userId', identity.userId);
    else outcome.line(durationMs, requestId, address, 'userHash', userHash(identity));
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
