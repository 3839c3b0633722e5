import { MAX_TOKEN_LENGTH, extractAccessToken } from '../../../src/http/token.js';
import { MatrixError } from '../../../src/errors.js';

/** What a client would be told: status, errcode and message of the refusal. */
function refusal(authorization: string[] | undefined, query: string | string[] | undefined) {
  try {
    extractAccessToken(authorization, query);
  } catch (error) {
    if (error instanceof MatrixError) return { status: error.status, errcode: error.errcode, message: error.message };
    throw error;
  }
  throw new Error('the token was accepted');
}

describe('where the token comes from', () => {
  it('takes the token from Authorization: Bearer', () => {
    expect(extractAccessToken(['Bearer syt_abc_123'], undefined)).toBe('syt_abc_123');
  });

  it('accepts the scheme in any case, as RFC 9110 says', () => {
    expect(extractAccessToken(['bearer tok'], undefined)).toBe('tok');
    expect(extractAccessToken(['BEARER tok'], undefined)).toBe('tok');
  });

  it('takes the token from the deprecated access_token query parameter', () => {
    expect(extractAccessToken(undefined, 'syt_query')).toBe('syt_query');
  });

  it('takes a token of printable ASCII up to the longest length accepted', () => {
    const longest = 'a'.repeat(MAX_TOKEN_LENGTH);
    expect(extractAccessToken([`Bearer ${longest}`], undefined)).toBe(longest);
    expect(extractAccessToken(['Bearer eyJ.a-b_c~d+e/f=.x!#$%&*'], undefined)).toBe('eyJ.a-b_c~d+e/f=.x!#$%&*');
  });
});

describe('missing or malformed tokens: 401 M_MISSING_TOKEN, as Synapse answers', () => {
  it('refuses a request with no token at all', () => {
    expect(refusal(undefined, undefined)).toEqual({ status: 401, errcode: 'M_MISSING_TOKEN', message: 'Missing access token' });
    expect(refusal([], undefined)).toMatchObject({ status: 401, errcode: 'M_MISSING_TOKEN' });
  });

  it('refuses a token in both the header and the query string', () => {
    expect(refusal(['Bearer one'], 'two')).toEqual({
      status: 401,
      errcode: 'M_MISSING_TOKEN',
      message: 'Mixing Authorization headers and access_token query parameters.',
    });
  });

  it.each([['Basic dXNlcjpwYXNz'], ['Bearer'], ['Bearer '], ['Bearer a b'], ['Token abc'], ['']])('refuses the header %j', (header) => {
    expect(refusal([header], undefined)).toEqual({ status: 401, errcode: 'M_MISSING_TOKEN', message: 'Invalid Authorization header.' });
  });

  it('refuses several Authorization headers', () => {
    expect(refusal(['Bearer a', 'Bearer b'], undefined)).toEqual({
      status: 401,
      errcode: 'M_MISSING_TOKEN',
      message: 'Too many Authorization headers.',
    });
  });

  it('refuses several or empty access_token parameters', () => {
    expect(refusal(undefined, ['a', 'b'])).toMatchObject({ status: 401, errcode: 'M_MISSING_TOKEN' });
    expect(refusal(undefined, '')).toMatchObject({ status: 401, errcode: 'M_MISSING_TOKEN' });
  });
});

describe('tokens no issuer could have minted: 401 M_UNKNOWN_TOKEN, without asking anyone', () => {
  it.each([
    ['a control character', 'abc\u0001def'],
    ['a non-ASCII character', 'tökén'],
    ['a space (query string)', 'two words'],
    ['an absurd length', 'a'.repeat(MAX_TOKEN_LENGTH + 1)],
  ])('refuses a token with %s', (_what, token) => {
    expect(refusal(undefined, token)).toMatchObject({ status: 401, errcode: 'M_UNKNOWN_TOKEN' });
  });

  it('tells the client it is not a soft logout', () => {
    try {
      extractAccessToken(undefined, 'bad\u0000token');
      throw new Error('accepted');
    } catch (error) {
      expect((error as MatrixError).body()).toEqual({ errcode: 'M_UNKNOWN_TOKEN', error: 'Unrecognised access token', soft_logout: false });
    }
  });
});
