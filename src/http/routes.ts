// The routes. turnServer runs named steps in turn, so a log or a stack trace says which
// one failed: extract the token → its identity (from the token cache at once, or verified
// under the token-guessing guard) → guest policy → rate limit → mint. Each step delegates
// to a domain module; none of them knows about HTTP beyond ctx.

import Router, { type Layer } from '@koa/router';
import type { Middleware, ParameterizedContext } from 'koa';
import type { Identity, RequestFacts, TokenCache } from '../auth/types.js';
import type { Health } from '../health.js';
import type { Metrics } from '../metrics.js';
import type { RateDecision, RateLimiter } from '../ratelimit/types.js';
import type { MaybeAsyncMinter, TurnCredentials } from '../turn/credentials.js';
import { tokenHash } from '../auth/token-hash.js';
import { answerAtOnce } from '../fast-paths/answer-at-once.js';
import type { RequestState } from './access-log.js';
import { PROBE_PATHS } from './probe-paths.js';
import { commonHeaderList } from './common-headers.js';
import { preflight } from './cors.js';
import { MatrixError } from '../errors.js';
import { extractAccessToken } from './token.js';
import { unknownTokenGuard, type UnknownTokenGuardOptions } from './unknown-token-guard.js';

export const TURN_SERVER_PATHS = [
  '/_matrix/client/v3/voip/turnServer',
  '/_matrix/client/r0/voip/turnServer',
  '/_matrix/client/api/v1/voip/turnServer',
] as const;

const NO_FACTS: RequestFacts = Object.freeze({});

const CREDENTIALS_HEADERS = ['Content-Type', 'application/json; charset=utf-8', 'Cache-Control', 'no-store'];

export interface RouteDeps {
  /** Identities of tokens: the cache in front of the verifier. */
  tokens: TokenCache;
  limiter: RateLimiter;
  minter: MaybeAsyncMinter;
  metrics: Metrics;
  health: Health;
  allowGuests: boolean;
  exemptUsers: ReadonlySet<string>;
  /** The per-address budget of unknown tokens (token guessing). */
  unknownTokens: Pick<UnknownTokenGuardOptions, 'budget' | 'maxPendingPerAddress' | 'trustProxy'>;
}

type TurnContext = ParameterizedContext<RequestState>;

export interface Routes {
  readonly router: Router<RequestState>;
  /** The turnServer GET, also the router's: app.ts puts it in front (fast-paths/exact-get-route.ts). */
  readonly turnServer: Middleware<RequestState>;
}

export function createRoutes(deps: RouteDeps): Routes {
  const router = new Router<RequestState>();
  const turnServer = turnServerRoute(deps);
  for (const path of TURN_SERVER_PATHS) {
    getOnly(router.register(path, ['GET'], turnServer) as Layer<RequestState>);
    router.options(path, preflight);
  }
  router.get(PROBE_PATHS.liveness, function liveness(ctx) {
    ctx.body = { status: 'alive' };
  });
  router.get(PROBE_PATHS.readiness, function readiness(ctx) {
    const report = deps.health.report();
    ctx.status = report.ready ? 200 : 503;
    ctx.body = report;
  });
  return { router, turnServer };
}

/**
 * @koa/router (15.7, checked) answers HEAD with every GET route: a HEAD would verify the
 * token, spend the user's limit, mint and count a credential, then drop the body. The
 * Matrix API defines GET only, so the route takes HEAD out of its methods again (the
 * router reads them on every match) and a HEAD is refused as a PUT is: 405 with
 * `Allow: GET, OPTIONS`, from router.allowedMethods(). The HEAD tests of
 * test/integration/head-and-logs.test.ts break if an upgrade brings HEAD back another way.
 */
function getOnly(layer: Layer<RequestState>): void {
  layer.methods = layer.methods.filter((method) => method !== 'HEAD');
}

function turnServerRoute(deps: RouteDeps): Middleware<RequestState> {
  const { tokens, limiter, minter, metrics, health, allowGuests, exemptUsers } = deps;
  const issued = metrics.credentialsIssued.tally();
  const limitedUser = metrics.rateLimited.tally('user');

  const guardUnknownTokens = unknownTokenGuard({ ...deps.unknownTokens, metrics });

  function extractToken(ctx: TurnContext): { token: string; tokenHash: string } {
    // Clients send the header; the query string is parsed only when there is one.
    const queryToken = ctx.querystring === '' ? undefined : ctx.query.access_token;
    const token = extractAccessToken(authorizationHeaders(ctx.req.rawHeaders), queryToken);
    return { token, tokenHash: tokenHash(token) };
  }

  function factsOf(ctx: TurnContext): RequestFacts {
    const userIdHeader = ctx.req.headers['x-matrix-user-identifier'];
    return typeof userIdHeader === 'string' && userIdHeader !== '' ? { userIdHeader } : NO_FACTS;
  }

  function verifyToken(ctx: TurnContext, token: string, hash: string, facts: RequestFacts): Promise<Identity> {
    return guardUnknownTokens(ctx.req, () => tokens.verify(token, hash, facts));
  }

  function applyGuestPolicy(identity: Identity): void {
    if (identity.isGuest && !allowGuests) throw MatrixError.guestForbidden();
  }

  function enforceLimit(decision: RateDecision): void {
    if (!decision.allowed) {
      limitedUser.inc();
      throw MatrixError.limitExceeded(decision.retryAfterMs);
    }
  }

  /** A promise only when the credential comes from a provider that must be asked: the common answer needs no await. */
  function issueCredentials(ctx: TurnContext, userId: string): Promise<void> | undefined {
    const minted = minter.mint(userId);
    if (minted instanceof Promise) return minted.then((credentials) => answer(ctx, credentials));
    answer(ctx, minted);
    return undefined;
  }

  function answer(ctx: TurnContext, credentials: TurnCredentials): void {
    answerAtOnce(ctx, 200, commonHeaderList(ctx.state.requestId!, health.draining, CREDENTIALS_HEADERS), JSON.stringify(credentials));
    issued.inc();
  }

  // One Koa step whose parts are plain named functions: a stack trace still names the
  // part that failed, and the hot path pays for one async layer instead of one per part.
  const turnServer: Middleware<RequestState> = async function turnServer(ctx) {
    const { token, tokenHash: hash } = extractToken(ctx);
    // A token the cache vouches for needs no guard and no promise: the common request,
    // and a known user behind the address of a token guesser is still served.
    const facts = factsOf(ctx);
    const identity = tokens.peek(hash, facts) ?? (await verifyToken(ctx, token, hash, facts));
    ctx.state.identity = identity;
    applyGuestPolicy(identity);
    if (!exemptUsers.has(identity.userId)) enforceLimit(await limiter.consume(identity.userId));
    const later = issueCredentials(ctx, identity.userId);
    if (later !== undefined) await later;
  };

  return turnServer;
}

/**
 * Every Authorization header line as received: Node keeps only the first in
 * req.headers, and two of them must be refused, not silently reduced to one.
 */
export function authorizationHeaders(rawHeaders: readonly string[]): string[] | undefined {
  let found: string[] | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 13 && name.toLowerCase() === 'authorization') (found ??= []).push(rawHeaders[i + 1]!);
  }
  return found;
}
