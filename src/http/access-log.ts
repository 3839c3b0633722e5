// One log line and one latency observation per request on the public port. The route
// label is the router's template (bounded), never the raw path. The user appears as a
// short hash at info and in full only at debug.
//
// This runs for every request, so it does the least it can: the metric child and a child
// logger carrying method, route and status are made once per (route, method, status),
// the user's hash is computed once per cached identity, and the line is written by
// accessLine below rather than by pino's generic serialiser. Its fields are fixed here
// and none can hold a token or a secret, so it needs no redaction.

import { hash } from 'node:crypto';
import type { Context } from 'koa';
import pino from 'pino';
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
  /** Writes the line, with the three fields already serialised. */
  readonly line: AccessLine;
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
      outcome = { duration: metrics.httpDuration.labels(route, method, String(status)), line: accessLine(lines.child({ method, route, status })) };
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
    if (identity === undefined) outcome.line(durationMs);
    else if (lines.isLevelEnabled('debug')) outcome.line(durationMs, 'userId', identity.userId);
    else outcome.line(durationMs, 'userHash', userHash(identity));
  };
}

/** Writes one access line at info: the duration and, when known, the user. */
export type AccessLine = (durationMs: number, userField?: 'userId' | 'userHash', user?: string) => void;

const { lsCacheSym, timeSym, chindingsSym, endSym, streamSym } = pino.symbols;

/**
 * The access line exactly as `logger.info({ durationMs, [userField]: user }, 'request')`
 * writes it, without pino's field-by-field serialisation of an object on every request:
 * pino's own level prefix, timestamp, child bindings and line end (the state pino exposes
 * through pino.symbols for integrations like this one), around the two fields. The tests
 * hold it byte-for-byte equal to pino's output, so a pino upgrade that changes the line
 * is caught.
 */
export function accessLine(logger: Logger): AccessLine {
  const state = logger as unknown as Record<symbol, unknown>;
  const levelPrefix = (state[lsCacheSym] as Record<number, string>)[logger.levels.values.info!]!;
  const time = (state[timeSym] as () => string).bind(logger);
  const bindings = state[chindingsSym] as string;
  const end = `,"msg":"request"${state[endSym] as string}`;
  const stream = state[streamSym] as { write(line: string): void };
  return (durationMs, userField, user) => {
    const fields = userField === undefined ? `,"durationMs":${durationMs}` : `,"durationMs":${durationMs},"${userField}":${JSON.stringify(user)}`;
    stream.write(levelPrefix + time() + bindings + fields + end);
  };
}
