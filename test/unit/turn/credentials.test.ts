import { createHmac } from 'node:crypto';
import { sharedSecretMinter, signingSecret, staticMinter, turnPassword } from '../../../src/turn/credentials.js';

const fixedClock = (ms: number) => ({ nowMs: () => ms });
const secret = (value: string) => ({ current: () => value, close: () => {} });

describe('shared-secret credentials', () => {
  it('names the expiry and user, and signs with HMAC-SHA1 of the first secret', () => {
    const minter = sharedSecretMinter({
      uris: ['turn:t.example.org'],
      ttlSeconds: 600,
      sharedSecrets: secret('new,old'),
      clock: fixedClock(1_700_000_000_500),
    });
    const creds = minter.mint('@alice:example.org');
    expect(creds.username).toBe('1700000600:@alice:example.org');
    expect(creds.password).toBe(createHmac('sha1', 'new').update('1700000600:@alice:example.org').digest('base64'));
    expect(creds).toMatchObject({ uris: ['turn:t.example.org'], ttl: 600 });
  });

  it('picks up a rotated secret on the next credential', () => {
    let value = 'first';
    const minter = sharedSecretMinter({ uris: [], ttlSeconds: 60, sharedSecrets: { current: () => value }, clock: fixedClock(0) });
    const before = minter.mint('@a:x').password;
    value = 'second,first';
    expect(minter.mint('@a:x').password).not.toBe(before);
    expect(minter.mint('@a:x').password).toBe(turnPassword('second', '60:@a:x'));
  });

  it('takes the first of several comma-separated secrets, trimmed', () => {
    expect(signingSecret(' a , b')).toBe('a');
    expect(signingSecret('only')).toBe('only');
  });
});

describe('static credentials', () => {
  it('hands out the configured pair', () => {
    const minter = staticMinter({ uris: ['turn:t'], ttlSeconds: 86400, username: 'u', password: secret('p') });
    expect(minter.mint('@a:x')).toEqual({ username: 'u', password: 'p', uris: ['turn:t'], ttl: 86400 });
  });
});
