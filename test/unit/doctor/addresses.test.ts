// Which addresses clients elsewhere cannot reach (src/doctor/addresses.ts): the ranges a
// relayed address must not be in while the URI names a public host.

import { addressKind } from '../../../src/doctor/addresses.js';

describe('addressKind', () => {
  it.each([
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.254', 'private'],
    ['192.168.0.1', 'private'],
    ['100.64.0.1', 'private'],
    ['100.127.255.254', 'private'],
    ['fc00::1', 'private'],
    ['fdab:1::2', 'private'],
    ['::ffff:10.0.0.1', 'private'],
    ['127.0.0.1', 'loopback'],
    ['127.8.9.1', 'loopback'],
    ['::1', 'loopback'],
    ['169.254.10.1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['172.32.0.1', 'public'],
    ['100.128.0.1', 'public'],
    ['203.0.113.7', 'public'],
    ['8.8.8.8', 'public'],
    ['2001:4860::8888', 'public'],
  ])('%s is %s', (address, kind) => {
    expect(addressKind(address)).toBe(kind);
  });

  it('refuses a name: only a resolved address has a kind', () => {
    expect(() => addressKind('turn.example.org')).toThrow('not an IP address: turn.example.org');
  });
});
