// The checks across settings, once each setting passed (or failed) its own: what each
// AUTH_METHOD requires, one TURN credential mode, what managed secrets need, one Redis
// mode, the metrics listener apart from the public one. The rules of the secrets that a re-read of their file is held
// to as well (secret-file.ts) live beside: sharedSecretsProblem in shared-secrets.ts,
// publicKeyProblem in the shared jwt-public-key.ts.

import type { z } from 'zod';
import { publicKeyProblem } from '../jwt-public-key.js';
import { sharedSecretsProblem } from './shared-secrets.js';
import type { SecretRef, Secrets } from './sources.js';
import { stunOnly } from './turn-servers.js';
import { AUTH_METHODS, JWT_ALGORITHM_NAMES, type SecretName, type Settings } from './variables.js';

/**
 * The checks across settings, as a zod refinement. `secrets`: the secrets read; `givenAsFile`:
 * the secrets given as X_FILE, whether or not the file could be read; `sections`: the
 * structured sections the YAML file gave, whether or not they passed their own checks;
 * `fileRotatesSecrets`: whether an entry of turn_servers has secret_rotation_interval. Run with `when: () =>
 * true` (zod skips refinements after an enum failure), so one message names every problem;
 * a setting that failed its own check holds its raw input here.
 */
export function crossFieldRules(
  secrets: Secrets,
  givenAsFile: ReadonlySet<SecretName>,
  sections: ReadonlySet<string>,
  fileRotatesSecrets = false,
) {
  return (c: Settings, ctx: z.RefinementCtx): void => {
    const problem = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    // A secret whose file could not be read was given all the same: its X_FILE problem is
    // the one to report, not a second one saying it is missing.
    const given = (name: SecretName) => c[name] !== undefined || givenAsFile.has(name);
    switch (c.AUTH_METHOD) {
      case 'whoami':
        if (!c.HOMESERVER_URL) problem('HOMESERVER_URL', 'required when AUTH_METHOD is whoami');
        break;
      case 'introspection':
        if (!c.INTROSPECTION_URL) problem('INTROSPECTION_URL', 'required when AUTH_METHOD is introspection');
        if (!given('INTROSPECTION_CLIENT_SECRET'))
          problem('INTROSPECTION_CLIENT_SECRET', 'required when AUTH_METHOD is introspection (or INTROSPECTION_CLIENT_SECRET_FILE)');
        if (c.INTROSPECTION_CLIENT_AUTH !== 'bearer' && !c.INTROSPECTION_CLIENT_ID)
          problem('INTROSPECTION_CLIENT_ID', `required with INTROSPECTION_CLIENT_AUTH=${c.INTROSPECTION_CLIENT_AUTH}`);
        break;
      case 'jwt':
        if (!c.JWT_JWKS_URL && !given('JWT_PUBLIC_KEY'))
          problem('JWT_JWKS_URL', 'JWT_JWKS_URL or JWT_PUBLIC_KEY is required when AUTH_METHOD is jwt');
        if (c.JWT_JWKS_URL && given('JWT_PUBLIC_KEY')) problem('JWT_PUBLIC_KEY', 'set either JWT_JWKS_URL or JWT_PUBLIC_KEY, not both');
        if (secrets.JWT_PUBLIC_KEY) checkJwtPublicKey(secrets.JWT_PUBLIC_KEY, c.JWT_ALGORITHMS, problem);
        if (!c.JWT_ISSUER) problem('JWT_ISSUER', 'required when AUTH_METHOD is jwt: tokens of any issuer would be accepted');
        if (!c.JWT_AUDIENCE) problem('JWT_AUDIENCE', 'required when AUTH_METHOD is jwt: tokens meant for other services would be accepted');
        break;
      case 'appservice':
        if (!given('APPSERVICE_HS_TOKEN'))
          problem('APPSERVICE_HS_TOKEN', 'required when AUTH_METHOD is appservice (or APPSERVICE_HS_TOKEN_FILE)');
        break;
    }
    if ((AUTH_METHODS as readonly string[]).includes(c.AUTH_METHOD) && c.AUTH_METHOD !== 'whoami' && !c.SERVER_NAME)
      problem('SERVER_NAME', `required when AUTH_METHOD is ${c.AUTH_METHOD}`);
    checkTurn(c, given, sections.has('turn_servers'), problem);
    checkManagedSecrets(c, given, sections.has('turn_servers'), fileRotatesSecrets, problem);
    const redisModes = [given('REDIS_URL'), c.REDIS_SENTINELS !== undefined, c.REDIS_CLUSTER_NODES !== undefined].filter(Boolean).length;
    if (redisModes > 1) problem('REDIS_URL', 'set only one of REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES');
    if (c.REDIS_SENTINELS && !c.REDIS_SENTINEL_NAME) problem('REDIS_SENTINEL_NAME', 'required with REDIS_SENTINELS');
    if (typeof c.PORT === 'number' && c.PORT === c.METRICS_PORT && c.PORT !== 0)
      problem('METRICS_PORT', 'must differ from PORT: /metrics is never served on the public port');
  };
}

/**
 * One TURN server from the flat settings (TURN_URIS and one credential mode), or the
 * turn_servers list of the YAML file, never both: a list beside them would leave which one
 * answers to guesswork. A server of stun: URIs only needs no credential.
 */
