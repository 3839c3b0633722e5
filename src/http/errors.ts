// The Koa error step (called by request-envelope.ts around every request): a MatrixError becomes its
// status, headers and body through httpAnswer (errors.ts), as at every answering place; a
// route that matched nothing becomes 404/405 M_UNRECOGNIZED; anything else is logged with
// its detail and answered as a generic 500 M_UNKNOWN, its message never shown.

import type { Context } from 'koa';
import type { Logger } from '../logger.js';
import { MatrixError, httpAnswer } from '../errors.js';

/** Throws M_UNRECOGNIZED when no route produced an answer. */
export function refuseUnmatched(ctx: Context): void {
  if (ctx.respond === false) return;
  if (ctx.body !== undefined && ctx.body !== null) return;
  if (ctx.status === 404) throw MatrixError.unrecognized(404);
  if (ctx.status === 405) throw MatrixError.unrecognized(405);
  // The router answers a method it has no route for at all (PROPFIND, ...) with 501;
  // to a client that is an unknown method on a known path, or an unknown path (where the
  // router has set an empty Allow: nothing to offer, so no header).
  if (ctx.status === 501) {
    if (ctx.response.get('Allow')) throw MatrixError.unrecognized(405);
    ctx.remove('Allow');
    throw MatrixError.unrecognized(404);
  }
}

/** Answers with whatever was thrown, as a Matrix error. */
export function respondWithError(ctx: Context, caught: unknown, logger: Logger): void {
  const error = toMatrixError(caught);
  if (error.status >= 500 && !error.reported) {
    logger.warn({ errcode: error.errcode, status: error.status, detail: error.detail ?? describe(caught) }, 'request failed');
  } else if (error.detail !== undefined) {
    logger.debug(
      { errcode: error.errcode, status: error.status, detail: error.detail },
      error.status >= 500 ? 'request failed' : 'request refused',
    );
  }
  const answer = httpAnswer(error);
  ctx.status = answer.status;
  // The type first: Koa keeps a Content-Type already set instead of guessing text/plain.
  ctx.set(answer.headers);
  ctx.body = answer.body;
}

function toMatrixError(caught: unknown): MatrixError {
  if (caught instanceof MatrixError) return caught;
  const status = (caught as { status?: unknown })?.status;
  // Koa's own client errors (e.g. a malformed URL): the status is right, the text is not ours.
  if (typeof status === 'number' && status >= 400 && status < 500) {
    if (status === 404 || status === 405) return MatrixError.unrecognized(status);
    return MatrixError.badRequest();
  }
  return MatrixError.internal(describe(caught), caught);
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : 'non-error thrown';
}
