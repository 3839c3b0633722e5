// What a thrown value carries, read the same way whichever realm made it: Node's core,
// a library outside the test runner's vm context, or plain objects shaped like errors.

import { readFileSync } from 'node:fs';
import { runInNewContext } from 'node:vm';
import { errorCode, errorNameAndMessage } from '../../src/error-fields.js';

/** An error made in another realm, where `instanceof Error` of this one is false. */
const foreignError = (code: string, message: string): unknown =>
  runInNewContext('Object.assign(new Error(message), { code })', { code, message }) as unknown;

const thrownBy = (run: () => unknown): unknown => {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('nothing was thrown');
};

describe('errorCode', () => {
  test("a Node error's code, as fs throws it", () => {
    expect(errorCode(thrownBy(() => readFileSync('/nonexistent/secret')))).toBe('ENOENT');
  });

  test('an error of another realm is read like one of this realm', () => {
    const error = foreignError('ERR_JWT_EXPIRED', 'expired');
    expect(error instanceof Error).toBe(false);
    expect(errorCode(error)).toBe('ERR_JWT_EXPIRED');
  });

  test('no code, a code that is no string, or no error at all: undefined', () => {
    expect(errorCode(new Error('plain'))).toBeUndefined();
    expect(errorCode({ code: 42 })).toBeUndefined();
    expect(errorCode(undefined)).toBeUndefined();
    expect(errorCode(null)).toBeUndefined();
    expect(errorCode('ENOENT')).toBeUndefined();
  });

  test('the cause is read only when asked, and only when the error has no code of its own', () => {
    const wrapped = new Error('fetch failed', { cause: foreignError('ECONNREFUSED', 'connect ECONNREFUSED') });
    expect(errorCode(wrapped)).toBeUndefined();
    expect(errorCode(wrapped, { orCause: true })).toBe('ECONNREFUSED');
    const own = Object.assign(new Error('timed out', { cause: { code: 'ECONNRESET' } }), { code: 'UND_ERR_HEADERS_TIMEOUT' });
    expect(errorCode(own, { orCause: true })).toBe('UND_ERR_HEADERS_TIMEOUT');
    expect(errorCode(new Error('no cause'), { orCause: true })).toBeUndefined();
  });
});

describe('errorNameAndMessage', () => {
  test("an error's name and message, of this realm or another", () => {
    expect(errorNameAndMessage(new TypeError('bad'))).toEqual({ name: 'TypeError', message: 'bad' });
    expect(errorNameAndMessage(foreignError('ECONNRESET', 'read ECONNRESET'))).toEqual({ name: 'Error', message: 'read ECONNRESET' });
  });

  test("anything with a string message is an error; without a string name it is called 'Error'", () => {
    expect(errorNameAndMessage({ message: 'Connection is closed.' })).toEqual({ name: 'Error', message: 'Connection is closed.' });
    expect(errorNameAndMessage({ name: 7, message: 'x' })).toEqual({ name: 'Error', message: 'x' });
  });

  test('a value without a string message is none', () => {
    expect(errorNameAndMessage('a string')).toBeUndefined();
    expect(errorNameAndMessage({ message: 1 })).toBeUndefined();
    expect(errorNameAndMessage(null)).toBeUndefined();
    expect(errorNameAndMessage(undefined)).toBeUndefined();
  });
});
