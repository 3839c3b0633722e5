// What an OAuth access token (introspected or a JWT) must say to be a Matrix client
// token, read the way Synapse reads tokens issued by Matrix Authentication Service: the
// Matrix client API scope (MSC2967, stable or unstable name), guest or full, and how much
// clock skew we forgive on absolute times.

/** Forgiven skew between our clock and the issuer's when checking `exp`/`nbf`, in seconds. */
export const CLOCK_TOLERANCE_SECONDS = 30;

const FULL_ACCESS = new Set(['urn:matrix:client:api:*', 'urn:matrix:org.matrix.msc2967.client:api:*']);
// Synapse's first MSC3861 code made a token with only a guest scope a guest; current
// Synapse no longer knows the guest scope and refuses such a token. Reading it as a guest
// leaves the decision to TURN_ALLOW_GUESTS (403 M_GUEST_ACCESS_FORBIDDEN when refused).
const GUEST_ACCESS = new Set(['urn:matrix:client:api:guest', 'urn:matrix:org.matrix.msc2967.client:api:guest']);

export type MatrixAccess = 'user' | 'guest';

/**
 * The Matrix access a space-separated OAuth `scope` grants: 'user' with the full client
 * API scope (even beside a guest scope), 'guest' with only a guest scope, undefined when
 * it grants none (Synapse answers such a token with M_UNKNOWN_TOKEN).
 */
export function matrixAccess(scope: unknown): MatrixAccess | undefined {
  if (typeof scope !== 'string') return undefined;
  const granted = scope.split(' ');
  if (granted.some((item) => FULL_ACCESS.has(item))) return 'user';
  if (granted.some((item) => GUEST_ACCESS.has(item))) return 'guest';
  return undefined;
}
