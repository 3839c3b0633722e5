// The user's hash is HMAC-SHA256(key, user id) cut to 16 hex digits, so only a holder of the
// key can tell whose it is; a derived key is HMAC-SHA256(secret, the fixed label), which an
// operator can recompute with openssl as docs/operations.md shows.

import { createHash, createHmac } from 'node:crypto';
import { derivedUserHashKey, randomUserHashKey, USER_HASH_KEY_LABEL, userHasher } from '../../../src/http/user-hash.js';

const ALICE = '@alice:example.org';

test('is the HMAC of the user id under the key, its first 16 hex digits', () => {
  const expected = createHmac('sha256', 'deployment-key').update(ALICE).digest('hex').slice(0, 16);
  expect(userHasher('deployment-key')(ALICE)).toBe(expected);
  expect(userHasher('deployment-key')(ALICE)).toMatch(/^[0-9a-f]{16}$/);
});

test('differs with another key, and is no plain hash of the user id', () => {
  expect(userHasher('deployment-key')(ALICE)).not.toBe(userHasher('another-key')(ALICE));
  expect(userHasher('deployment-key')(ALICE)).not.toBe(createHash('sha256').update(ALICE).digest('hex').slice(0, 16));
  expect(userHasher('deployment-key')(ALICE)).not.toBe(userHasher('deployment-key')('@bob:example.org'));
});

test('a derived key is the HMAC of the fixed label under the secret', () => {
  expect(derivedUserHashKey('turn-secret')).toEqual(createHmac('sha256', 'turn-secret').update(USER_HASH_KEY_LABEL).digest());
  expect(derivedUserHashKey('turn-secret')).not.toEqual(derivedUserHashKey('another-secret'));
});

test('a random key differs each time', () => {
  expect(randomUserHashKey()).toHaveLength(32);
  expect(userHasher(randomUserHashKey())(ALICE)).not.toBe(userHasher(randomUserHashKey())(ALICE));
});