function checkTurn(
  c: Settings,
  given: (name: SecretName) => boolean,
  turnServersGiven: boolean,
  problem: (path: string, message: string) => void,
): void {
  const urisGiven = Array.isArray(c.TURN_URIS) ? c.TURN_URIS.length > 0 : c.TURN_URIS !== undefined;
  const hasSecret = given('TURN_SHARED_SECRET');
  const hasStatic = c.TURN_USERNAME !== undefined || given('TURN_PASSWORD');
  const rotates = flatRotation(c);
  if (turnServersGiven) {
    const flat = urisGiven ? 'TURN_URIS' : hasSecret ? 'TURN_SHARED_SECRET' : hasStatic ? 'TURN_USERNAME' : undefined;
    if (flat !== undefined) problem(flat, 'set either turn_servers (in CONFIG_FILE) or TURN_URIS with its credential, not both');
    return;
  }
  if (!urisGiven) problem('TURN_URIS', 'required: comma-separated turn:/turns: URIs (or turn_servers in CONFIG_FILE)');
  if (hasSecret && hasStatic) problem('TURN_SHARED_SECRET', 'set either TURN_SHARED_SECRET or TURN_USERNAME/TURN_PASSWORD, not both');
  else if (!hasSecret && !hasStatic && !rotates && !stunOnly(c.TURN_URIS))
    problem('TURN_SHARED_SECRET', 'required (or TURN_SHARED_SECRET_FILE, or TURN_USERNAME and TURN_PASSWORD)');
  else if (hasStatic && (c.TURN_USERNAME === undefined || !given('TURN_PASSWORD')))
    problem(c.TURN_USERNAME === undefined ? 'TURN_USERNAME' : 'TURN_PASSWORD', 'TURN_USERNAME and TURN_PASSWORD go together');
  const sharedSecrets = c.TURN_SHARED_SECRET === undefined ? undefined : sharedSecretsProblem(c.TURN_SHARED_SECRET);
  if (sharedSecrets !== undefined) problem('TURN_SHARED_SECRET', sharedSecrets);
}

/** Whether TURN_SECRET_ROTATION_INTERVAL turns managed secrets on (raw input that failed its check does not). */
function flatRotation(c: Settings): boolean {
  return typeof c.TURN_SECRET_ROTATION_INTERVAL === 'number' && c.TURN_SECRET_ROTATION_INTERVAL > 0;
}

/**
 * Managed secrets (TURN_SECRET_ROTATION_INTERVAL, or secret_rotation_interval on an entry
 * of turn_servers) live in coturn's Redis under its realm, so both must be named; they
 * sign each user's own credential, so not with a static pair or for stun: URIs only.
 */
function checkManagedSecrets(
  c: Settings,
  given: (name: SecretName) => boolean,
  turnServersGiven: boolean,
  fileRotatesSecrets: boolean,
  problem: (path: string, message: string) => void,
): void {
  const flat = flatRotation(c);
  const interval = 'TURN_SECRET_ROTATION_INTERVAL';
  if (flat && turnServersGiven) problem(interval, 'with turn_servers (in CONFIG_FILE), set secret_rotation_interval on the entry instead');
  else if (flat && (c.TURN_USERNAME !== undefined || given('TURN_PASSWORD')))
    problem(interval, "managed secrets sign each user's own credential: they do not go with TURN_USERNAME/TURN_PASSWORD");
  else if (flat && stunOnly(c.TURN_URIS)) problem(interval, 'TURN_URIS of stun: URIs only have no credential to sign');
  if (!(flat && !turnServersGiven) && !fileRotatesSecrets) return;
  const why = flat && !turnServersGiven ? `with ${interval}` : 'with secret_rotation_interval';
  if (!given('COTURN_REDIS_URL'))
    problem('COTURN_REDIS_URL', `required ${why}: the URL of the Redis that coturn's redis-userdb names (or COTURN_REDIS_URL_FILE)`);
  if (c.COTURN_REALM === undefined)
    problem('COTURN_REALM', `required ${why}: coturn's realm, whose set turn/realm/<realm>/secret it reads`);
}

/**
 * A static JWT_PUBLIC_KEY must pass publicKeyProblem (jwt-public-key.ts: the rule a re-read
 * of its file is held to as well): a key the verifier reads, able to verify at least one of
 * JWT_ALGORITHMS. The messages describe the key's type, never its material.
 */
function checkJwtPublicKey(ref: SecretRef, algorithms: unknown, problem: (path: string, message: string) => void): void {
  const [name, source] = ref.path === undefined ? ['JWT_PUBLIC_KEY', 'the value'] : ['JWT_PUBLIC_KEY_FILE', ref.path];
  // A JWT_ALGORITHMS that failed its own check holds raw input and has been reported already.
  const valid =
    Array.isArray(algorithms) &&
    algorithms.length > 0 &&
    algorithms.every((alg) => (JWT_ALGORITHM_NAMES as readonly unknown[]).includes(alg));
  const broken = publicKeyProblem(ref.value, valid ? (algorithms as string[]) : undefined);
  if (broken?.setting === 'JWT_ALGORITHMS') problem('JWT_ALGORITHMS', broken.message);
  else if (broken !== undefined) problem(name, `${source} ${broken.message}`);
}
