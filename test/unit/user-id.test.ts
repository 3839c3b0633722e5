// User ids in the spec's grammars: from what an OAuth server or a JWT says, localparts made
// full, full ids of our server kept, anything else (other servers, malformed values,
// non-strings) refused; what a homeserver answers, in the historical grammar; what an
// operator writes, in the current one.

import { CURRENT_USER_ID, isHistoricalUserId, toLocalUserId } from '../../src/user-id.js';

describe('toLocalUserId', () => {
  it.each([
    ['alice', '@alice:example.org'],
    ['a.b_c=d-e/f+g', '@a.b_c=d-e/f+g:example.org'],
    ['01hzx3v8q2w4e6r8t0y2u4i6o8', '@01hzx3v8q2w4e6r8t0y2u4i6o8:example.org'],
    ['@alice:example.org', '@alice:example.org'],
  ])('%s → %s', (value, expected) => {
    expect(toLocalUserId(value, 'example.org')).toBe(expected);
  });

  it('keeps a server name with a port as the whole server name', () => {
    expect(toLocalUserId('@alice:example.org:8448', 'example.org:8448')).toBe('@alice:example.org:8448');
    expect(toLocalUserId('@alice:example.org:8448', 'example.org')).toBeUndefined();
  });

  it.each([
    ['another server', '@alice:evil.example'],
    ['a server that only starts like ours', '@alice:example.org.evil'],
    ['no server part', '@alice'],
    ['an empty localpart', '@:example.org'],
    ['upper case', 'Alice'],
    ['a space', 'alice smith'],
    ['a colon in a bare localpart', 'alice:example.org'],
    ['non-ASCII', 'alicé'],
    ['the empty string', ''],
    ['over 255 characters', 'a'.repeat(256)],
    ['a number', 42],
    ['null', null],
    ['an array', ['alice']],
  ])('refuses %s', (_name, value) => {
    expect(toLocalUserId(value, 'example.org')).toBeUndefined();
  });
});

describe('isHistoricalUserId', () => {
  it.each(['@alice:example.org', '@Alice:example.org', '@alice:[::1]:8448', '@a:b'])('%s is a user id', (value) => {
    expect(isHistoricalUserId(value)).toBe(true);
  });

  it.each(['alice', '@alice', '!room:example.org', '@ali ce:example.org', `@${'a'.repeat(250)}:example.org`])('%s is not', (value) => {
    expect(isHistoricalUserId(value)).toBe(false);
  });
});

describe('CURRENT_USER_ID, the grammar an operator writes user ids in', () => {
  it.each(['@alice:example.org', '@a.b_c=d-e/f+g:example.org', '@bot:matrix.example.org:8448'])('%s is one', (value) => {
    expect(CURRENT_USER_ID.test(value)).toBe(true);
  });

  it.each([
    ['upper case, allowed only in historical ids', '@Alice:example.org'],
    ['no @', 'alice:example.org'],
    ['no server name', '@alice'],
    ['a port of six digits', '@alice:example.org:123456'],
    ['a space', '@ali ce:example.org'],
  ])('refuses %s', (_name, value) => {
    expect(CURRENT_USER_ID.test(value)).toBe(false);
  });
});
