// The words for each failure the doctor can meet: what most likely causes it and which
// setting (ours or coturn's) to look at. Kept apart from the checks so that every sentence
// an operator may read is in one place. None of them holds a value of a secret, only
// the names of the settings that hold one.

import type { ProbeFailureReason } from '../turn/probe/probe-uri.js';
import type { TurnUri } from '../turn/probe/turn-uri.js';

/** The settings a TURN server's credential comes from, as an operator would look them up. */
export type CredentialSettings =
  | { readonly kind: 'shared-secret'; readonly secret: string }
  | { readonly kind: 'static'; readonly username: string; readonly password: string }
  | { readonly kind: 'none' };

/**
 * The flat server's credential is TURN_SHARED_SECRET or TURN_USERNAME/TURN_PASSWORD; an
 * entry of turn_servers has its own, named by the entry.
 */
export function credentialSettings(kind: 'shared-secret' | 'static' | undefined, serverName: string, flat: boolean): CredentialSettings {
  const entry = (key: string) => `turn_servers[${serverName}].${key}`;
  if (kind === 'shared-secret') return { kind, secret: flat ? 'TURN_SHARED_SECRET' : entry('shared_secret') };
  if (kind === 'static') {
    return flat
      ? { kind, username: 'TURN_USERNAME', password: 'TURN_PASSWORD' }
      : { kind, username: entry('username'), password: entry('password') };
  }
  return { kind: 'none' };
}

export interface TurnFailure {
  readonly reason: ProbeFailureReason;
  /** The probe's step that failed: a Refresh failing is told apart from an Allocate failing. */
  readonly step: string;
  readonly stunError?: { readonly code: number; readonly reason: string };
}

export interface TurnFailureContext {
  readonly uri: TurnUri;
  /** The address the name resolved to, when it did. */
  readonly address?: string;
  readonly timeoutMs: number;
  readonly credential: CredentialSettings;
}

const transportWords = (uri: TurnUri) => (uri.transport === 'tls' ? 'TLS over TCP' : uri.transport.toUpperCase());
const listeningPort = (uri: TurnUri) => (uri.transport === 'tls' ? 'tls-listening-port' : 'listening-port');

export function turnFailureCause(failure: TurnFailure, context: TurnFailureContext): string {
  const { uri } = context;
  if (failure.step === 'refresh') {
    return (
      `the allocation was made, but releasing it (Refresh with lifetime 0) failed${stunCode(failure)}: ` +
      'it stays on coturn until its lifetime ends, and a low user-quota may refuse the next check'
    );
  }
  if (failure.step === 'dns' && failure.reason === 'timeout') {
    return `the name ${uri.host} did not resolve within ${context.timeoutMs} ms: the DNS server is slow, or not reachable from here`;
  }
  switch (failure.reason) {
    case 'unauthorized':
      return unauthorizedCause(context.credential);
    case 'timeout':
      return (
        `no answer within ${context.timeoutMs} ms (TURN_HEALTH_CHECK_TIMEOUT_MS): a firewall dropping ${transportWords(uri)} ` +
        `to port ${uri.port}, or coturn not listening there (${listeningPort(uri)}, listening-ip)`
      );
    case 'refused':
      return (
        `nothing listens on ${uri.transport === 'udp' ? 'UDP' : 'TCP'} port ${uri.port} at ${context.address ?? uri.host}: ` +
        `coturn is not running there, or listens on another port or address (${listeningPort(uri)}, listening-ip)`
      );
    case 'dns':
      return `the name ${uri.host} does not resolve: a typo in the URI, or its DNS record is missing (as this host's resolver sees it)`;
    case 'tls':
      return (
        `the TLS handshake failed: the certificate must name ${uri.host} and chain to a CA this process trusts ` +
        '(NODE_EXTRA_CA_CERTS=<file> for a private CA), and coturn needs a cert and pkey it can read'
      );
    case 'error':
      return failure.stunError === undefined
        ? 'the answer is not what a STUN/TURN server sends: is something else listening on this port?'
        : stunErrorCause(failure.stunError);
  }
}

function stunCode(failure: TurnFailure): string {
  return failure.stunError === undefined ? '' : ` (${failure.stunError.code} ${failure.stunError.reason})`;
}

