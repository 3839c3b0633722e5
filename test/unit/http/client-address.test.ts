// Which address a request is counted under: the peer unless TRUST_PROXY, then the
// right-most X-Forwarded-For entry; IPv6 by /64; junk never yields a fresh key. The
// access log's address is the same one in full.

import fc from 'fast-check';
import { addressKey, clientAddress, clientAddressKey } from '../../../src/http/client-address.js';

describe('client address', () => {
  test('without TRUST_PROXY the header is ignored', () => {
    expect(clientAddressKey({ remoteAddress: '10.0.0.5', forwardedFor: ['203.0.113.9'], trustProxy: false })).toBe('10.0.0.5');
  });

  test('with TRUST_PROXY the right-most entry wins, over several header lines', () => {
    expect(clientAddressKey({ remoteAddress: '10.0.0.5', forwardedFor: ['1.1.1.1, 2.2.2.2'], trustProxy: true })).toBe('2.2.2.2');
    expect(clientAddressKey({ remoteAddress: '10.0.0.5', forwardedFor: ['1.1.1.1', '3.3.3.3 , 4.4.4.4 '], trustProxy: true })).toBe(
      '4.4.4.4',
    );
  });

  test('with TRUST_PROXY and no header, the peer', () => {
    expect(clientAddressKey({ remoteAddress: '10.0.0.5', forwardedFor: undefined, trustProxy: true })).toBe('10.0.0.5');
    expect(clientAddressKey({ remoteAddress: '10.0.0.5', forwardedFor: [''], trustProxy: true })).toBe('10.0.0.5');
  });

  test('an entry that is not an address falls back to the peer', () => {
    for (const junk of ['unknown', '1.1.1.1, evil', '1.1.1.1,', '999.1.1.1', '"1.1.1.1"', 'x'.repeat(5000)]) {
      expect(clientAddressKey({ remoteAddress: '10.0.0.5', forwardedFor: [junk], trustProxy: true })).toBe('10.0.0.5');
    }
  });

  test('ports that some proxies append are dropped', () => {
    expect(clientAddressKey({ remoteAddress: '10.0.0.5', forwardedFor: ['198.51.100.7:51234'], trustProxy: true })).toBe('198.51.100.7');
    expect(clientAddressKey({ remoteAddress: '10.0.0.5', forwardedFor: ['[2001:db8:1:2::9]:443'], trustProxy: true })).toBe(
      '2001:db8:1:2::/64',
    );
  });

  test('IPv6 addresses of one /64 share a key; IPv4-mapped addresses are IPv4', () => {
    expect(addressKey('2001:db8:aaaa:bbbb::1')).toBe('2001:db8:aaaa:bbbb::/64');
    expect(addressKey('2001:0db8:aaaa:bbbb:ffff:ffff:ffff:ffff')).toBe('2001:db8:aaaa:bbbb::/64');
    expect(addressKey('2001:db8:aaaa:bbbc::1')).toBe('2001:db8:aaaa:bbbc::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('::')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressKey('::ffff:192.0.2.33')).toBe('192.0.2.33');
    expect(addressKey('::FFFF:c000:0221')).toBe('192.0.2.33');
    expect(addressKey('64:ff9b::192.0.2.33')).toBe('64:ff9b:0:0::/64');
  });

  test('a socket already gone still gets a key', () => {
    expect(clientAddressKey({ remoteAddress: undefined, forwardedFor: undefined, trustProxy: false })).toBe('unknown');
  });
});

describe('the address the access log writes', () => {
  test('is the peer without TRUST_PROXY, whatever the header says', () => {
    expect(clientAddress({ remoteAddress: '10.0.0.5', forwardedFor: '203.0.113.9', trustProxy: false })).toBe('10.0.0.5');
  });

  test("is the proxy's right-most entry with TRUST_PROXY, in full", () => {
    expect(clientAddress({ remoteAddress: '10.0.0.5', forwardedFor: '198.51.100.1, 203.0.113.9', trustProxy: true })).toBe('203.0.113.9');
    expect(clientAddress({ remoteAddress: '10.0.0.5', forwardedFor: ['1.1.1.1', '2001:db8:aaaa:bbbb::1'], trustProxy: true })).toBe(
      '2001:db8:aaaa:bbbb::1',
    );
    expect(clientAddress({ remoteAddress: '10.0.0.5', forwardedFor: '[2001:db8::9]:443', trustProxy: true })).toBe('2001:db8::9');
  });

  test('is the peer when the entry is no address or there is none', () => {
    for (const junk of ['unknown', '1.1.1.1, evil', '"1.1.1.1"', '', undefined]) {
      expect(clientAddress({ remoteAddress: '10.0.0.5', forwardedFor: junk, trustProxy: true })).toBe('10.0.0.5');
    }
  });

  test('writes an IPv4 peer of a dual-stack socket as IPv4, and nothing once the socket is gone', () => {
    expect(clientAddress({ remoteAddress: '::ffff:192.0.2.33', forwardedFor: undefined, trustProxy: false })).toBe('192.0.2.33');
    expect(clientAddress({ remoteAddress: '::1', forwardedFor: undefined, trustProxy: false })).toBe('::1');
    expect(clientAddress({ remoteAddress: undefined, forwardedFor: undefined, trustProxy: true })).toBeUndefined();
  });

  test('needs no escaping in a JSON string, whatever the header holds', () => {
    const zoned = fc.tuple(fc.ipV6(), fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 8 })).map(([ip, zone]) => `${ip}%${zone}`);
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6(), zoned, fc.string({ unit: 'binary', maxLength: 60 })), (header) => {
        const address = clientAddress({ remoteAddress: '10.0.0.5', forwardedFor: `1.1.1.1, ${header}`, trustProxy: true })!;
        expect(JSON.stringify(address)).toBe(`"${address}"`);
      }),
      { numRuns: 2000 },
    );
  });
});
