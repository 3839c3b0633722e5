// Property tests over token extraction: whatever the Authorization header lines and the
// access_token query value are, the answer is either a token no issuer would refuse on
// syntax alone, or a 401 Matrix error (M_MISSING_TOKEN / M_UNKNOWN_TOKEN); never another
// exception, never a token with spaces, control characters, non-ASCII or absurd length.

import fc from 'fast-check';
import { MatrixError } from '../../../src/errors.js';
import { extractAccessToken, MAX_TOKEN_LENGTH } from '../../../src/http/token.js';

const TOKEN_SHAPE = /^[\x21-\x7e]+$/;

/** Tokens as issuers mint them: visible ASCII, up to the longest accepted. */
const goodToken = fc.string({
  unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
  minLength: 1,
  maxLength: 200,
});
const longGoodToken = fc.integer({ min: 1, max: MAX_TOKEN_LENGTH }).map((n) => 'a'.repeat(n));
const anyText = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: fc.constantFrom(' ', '\t', '\r', '\n', '\0', '\x7f', 'é', '\u200b', ',', '"') }),
);
const scheme = fc.constantFrom('Bearer', 'bearer', 'BEARER', 'BeArEr', 'Basic', 'Token', 'MAC', '', 'Bearer:', 'Bearer,', 'Bearer=');
const separator = fc.constantFrom(' ', '  ', '\t', '', ' \t ');
const headerLine = fc.oneof(
  anyText,
  fc.tuple(scheme, separator, anyText).map(([s, sep, t]) => `${s}${sep}${t}`),
  fc.tuple(scheme, separator, goodToken).map(([s, sep, t]) => `${s}${sep}${t}`),
  fc.tuple(goodToken, goodToken).map(([a, b]) => `Bearer ${a} ${b}`),
  fc.integer({ min: MAX_TOKEN_LENGTH - 2, max: MAX_TOKEN_LENGTH * 2 }).map((n) => `Bearer ${'x'.repeat(n)}`),
);
const headerLines = fc.option(fc.array(headerLine, { maxLength: 3 }), { nil: undefined });
const queryValue = fc.option(fc.oneof(anyText, goodToken, fc.array(fc.oneof(anyText, goodToken), { maxLength: 3 })), { nil: undefined });

function outcome(run: () => string): { token: string } | { error: MatrixError } {
  try {
    return { token: run() };
  } catch (error) {
    if (error instanceof MatrixError) return { error };
    throw error;
  }
}

describe('token extraction (properties)', () => {
  test('any header lines and query value: a well-formed token or a 401 Matrix error, nothing else', () => {
    fc.assert(
      fc.property(headerLines, queryValue, (header, query) => {
        const result = outcome(() => extractAccessToken(header, query));
        if ('token' in result) {
          expect(result.token).toMatch(TOKEN_SHAPE);
          expect(result.token.length).toBeLessThanOrEqual(MAX_TOKEN_LENGTH);
        } else {
          expect(result.error.status).toBe(401);
          expect(['M_MISSING_TOKEN', 'M_UNKNOWN_TOKEN']).toContain(result.error.errcode);
          expect(result.error.body().errcode).toBe(result.error.errcode);
        }
      }),
      { numRuns: 2000 },
    );
  });

  test('a token that was returned is always one the request carried verbatim', () => {
    fc.assert(
      fc.property(headerLines, queryValue, (header, query) => {
        const result = outcome(() => extractAccessToken(header, query));
        if (!('token' in result)) return;
        const carried = [...(header ?? []), ...(typeof query === 'string' ? [query] : (query ?? []))];
        expect(carried.some((value) => value.includes(result.token))).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  test('a Bearer header with a well-formed token yields exactly that token, whatever the scheme case', () => {
    fc.assert(
      fc.property(fc.oneof(goodToken, longGoodToken), fc.constantFrom('Bearer', 'bearer', 'BEARER', 'bEARER'), (token, bearer) => {
        expect(extractAccessToken([`${bearer} ${token}`], undefined)).toBe(token);
      }),
    );
  });

  test('a well-formed token in the query string alone is accepted', () => {
    fc.assert(
      fc.property(fc.oneof(goodToken, longGoodToken), (token) => {
        expect(extractAccessToken(undefined, token)).toBe(token);
        expect(extractAccessToken([], [token])).toBe(token);
      }),
    );
  });

  test('a token in both the header and the query string is M_MISSING_TOKEN, as Synapse answers', () => {
    fc.assert(
      fc.property(goodToken, goodToken, (inHeader, inQuery) => {
        const result = outcome(() => extractAccessToken([`Bearer ${inHeader}`], inQuery));
        expect('error' in result && result.error.errcode).toBe('M_MISSING_TOKEN');
      }),
    );
  });

  test('several Authorization header lines are refused, even when each alone would do', () => {
    fc.assert(
      fc.property(fc.array(goodToken, { minLength: 2, maxLength: 4 }), (tokens) => {
        const result = outcome(() =>
          extractAccessToken(
            tokens.map((t) => `Bearer ${t}`),
            undefined,
          ),
        );
        expect('error' in result && result.error.errcode).toBe('M_MISSING_TOKEN');
      }),
    );
  });

  test('a scheme other than Bearer is never read as a token', () => {
    fc.assert(
      fc.property(fc.constantFrom('Basic', 'Token', 'Digest', 'Bearer:', 'Bearerx', 'MAC'), goodToken, (other, token) => {
        const result = outcome(() => extractAccessToken([`${other} ${token}`], undefined));
        expect('error' in result && result.error.errcode).toBe('M_MISSING_TOKEN');
      }),
    );
  });
});
