// parseTurnUri: the RFC 7064/7065 forms, their defaults, and the URIs it refuses with the reason in words.

import { InvalidTurnUri, parseTurnUri } from '../../../../src/turn/probe/turn-uri.js';

describe('parseTurnUri', () => {
  it.each([
    ['stun:stun.example.org', { scheme: 'stun', host: 'stun.example.org', port: 3478, transport: 'udp', secure: false }],
    ['stuns:stun.example.org', { scheme: 'stuns', host: 'stun.example.org', port: 5349, transport: 'tls', secure: true }],
    ['turn:turn.example.org', { scheme: 'turn', host: 'turn.example.org', port: 3478, transport: 'udp', secure: false }],
    ['turn:turn.example.org:3479?transport=udp', { scheme: 'turn', host: 'turn.example.org', port: 3479, transport: 'udp', secure: false }],
    ['turn:192.0.2.10?transport=tcp', { scheme: 'turn', host: '192.0.2.10', port: 3478, transport: 'tcp', secure: false }],
    ['turns:turn.example.org', { scheme: 'turns', host: 'turn.example.org', port: 5349, transport: 'tls', secure: true }],
    // As browsers read it: TLS over TCP, not DTLS.
    ['turns:turn.example.org?transport=udp', { scheme: 'turns', host: 'turn.example.org', port: 5349, transport: 'tls', secure: true }],
    ['turns:turn.example.org:443?transport=tcp', { scheme: 'turns', host: 'turn.example.org', port: 443, transport: 'tls', secure: true }],
    ['turn:[2001:db8::1]:3478?transport=udp', { scheme: 'turn', host: '2001:db8::1', port: 3478, transport: 'udp', secure: false }],
    ['TURN:Turn.Example.org?TRANSPORT=TCP', { scheme: 'turn', host: 'Turn.Example.org', port: 3478, transport: 'tcp', secure: false }],
  ])('%s', (uri, expected) => {
    expect(parseTurnUri(uri)).toEqual(expected);
  });

  it.each([
    ['http://turn.example.org', /is not a stun:, stuns:, turn: or turns: URI/],
    ['turn:', /is not a stun:/],
    ['turn:user@turn.example.org', /is not a stun:/],
    ['turn:turn.example.org/path', /is not a stun:/],
    ['turn:turn.example.org:0', /port 0 is not between 1 and 65535/],
    ['turn:turn.example.org:65536', /port 65536 is not between 1 and 65535/],
    ['turn:[192.0.2.1]', /\[192\.0\.2\.1\] is not an IPv6 address/],
    ['turn:2001:db8::1', /is not a stun:/],
    ['stun:stun.example.org?transport=udp', /a stun: URI takes no \?transport=udp/],
    ['turn:turn.example.org?transport=sctp', /the only query is \?transport=udp or \?transport=tcp/],
  ])('refuses %s', (uri, message) => {
    expect(() => parseTurnUri(uri)).toThrow(InvalidTurnUri);
    expect(() => parseTurnUri(uri)).toThrow(message);
  });
});
