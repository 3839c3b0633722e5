// The envelope of every request on the public port, its outermost step: the request id
// (request-id.ts, kept in ctx.state for a route that writes its answer at once), every
// failure turned into a Matrix error (errors.ts), the headers every answer carries
// (common-headers.ts: CORS, X-Request-ID and, once the service is draining, Connection:
// close) on whatever answer Koa is left to write, errors included, and the access record
// (access-log.ts) with that error's errcode and the request id. The common headers are set
// after the route, not before: a header set before would make Node merge headers the slow
// way into an answer written at once (fast-paths/answer-at-once.ts).
// One Koa middleware rather than several: each async layer costs the hot path a promise
// and a few microseconds, and these always run together.

import type { Context, Middleware } from 'koa';
import { MatrixError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { createAccessLog, type AccessLogOptions, type RequestState } from './access-log.js';
import { setCommonHeaders } from './common-headers.js';
import { refuseUnmatched, respondWithError } from './errors.js';
import { requestIds, type RequestIdOf } from './request-id.js';

/** Without TRUST_PROXY, with the address, and a user hash key of this process: what a test gets unless it says. */
const STANDALONE: AccessLogOptions = { trustProxy: false, clientAddress: true, userHashKey: undefined };

export function requestEnvelope(
  logger: Logger,
  metrics: Metrics,
  isDraining: () => boolean = () => false,
  accessLog: AccessLogOptions = STANDALONE,
  requestIdOf: RequestIdOf = requestIds({ trustProxy: accessLog.trustProxy }),
): Middleware<RequestState> {
  const record = createAccessLog(logger, metrics, accessLog);
  return async function requestEnvelope(ctx, next) {
    const startMs = performance.now();
    const requestId = requestIdOf(ctx.req.headers['x-request-id']);
    ctx.state.requestId = requestId;
    let errcode: string | undefined;
    try {
      await next();
      refuseUnmatched(ctx);
    } catch (caught) {
      respondWithError(ctx, caught, errorLogger(logger, caught, requestId));
      errcode = caught instanceof MatrixError ? caught.errcode : answeredErrcode(ctx);
    } finally {
      if (!ctx.res.headersSent) setCommonHeaders(ctx.res, requestId, isDraining());
      record(ctx, performance.now() - startMs, requestId, errcode);
    }
  };
}

/**
 * The logger of the error step: with the request id when it may write a line (a failure
 * of ours at warn, any detail at debug), so that line and the access line can be matched;
 * the plain one for a refusal at info, which writes none and need not pay for a child.
 */
function errorLogger(logger: Logger, caught: unknown, requestId: string): Logger {
  const quiet = caught instanceof MatrixError && caught.status < 500 && !logger.isLevelEnabled('debug');
  return quiet ? logger : logger.child({ requestId });
}

/**
 * The errcode of the answer the error step made of something other than a MatrixError
 * (Koa's own errors, a crash), read from the body it wrote rather than guessed again here.
 * Rare, so the parse costs nothing that matters.
 */
function answeredErrcode(ctx: Context): string | undefined {
  try {
    const errcode: unknown = (JSON.parse(String(ctx.body)) as { errcode?: unknown }).errcode;
    return typeof errcode === 'string' ? errcode : undefined;
  } catch {
    return undefined;
  }
}
