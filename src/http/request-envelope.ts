// The envelope of every request on the public port, its outermost step: CORS headers,
// every failure turned into a Matrix error (errors.ts), the access record (access-log.ts),
// and, once the service is draining, Connection: close on each answer so its client
// reconnects to another replica and the process can exit as soon as the last one is out.
// One Koa middleware rather than three: each async layer costs the hot path a promise and
// a few microseconds, and these three always run together.

import type { Middleware } from 'koa';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { createAccessLog, type RequestState } from './access-log.js';
import { applyCorsHeaders } from './cors.js';
import { refuseUnmatched, respondWithError } from './errors.js';

export function requestEnvelope(logger: Logger, metrics: Metrics, isDraining: () => boolean = () => false): Middleware<RequestState> {
  const record = createAccessLog(logger, metrics);
  return async function requestEnvelope(ctx, next) {
    const startMs = performance.now();
    applyCorsHeaders(ctx);
    try {
      await next();
      refuseUnmatched(ctx);
    } catch (caught) {
      respondWithError(ctx, caught, logger);
    } finally {
      if (isDraining()) ctx.set('Connection', 'close');
      record(ctx, performance.now() - startMs);
    }
  };
}
