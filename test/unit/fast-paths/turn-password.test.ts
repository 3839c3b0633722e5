// The TURN password is HMAC-SHA1 written out by hand on the hot path
// (fast-paths/turn-password.ts); it must be exactly what crypto.createHmac gives, for any
// secret (longer than a SHA-1 block included) and any username, non-ASCII ones included;
// and so must HMAC-SHA256 in hex, the access log's user hash, for string and Buffer keys.

import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { hmacSigner, turnPasswordSigner } from '../../../src/fast-paths/turn-password.js';

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

test('with SHA-256 in hex, equals HMAC-SHA256 for any key (string or bytes, longer than a block included) and message', () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.string({ minLength: 1, maxLength: 200, unit: 'binary' }), fc.uint8Array({ minLength: 1, maxLength: 200 })),
      fc.array(fc.string({ maxLength: 400, unit: 'binary' }), { minLength: 1, maxLength: 5 }),
      (key, messages) => {
        const bytes = typeof key === 'string' ? key : Buffer.from(key);
        const sign = hmacSigner('sha256', bytes, 'hex');
        for (const message of messages) expect(sign(message)).toBe(createHmac('sha256', bytes).update(message).digest('hex'));
      },
    ),
    { numRuns: 300 },
  );
});
