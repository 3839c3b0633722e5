// The TURN password is HMAC-SHA1 written out by hand on the hot path
// (fast-paths/turn-password.ts); it must be exactly what crypto.createHmac gives, for any
// secret (longer than a SHA-1 block included) and any username, non-ASCII ones included.

import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { turnPasswordSigner } from '../../../src/fast-paths/turn-password.js';

const reference = (secret: string, username: string) => createHmac('sha1', secret).update(username).digest('base64');

test('equals HMAC-SHA1 for any secret and username, long and non-ASCII ones included', () => {
  fc.assert(
    fc.property(
      fc.string({ minLength: 1, maxLength: 200, unit: 'binary' }),
      fc.array(fc.string({ maxLength: 400, unit: 'binary' }), { minLength: 1, maxLength: 5 }),
      (key, usernames) => {
        const sign = turnPasswordSigner(key);
        for (const username of usernames) expect(sign(username)).toBe(reference(key, username));
      },
    ),
    { numRuns: 300 },
  );
});
