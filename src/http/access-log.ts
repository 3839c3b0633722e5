// One log line and one latency observation per request on the public port. The route
// label is the router's template (bounded), never the raw path. The user appears as a
// short hash at info and in full only at debug.

import { createHash } from 'node:crypto';
import type { Middleware } from 'koa';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';

export interface RequestState {
  userId?: string;
}

export function accessLog(logger: Logger, metrics: Metrics): Middleware<RequestState> {
  const debug = () => logger.isLevelEnabled('debug');
  return async function logRequest(ctx, next) {
    const startNs = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const seconds = Number(process.hrtime.bigint() - startNs) / 1e9;
      const route = (ctx as unknown as { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
      const status = ctx.status;
      metrics.httpDuration.labels(route, ctx.method, String(status)).observe(seconds);
      const userId = ctx.state.userId;
      const line: Record<string, unknown> = {
        method: ctx.method,
        route,
        status,
        durationMs: Math.round(seconds * 1e6) / 1e3,
      };
      if (userId !== undefined) {
        if (debug()) line.userId = userId;
        else line.userHash = createHash('sha256').update(userId).digest('hex').slice(0, 16);
      }
      logger.info(line, 'request');
    }
  };
}
