// The token verification section: whether the verifier the configuration names can reach
// what it asks, through the real verifier (auth/index.ts) with its upstream, timeouts and
// client authentication. A random token proves it: the homeserver (whoami) or the OAuth
// server (introspection) refusing it as unknown means it was reached and answered, and
// for introspection that our client credentials were accepted. A JWKS is fetched and its
// keys counted; a static key or the appservice method has nothing to reach. Given a token
// (--token), that token is verified end to end and its user id printed, never the token.

import { randomBytes } from 'node:crypto';
import { authOptions } from '../../app.js';
import { createTokenCache } from '../../auth/index.js';
import { tokenHash } from '../../auth/token-hash.js';
import type { Identity, RequestFacts } from '../../auth/types.js';
import { createUpstream } from '../../auth/upstream.js';
import type { Clock, Timers } from '../../clock.js';
import type { Config } from '../../config/index.js';
import { MatrixError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { Metrics } from '../../metrics.js';
import { INTROSPECTION_CLIENT_REFUSED, upstreamDownCause } from '../causes.js';
import { check, type Check, type Section } from '../findings.js';

export interface TokenCheckDeps {
  readonly clock: Clock;
  readonly timers: Timers;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

export const TOKEN_SECTION_TITLE = 'Token verification';

/** A JWKS is larger than any verification answer (as auth/index.ts allows it). */
const JWKS_MAX_BODY_BYTES = 1_048_576;

/** Where the method's upstream is, as the operator configured it; none for a static key or the appservice method. */
interface UpstreamSetting {
  readonly what: string;
  readonly url: string;
  readonly setting: string;
}

export async function tokenSection(config: Config, token: string | undefined, deps: TokenCheckDeps): Promise<Section> {
  const tokens = createTokenCache(authOptions(config), deps);
  try {
    const verify = (value: string, facts: RequestFacts = {}) => tokens.verify(value, tokenHash(value), facts);
    const checks: Check[] = [await reachability(config, verify, deps)];
    if (token !== undefined) checks.push(await givenToken(config, token, verify));
    return { title: TOKEN_SECTION_TITLE, checks };
  } finally {
    await tokens.close();
  }
}

type Verify = (token: string, facts?: RequestFacts) => Promise<Identity>;

async function reachability(config: Config, verify: Verify, deps: TokenCheckDeps): Promise<Check> {
  const { auth } = config;
  const upstream = upstreamOf(config);
  switch (auth.method) {
    case 'whoami':
      return randomTokenRefused('the homeserver answers whoami', upstream!, verify);
    case 'introspection':
      return randomTokenRefused('the OAuth server answers introspection and accepts our client credentials', upstream!, verify);
    case 'jwt':
      return upstream === undefined
        ? check('ok', 'JWT signatures are checked with JWT_PUBLIC_KEY', 'a static key: nothing to reach')
        : jwksServesKeys(upstream, config, deps);
    case 'appservice':
      return check(
        'ok',
        'the homeserver vouches for each user (appservice)',
        'it presents APPSERVICE_HS_TOKEN and names the user in X-Matrix-User-Identifier: nothing to reach',
      );
  }
}

/** A random token must come back as unknown: the upstream was reached and gave its verdict. */
async function randomTokenRefused(what: string, upstream: UpstreamSetting, verify: Verify): Promise<Check> {
  try {
    const identity = await verify(randomToken());
    return check(
      'fail',
      what,
      `a random token was accepted as ${identity.userId}`,
      `${upstream.setting} (${upstream.url}) may name something that accepts every token, not ${upstream.what}`,
    );
  } catch (error) {
    if (error instanceof MatrixError && error.errcode === 'M_UNKNOWN_TOKEN') {
      return check('ok', what, `${upstream.url}: a random token is refused as unknown (${error.detail ?? error.errcode})`);
    }
    return verificationFailed(what, upstream, error);
  }
}

function verificationFailed(what: string, upstream: UpstreamSetting | undefined, error: unknown): Check {
  if (!(error instanceof MatrixError)) return check('fail', what, error instanceof Error ? error.message : String(error));
  const detail = error.detail ?? `${error.status} ${error.errcode}`;
  if (error.status >= 500 && upstream !== undefined) {
    // Introspection's refusal of our client credentials is a 502 like an outage, told apart by its words (introspection.ts).
    if (upstream.setting === 'INTROSPECTION_URL' && /refused our client credentials/.test(detail)) {
      return check('fail', what, detail, INTROSPECTION_CLIENT_REFUSED);
    }
    return check('fail', what, detail, upstreamDownCause(upstream.what, upstream.url, upstream.setting, detail));
  }
  return check('fail', what, `${error.status} ${error.errcode}: ${detail}`);
}

async function jwksServesKeys(upstream: UpstreamSetting, config: Config, deps: TokenCheckDeps): Promise<Check> {
  const what = 'the JWKS endpoint serves keys';
  const { url } = upstream;
  const jwks = createUpstream({
    name: 'jwks',
    timeoutMs: config.auth.upstreamTimeoutMs,
    maxBodyBytes: JWKS_MAX_BODY_BYTES,
    metrics: deps.metrics,
    logger: deps.logger,
    clock: deps.clock,
    timers: deps.timers,
  });
  try {
    const res = await jwks.call({ method: 'GET', url });
    const keys = (res.json as { keys?: unknown } | undefined)?.keys;
    if (res.status !== 200)
      return check('fail', what, `HTTP ${res.status}`, `${url} (JWT_JWKS_URL) answered HTTP ${res.status}, not a key set`);
    if (!Array.isArray(keys)) return check('fail', what, 'a 200 without a "keys" list', `${url} (JWT_JWKS_URL) is not a JWKS`);
    if (keys.length === 0) return check('fail', what, `${url}: no keys`, 'the key set is empty: no token can be verified');
    return check('ok', what, `${url}: ${keys.length} ${keys.length === 1 ? 'key' : 'keys'}`);
  } catch (error) {
    return verificationFailed(what, upstream, error);
  } finally {
    await jwks.close();
  }
}

/** The token given with --token, verified as a request's would be; its user id printed, never the token. */
async function givenToken(config: Config, token: string, verify: Verify): Promise<Check> {
  const what = 'the token given with --token is verified';
  const { auth } = config;
  const upstream = upstreamOf(config);
  try {
    if (auth.method === 'appservice') {
      // The hs_token names no user: the homeserver does, in a header; any user of ours shows the token is accepted.
      await verify(token, { userIdHeader: `@turn-doctor:${auth.serverName!}` });
      return check('ok', what, 'it is APPSERVICE_HS_TOKEN: the user of each request comes from X-Matrix-User-Identifier');
    }
    const identity = await verify(token);
    const guest = identity.isGuest ? ' (a guest)' : '';
    if (identity.isGuest && !config.turn.allowGuests) {
      return check('warn', what, `user ${identity.userId}${guest}`, 'guests are refused (TURN_ALLOW_GUESTS=false): this user gets 403');
    }
    return check('ok', what, `user ${identity.userId}${guest}`);
  } catch (error) {
    if (error instanceof MatrixError && error.status === 401) {
      return check(
        'fail',
        what,
        error.detail ?? error.errcode,
        'the token is not valid: unknown, expired, revoked, or not for this service',
      );
    }
    return verificationFailed(what, upstream, error);
  }
}

function upstreamOf(config: Config): UpstreamSetting | undefined {
  const { auth } = config;
  if (auth.method === 'whoami') return { what: 'the homeserver', url: auth.homeserverUrl!, setting: 'HOMESERVER_URL' };
  if (auth.method === 'introspection') return { what: 'the OAuth server', url: auth.introspection!.url, setting: 'INTROSPECTION_URL' };
  if (auth.method === 'jwt' && auth.jwt!.jwksUrl !== undefined)
    return { what: 'the JWKS endpoint', url: auth.jwt!.jwksUrl, setting: 'JWT_JWKS_URL' };
  return undefined;
}

/** As long as a real access token, and like none: nobody holds it. */
function randomToken(): string {
  return `mtc_doctor_${randomBytes(24).toString('base64url')}`;
}