function unauthorizedCause(credential: CredentialSettings): string {
  switch (credential.kind) {
    case 'shared-secret':
      return (
        `coturn refused the credential: ${credential.secret} is not its static-auth-secret ` +
        '(or use-auth-secret is off, or the clocks differ by more than the TTL)'
      );
    case 'static':
      return (
        `coturn refused the credential: ${credential.username} and ${credential.password} are not a user coturn knows ` +
        '(a user= line of turnserver.conf or its user database, in its realm)'
      );
    case 'none':
      return 'the server asks for a credential, and none is configured for it';
  }
}

/** What coturn means by the error codes an Allocate meets (RFC 8489 §14.8, RFC 8656 §19). */
const STUN_ERROR_CAUSES: Readonly<Record<number, string>> = {
  300: 'coturn sends clients to another server (alternate-server in turnserver.conf)',
  400: 'coturn could not read the request: see its log',
  403:
    'coturn forbids the request: a denied-peer-ip or allowed-peer-ip rule, no-udp-relay, ' + 'or a realm or user it refuses (see its log)',
  437: 'an allocation already exists for this client address and port: one an earlier probe left, until its lifetime ends',
  440: 'coturn cannot relay this address family (relay-ip, or no IPv6 relay address)',
  441: 'coturn saw the credential change within one allocation',
  442: 'coturn does not relay UDP (no-udp-relay)',
  486:
    'the allocation quota is reached: user-quota or total-quota in turnserver.conf (the doctor allocates ' +
    'for every turn: URI of a server at once, as one user, so a user-quota below their number refuses the rest)',
  500: 'coturn had an internal error: see its log',
  508: 'coturn has no relay address to give: its min-port..max-port range is used up, or relay-ip names an address it cannot use',
};

function stunErrorCause(error: { readonly code: number; readonly reason: string }): string {
  const meaning = STUN_ERROR_CAUSES[error.code] ?? 'see its log for why';
  return `coturn answered ${error.code} ${error.reason}: ${meaning}`;
}

/** The relayed address is one clients elsewhere cannot reach while the URI names a public host. */
export function missingExternalIpCause(publicAddress: string, relayedAddress: string): string {
  return (
    `the relayed address is ${relayedAddress}, which clients elsewhere cannot reach, while the URI names the public ${publicAddress}: ` +
    `the classic missing external-ip. Set external-ip=${publicAddress}/${relayedAddress} in turnserver.conf`
  );
}

// ---- token verification -------------------------------------------------------------

/** An upstream's 5xx: the service could not ask it. */
export function upstreamDownCause(what: string, url: string, setting: string, detail: string): string {
  return `${what} at ${url} does not answer: ${detail} (check ${setting}, and that this host can reach it)`;
}

export const INTROSPECTION_CLIENT_REFUSED =
  'the OAuth server refused our client credentials: INTROSPECTION_CLIENT_ID/SECRET ' +
  '(and INTROSPECTION_CLIENT_AUTH, how they are sent) are not a client it knows';

// ---- Redis --------------------------------------------------------------------------

/** Why a Redis connection did not become ready, from the last error it reported (ioredis's message, no arguments). */
export function redisDownCause(lastError: string | undefined, where: string, waitedMs: number): string {
  if (lastError === undefined) {
    return `no answer from ${where} within ${waitedMs} ms: a firewall, or the wrong host or port`;
  }
  if (/\b(WRONGPASS|NOAUTH)\b/.test(lastError)) {
    return `Redis refused our password (${lastError}): REDIS_PASSWORD, or the password in REDIS_URL, is not what Redis expects`;
  }
  if (/ECONNREFUSED/.test(lastError)) return `nothing listens at ${where}: Redis is not running there, or the host or port is wrong`;
  if (/ENOTFOUND|EAI_AGAIN/.test(lastError)) return `the name in ${where} does not resolve`;
  if (/certificate|SSL|TLS|self.signed/i.test(lastError)) {
    return `the TLS handshake with ${where} failed (${lastError}): NODE_EXTRA_CA_CERTS=<file> for a private CA`;
  }
  return `${where} did not become ready: ${lastError}`;
}

export function redisScriptCause(error: string): string {
  if (/NOPERM/.test(error)) return `the Redis user may not load scripts (${error}): its ACL needs +script|load and +evalsha`;
  return `Redis refused SCRIPT LOAD: ${error}`;
}
