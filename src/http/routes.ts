// The routes. turnServer is a chain of named steps, so a log or a stack trace says which
// one failed: extract the token → refuse addresses that guess tokens → verify it → guest
// policy → rate limit → mint. Each step delegates to a domain module; none of them knows
// about HTTP beyond ctx.

import Router from '@koa/router';
import type { Middleware } from 'koa';
import type { TokenVerifier } from '../auth/types.js';
import type { Health } from '../health.js';
import type { Metrics } from '../metrics.js';
import type { RateLimiter } from '../ratelimit/types.js';
import type { CredentialMinter } from '../turn/credentials.js';
import type { Identity } from '../auth/types.js';
import type { RequestState } from './access-log.js';
import { preflight } from './cors.js';
import { MatrixError } from './matrix-error.js';
import { extractAccessToken } from './token.js';
import { unknownTokenGuard, type UnknownTokenGuardOptions } from './unknown-token-guard.js';

export const TURN_SERVER_PATHS = [
  '/_matrix/client/v3/voip/turnServer',
  '/_matrix/client/r0/voip/turnServer',
  '/_matrix/client/api/v1/voip/turnServer',
] as const;

export interface RouteDeps {
  verifier: TokenVerifier;
  limiter: RateLimiter;
  minter: CredentialMinter;
  metrics: Metrics;
  health: Health;
  allowGuests: boolean;
  exemptUsers: ReadonlySet<string>;
  /** The per-address budget of unknown tokens (token guessing). */
  unknownTokens: Pick<UnknownTokenGuardOptions, 'budget' | 'maxPendingPerAddress' | 'trustProxy'>;
}

interface TurnState extends RequestState {
  token?: string;
  identity?: Identity;
}

export function createRouter(deps: RouteDeps): Router<TurnState> {
  const router = new Router<TurnState>();
  const chain = turnServerChain(deps);
  for (const path of TURN_SERVER_PATHS) {
    router.get(path, ...chain);
    router.options(path, preflight);
  }
  router.get('/healthz', function liveness(ctx) {
    ctx.body = { status: 'alive' };
  });
  router.get('/readyz', function readiness(ctx) {
    const report = deps.health.report();
    ctx.status = report.ready ? 200 : 503;
    ctx.body = report;
  });
  return router;
}

function turnServerChain(deps: RouteDeps): Middleware<TurnState>[] {
  const { verifier, limiter, minter, metrics, allowGuests, exemptUsers } = deps;
  const issued = metrics.credentialsIssued;
  const limitedUser = metrics.rateLimited.labels('user');

  const extractToken: Middleware<TurnState> = async function extractToken(ctx, next) {
    ctx.state.token = extractAccessToken(ctx.req.headersDistinct.authorization, ctx.query.access_token);
    await next();
  };

  const guardUnknownTokens = unknownTokenGuard({
    ...deps.unknownTokens,
    isKnownValid: (token) => verifier.isKnownValid?.(token) ?? false,
    metrics,
  });

  const verifyToken: Middleware<TurnState> = async function verifyToken(ctx, next) {
    const userIdHeader = ctx.get('x-matrix-user-identifier');
    const identity = await verifier.verify(ctx.state.token!, userIdHeader === '' ? {} : { userIdHeader });
    ctx.state.token = undefined;
    ctx.state.identity = identity;
    ctx.state.userId = identity.userId;
    await next();
  };

  const applyGuestPolicy: Middleware<TurnState> = async function applyGuestPolicy(ctx, next) {
    if (ctx.state.identity!.isGuest && !allowGuests) throw MatrixError.guestForbidden();
    await next();
  };

  const rateLimit: Middleware<TurnState> = async function rateLimit(ctx, next) {
    const userId = ctx.state.identity!.userId;
    if (!exemptUsers.has(userId)) {
      const decision = await limiter.consume(userId);
      if (!decision.allowed) {
        limitedUser.inc();
        throw MatrixError.limitExceeded(decision.retryAfterMs);
      }
    }
    await next();
  };

  const issueCredentials: Middleware<TurnState> = function issueCredentials(ctx) {
    ctx.body = minter.mint(ctx.state.identity!.userId);
    ctx.set('Cache-Control', 'no-store');
    issued.inc();
  };

  return [extractToken, guardUnknownTokens, verifyToken, applyGuestPolicy, rateLimit, issueCredentials];
}
