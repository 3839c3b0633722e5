// The credentials body is written by hand on the hot path (routes.ts); it must be exactly
// what JSON.stringify would write, for any username (a user id may hold any character
// JSON has to escape), password, URI list and TTL, and with lists that change.

import fc from 'fast-check';
import { credentialsSerializer } from '../../../src/http/routes.js';

test('credentialsSerializer writes what JSON.stringify writes', () => {
  const uriLists = [['turn:turn.example.org:3478?transport=udp'], ['turns:t.example.org:5349?transport=tcp', 'turn:"odd"\\uri']];
  const serialize = credentialsSerializer();
  fc.assert(
    fc.property(
      fc.string({ unit: 'binary', maxLength: 300 }),
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.oneof(fc.constantFrom(...uriLists), fc.array(fc.string({ unit: 'binary', maxLength: 60 }), { maxLength: 4 })),
      fc.integer({ min: 0, max: 10 ** 9 }),
      (username, password, uris, ttl) => {
        const credentials = { username, password, uris, ttl };
        const written = serialize(credentials);
        expect(written).toBe(JSON.stringify(credentials));
        expect(JSON.parse(written)).toEqual(credentials);
      },
    ),
    { numRuns: 500 },
  );
});
