// A provider's ICE servers as the `uris` of a Matrix answer (src/turn/providers/ice-servers.ts).

import { iceServerCredential, iceServerUris } from '../../../../src/turn/providers/ice-servers.js';

describe("a provider's ICE servers as Matrix URIs", () => {
  it('take `urls` as a string or a list and the legacy `url`, in order, each once, STUN included', () => {
    expect(
      iceServerUris([
        { urls: 'stun:stun.example.net:3478' },
        { urls: ['turn:t.example.net:3478?transport=udp', 'turns:t.example.net:5349?transport=tcp'], username: 'u', credential: 'p' },
        { url: 'turn:t.example.net:3478?transport=tcp', urls: 'turn:t.example.net:3478?transport=udp' },
      ]),
    ).toEqual([
      'stun:stun.example.net:3478',
      'turn:t.example.net:3478?transport=udp',
      'turns:t.example.net:5349?transport=tcp',
      'turn:t.example.net:3478?transport=tcp',
    ]);
  });

  it('drop URLs on port 53, which browsers block, whatever the scheme or host form', () => {
    expect(
      iceServerUris([
        {
          urls: [
            'stun:stun.example.net:53',
            'turn:t.example.net:53?transport=udp',
            'turn:[2001:db8::1]:53',
            'turns:t.example.net:53?transport=tcp',
            'turn:t.example.net:5353',
            'turn:t.example.net',
          ],
        },
      ]),
    ).toEqual(['turn:t.example.net:5353', 'turn:t.example.net']);
  });

  it('leave out what is no STUN or TURN URL, and refuse what is no list of ICE servers', () => {
    expect(iceServerUris([{ urls: ['https://t.example.net', 42, 'turn:t.example.net?transport=sctp', 'turn:t.example.net'] }])).toEqual([
      'turn:t.example.net',
    ]);
    expect(iceServerUris({ urls: 'turn:t.example.net' })).toBeUndefined();
    expect(iceServerUris(['turn:t.example.net'])).toBeUndefined();
    expect(iceServerUris(undefined)).toBeUndefined();
  });

  it('find the first TURN credential among them', () => {
    expect(iceServerCredential([{ urls: 'stun:s' }, { urls: 'turn:t', username: 'u', credential: 'p' }])).toEqual({
      username: 'u',
      password: 'p',
    });
    expect(iceServerCredential([{ urls: 'turn:t', username: 'u' }])).toBeUndefined();
  });
});
