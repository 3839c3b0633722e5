// TURN credentials in the TURN REST API scheme that coturn (use-auth-secret), eturnal and
// others accept: username "<unix expiry>:<user id>", password
// base64(HMAC-SHA1(secret, username)). With several shared secrets the first signs; the
// others exist so coturn can keep accepting credentials signed before a rotation.
// Static mode hands every user the same configured username and password; a server of
// stun: URIs only hands out none. A TURN provider's credentials come from its API (providers/).

import { createHmac } from 'node:crypto';
import type { Clock } from '../clock.js';
import { turnPasswordSigner } from '../fast-paths/turn-password.js';
import type { LiveSecret } from '../secret-file.js';

export interface TurnCredentials {
  username: string;
  password: string;
  uris: readonly string[];
  ttl: number;
}

/** Mints at once: coturn's REST scheme, a static pair, STUN only. */
export interface CredentialMinter {
  mint(userId: string): TurnCredentials;
}

/**
 * What the route calls: a credential at once, or, from a TURN provider that must be asked
 * (providers/), later. Minters that can answer at once return no promise, so the common
 * request pays for no await.
 */
export interface MaybeAsyncMinter {
  mint(userId: string): TurnCredentials | Promise<TurnCredentials>;
}

export interface SharedSecretMinterOptions {
  uris: readonly string[];
  ttlSeconds: number;
  /** Comma-separated secrets; the first one signs. */
  sharedSecrets: Pick<LiveSecret, 'current'>;
  clock: Clock;
}

export function signingSecret(secrets: string): string {
  const comma = secrets.indexOf(',');
  return (comma === -1 ? secrets : secrets.slice(0, comma)).trim();
}

/**
 * The password coturn expects for `username`: base64(HMAC-SHA1(secret, username)). The
 * minter computes the same with turnPasswordSigner (fast-paths/turn-password.ts), which is
 * held equal to this.
 */
export function turnPassword(secret: string, username: string): string {
  return createHmac('sha1', secret).update(username).digest('base64');
}

export function sharedSecretMinter(options: SharedSecretMinterOptions): CredentialMinter {
  const { uris, ttlSeconds, sharedSecrets, clock } = options;
  // Re-keyed whenever the live secret changes (rotation through a file).
  let signedWith: string | undefined;
  let sign: (username: string) => string = () => '';
  return {
    mint(userId) {
      const secret = signingSecret(sharedSecrets.current());
      if (secret !== signedWith) {
        sign = turnPasswordSigner(secret);
        signedWith = secret;
      }
      const expiry = Math.floor(clock.nowMs() / 1000) + ttlSeconds;
      const username = `${expiry}:${userId}`;
      return { username, password: sign(username), uris, ttl: ttlSeconds };
    },
  };
}

export function staticMinter(options: {
  uris: readonly string[];
  ttlSeconds: number;
  username: string;
  password: Pick<LiveSecret, 'current'>;
}): CredentialMinter {
  return {
    mint: () => ({ username: options.username, password: options.password.current(), uris: options.uris, ttl: options.ttlSeconds }),
  };
}

/**
 * A server of stun: URIs only: STUN Binding needs no credential, and the Matrix answer's
 * username and password are required strings, so both are empty.
 */
export function stunOnlyMinter(options: { uris: readonly string[]; ttlSeconds: number }): CredentialMinter {
  const credentials: TurnCredentials = Object.freeze({ username: '', password: '', uris: options.uris, ttl: options.ttlSeconds });
  return { mint: () => credentials };
}
