// TURN credentials in the TURN REST API scheme that coturn (use-auth-secret), eturnal and
// others accept: username "<unix expiry>:<user id>", password
// base64(HMAC-SHA1(secret, username)). With several shared secrets the first signs; the
// others exist so coturn can keep accepting credentials signed before a rotation.
// Static mode hands every user the same configured username and password.

import { createHmac, hash } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { LiveSecret } from '../secret-file.js';

export interface TurnCredentials {
  username: string;
  password: string;
  uris: readonly string[];
  ttl: number;
}

export interface CredentialMinter {
  mint(userId: string): TurnCredentials;
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

/** The password coturn expects for `username`: base64(HMAC-SHA1(secret, username)). */
export function turnPassword(secret: string, username: string): string {
  return createHmac('sha1', secret).update(username).digest('base64');
}

const SHA1_BLOCK_BYTES = 64;
const SHA1_DIGEST_BYTES = 20;

/**
 * turnPassword for one secret, on the hot path: HMAC as RFC 2104 defines it, with the
 * padded keys computed once per secret and each password two one-shot hashes over reused
 * buffers. node's Hmac objects cost about 3 µs each (a native handle to collect per
 * request); this costs about 1. Tests hold it equal to turnPassword.
 */
export function turnPasswordSigner(secret: string): (username: string) => string {
  let key = Buffer.from(secret, 'utf8');
  if (key.length > SHA1_BLOCK_BYTES) key = hash('sha1', key, 'buffer');
  let inner = Buffer.alloc(SHA1_BLOCK_BYTES + 256);
  const outer = Buffer.alloc(SHA1_BLOCK_BYTES + SHA1_DIGEST_BYTES);
  for (let i = 0; i < SHA1_BLOCK_BYTES; i += 1) {
    const byte = key[i] ?? 0;
    inner[i] = byte ^ 0x36;
    outer[i] = byte ^ 0x5c;
  }
  return (username) => {
    const length = Buffer.byteLength(username, 'utf8');
    if (SHA1_BLOCK_BYTES + length > inner.length) {
      const larger = Buffer.alloc(SHA1_BLOCK_BYTES + length);
      inner.copy(larger, 0, 0, SHA1_BLOCK_BYTES);
      inner = larger;
    }
    inner.write(username, SHA1_BLOCK_BYTES, 'utf8');
    // The inner digest as a 'binary' (latin1) string, one character per byte, written back
    // as latin1: the same 20 bytes, and several times cheaper than a digest Buffer.
    outer.write(hash('sha1', inner.subarray(0, SHA1_BLOCK_BYTES + length), 'binary'), SHA1_BLOCK_BYTES, 'latin1');
    return hash('sha1', outer, 'base64');
  };
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

export function staticMinter(options: { uris: readonly string[]; ttlSeconds: number; username: string; password: Pick<LiveSecret, 'current'> }): CredentialMinter {
  return {
    mint: () => ({ username: options.username, password: options.password.current(), uris: options.uris, ttl: options.ttlSeconds }),
  };
}
