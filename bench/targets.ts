// What the bench can load, one entry per --targets name: the ceilings (what the same work
// costs without the service) and the service in each limiter mode and each way of checking
// a token, hot (every user's identity cached before measuring) and cold (nothing cached:
// TOKEN_CACHE_TTL=0, one verification per request). Each says what it needs running
// beside it (a stand-in, Redis, the run's JWT key), the headers its users send, and its
// process's environment.

import type { TargetKind } from './figures.js';
import type { UserHeaders } from './load.js';
import type { TargetId } from './options.js';
import { appserviceHeaders, JWT_AUDIENCE, JWT_ISSUER, opaqueTokenHeaders, SERVER_NAME, type JwtFixture } from './tokens.js';

export type Need = 'homeserver' | 'introspection' | 'redis' | 'jwt' | 'provider';

/** What the run started for its targets; a part is there when a selected target needs it. */
export interface Stack {
  homeserverUrl?: string;
  introspectionUrl?: string;
  redisUrl?: string;
  jwt?: JwtFixture;
  /** A YAML file naming one turn_servers entry: Cloudflare, at a stand-in of its API. */
  providerConfigFile?: string;
}

export interface Target {
  id: TargetId;
  name: string;
  kind: TargetKind;
  needs: readonly Need[];
  /** Each user's request sent once before the measured loads, so they are all cache hits. */
  primed: boolean;
  /** The ceiling's file in bench/ceilings/ (built), or undefined: the service (dist/src/main.js). */
  ceilingFile?: string;
  env(stack: Stack): Record<string, string>;
  headers(stack: Stack, users: number): UserHeaders;
}

export const INTROSPECTION_CLIENT = { id: 'bench-client', secret: 'bench-client-secret' };
export const HS_TOKEN = 'bench-hs-token';
/** Identities kept for the whole run: a hot target stays hot however long the run takes. */
const HOT_TTL = '86400';
const COLD_TTL = '0';

const opaque = (_stack: Stack, users: number) => opaqueTokenHeaders(users);
const jwtTokens = (stack: Stack) => stack.jwt!.headers;

const whoami = (stack: Stack, ttl: string) => ({ AUTH_METHOD: 'whoami', HOMESERVER_URL: stack.homeserverUrl!, TOKEN_CACHE_TTL: ttl });
const jwt = (stack: Stack, ttl: string) => ({
  AUTH_METHOD: 'jwt',
  JWT_PUBLIC_KEY: stack.jwt!.publicKeyPem,
  JWT_ISSUER,
  JWT_AUDIENCE,
  JWT_ALGORITHMS: 'ES256',
  SERVER_NAME,
  TOKEN_CACHE_TTL: ttl,
});
const introspection = (stack: Stack, ttl: string) => ({
  AUTH_METHOD: 'introspection',
  INTROSPECTION_URL: stack.introspectionUrl!,
  INTROSPECTION_CLIENT_ID: INTROSPECTION_CLIENT.id,
  INTROSPECTION_CLIENT_SECRET: INTROSPECTION_CLIENT.secret,
  SERVER_NAME,
  TOKEN_CACHE_TTL: ttl,
});

