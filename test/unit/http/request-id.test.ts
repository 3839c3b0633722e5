// The id of a request: a proxy's X-Request-ID only with TRUST_PROXY and only when it is
// printable and short; otherwise one generated, different for every request and for every
// process; always one the JSON access line can hold unescaped.

import fc from 'fast-check';
import { requestIds } from '../../../src/http/request-id.js';

const GENERATED = /^[0-9a-f]{12}-[0-9a-z]+$/;

describe('without TRUST_PROXY', () => {
  it("ignores the client's X-Request-ID: any client can write it", () => {
    const idOf = requestIds({ trustProxy: false });
    const id = idOf('0f9c2d1e7a6b4c3d8e9f0a1b2c3d4e5f');
    expect(id).not.toBe('0f9c2d1e7a6b4c3d8e9f0a1b2c3d4e5f');
    expect(id).toMatch(GENERATED);
  });
});

describe('with TRUST_PROXY', () => {
  const idOf = requestIds({ trustProxy: true, prefix: 'p' });

  it("takes the proxy's id as it came", () => {
    for (const id of [
      '0f9c2d1e7a6b4c3d8e9f0a1b2c3d4e5f',
      '3b5cfa3f-8f2e-4a43-9b56-1c0a5d9e3f21',
      'Root=1-67891233-abcdef012345678912345678',
      'x'.repeat(128),
    ]) {
      expect(idOf(id)).toBe(id);
    }
  });

  it('generates one when the proxy sends none', () => {
    expect(idOf(undefined)).toMatch(/^p-[0-9a-z]+$/);
  });

  it.each([
    ['empty', ''],
    ['longer than 128', 'x'.repeat(129)],
    ['a control character', 'abc\u0007def'],
    ['a tab', 'abc\tdef'],
    ['not ASCII', 'caf\u00e9'],
    ['a quote', 'abc"def'],
    ['a backslash', 'abc\\def'],
  ])('replaces one with %s', (_what, bad) => {
    expect(idOf(bad)).toMatch(/^p-[0-9a-z]+$/);
  });

  it('replaces headers Node could not join into one value', () => {
    expect(idOf(['a', 'b'])).toMatch(/^p-[0-9a-z]+$/);
  });
});

test('every generated id differs, within a process and across processes', () => {
  const first = requestIds({ trustProxy: false });
  const second = requestIds({ trustProxy: false });
  const ids = Array.from({ length: 1000 }, () => first(undefined));
  ids.push(second(undefined));
  expect(new Set(ids).size).toBe(1001);
  for (const id of ids) expect(id).toMatch(GENERATED);
  expect(ids[0]!.slice(0, 12)).not.toBe(ids[1000]!.slice(0, 12));
});

test('any id, taken or generated, needs no escaping in a JSON string and is at most 128 characters', () => {
  const idOf = requestIds({ trustProxy: true });
  fc.assert(
    fc.property(
      fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ unit: 'grapheme-ascii', maxLength: 200 })),
      (header) => {
        const id = idOf(header);
        expect(JSON.stringify(id)).toBe(`"${id}"`);
        expect(id.length).toBeLessThanOrEqual(128);
        expect(id.length).toBeGreaterThan(0);
      },
    ),
    { numRuns: 2000 },
  );
});