export const TARGETS: readonly Target[] = [
  {
    id: 'bare',
    name: 'bare node:http',
    kind: 'ceiling',
    needs: [],
    primed: false,
    ceilingFile: 'bare.js',
    env: () => ({}),
    headers: opaque,
  },
  { id: 'koa', name: 'koa + router', kind: 'ceiling', needs: [], primed: false, ceilingFile: 'koa.js', env: () => ({}), headers: opaque },
  {
    id: 'sketch',
    name: 'sketch (koa, all in memory)',
    kind: 'ceiling',
    needs: [],
    primed: false,
    ceilingFile: 'sketch.js',
    // USERS is set by the run: the sketch knows every user's token from the start.
    env: () => ({}),
    headers: opaque,
  },
  {
    id: 'jwt-ceiling',
    name: 'ceiling: jose verify per request',
    kind: 'ceiling',
    needs: ['jwt'],
    primed: false,
    ceilingFile: 'jwt.js',
    env: (stack) => ({ JWT_PUBLIC_KEY: stack.jwt!.publicKeyPem, JWT_ISSUER, JWT_AUDIENCE }),
    headers: jwtTokens,
  },
  {
    id: 'whoami-ceiling',
    name: 'ceiling: undici to whoami',
    kind: 'ceiling',
    needs: ['homeserver'],
    primed: false,
    ceilingFile: 'upstream.js',
    env: (stack) => ({ UPSTREAM: 'whoami', UPSTREAM_URL: stack.homeserverUrl! }),
    headers: opaque,
  },
  {
    id: 'introspection-ceiling',
    name: 'ceiling: undici to introspection',
    kind: 'ceiling',
    needs: ['introspection'],
    primed: false,
    ceilingFile: 'upstream.js',
    env: (stack) => ({
      UPSTREAM: 'introspection',
      UPSTREAM_URL: stack.introspectionUrl!,
      CLIENT_ID: INTROSPECTION_CLIENT.id,
      CLIENT_SECRET: INTROSPECTION_CLIENT.secret,
    }),
    headers: opaque,
  },
  {
    id: 'redis',
    name: 'service whoami hot (Redis)',
    kind: 'service',
    needs: ['homeserver', 'redis'],
    primed: true,
    env: (stack) => ({ ...whoami(stack, HOT_TTL), REDIS_URL: stack.redisUrl! }),
    headers: opaque,
  },
  {
    id: 'in-process',
    name: 'service whoami hot (in-process)',
    kind: 'service',
    needs: ['homeserver'],
    primed: true,
    env: (stack) => whoami(stack, HOT_TTL),
    headers: opaque,
  },
  {
    id: 'whoami-cold',
    name: 'service whoami cold',
    kind: 'service',
    needs: ['homeserver'],
    primed: false,
    env: (stack) => whoami(stack, COLD_TTL),
    headers: opaque,
  },
  {
    id: 'jwt-hot',
    name: 'service jwt hot',
    kind: 'service',
    needs: ['jwt'],
    primed: true,
    env: (s) => jwt(s, HOT_TTL),
    headers: jwtTokens,
  },
  {
    id: 'jwt-cold',
    name: 'service jwt cold',
    kind: 'service',
    needs: ['jwt'],
    primed: false,
    env: (s) => jwt(s, COLD_TTL),
    headers: jwtTokens,
  },
  {
    id: 'introspection-hot',
    name: 'service introspection hot',
    kind: 'service',
    needs: ['introspection'],
    primed: true,
    env: (s) => introspection(s, HOT_TTL),
    headers: opaque,
  },
  {
    id: 'introspection-cold',
    name: 'service introspection cold',
    kind: 'service',
    needs: ['introspection'],
    primed: false,
    env: (s) => introspection(s, COLD_TTL),
    headers: opaque,
  },
  {
    // The appservice method keeps the users it accepted (its answer depends on a header
    // besides the token): primed, every user is a hit, as on the other hot paths.
    id: 'appservice',
    name: 'service appservice',
    kind: 'service',
    needs: [],
    primed: true,
    env: () => ({ AUTH_METHOD: 'appservice', APPSERVICE_HS_TOKEN: HS_TOKEN, SERVER_NAME }),
    headers: (_stack, users) => appserviceHeaders(users, HS_TOKEN),
  },
  {
    // A managed TURN provider's credential, kept per user: after priming (one provider call
    // per user) every request is a cache hit, to set against the coturn path ('in-process').
    id: 'provider-hot',
    name: 'service whoami hot, Cloudflare cached',
    kind: 'service',
    needs: ['homeserver', 'provider'],
    primed: true,
    env: (stack) => ({ ...whoami(stack, HOT_TTL), CONFIG_FILE: stack.providerConfigFile!, TURN_URIS: '', TURN_SHARED_SECRET: '' }),
    headers: opaque,
  },
];

export function targetsNamed(ids: readonly TargetId[]): Target[] {
  return ids.map((id) => TARGETS.find((t) => t.id === id)!);
}
