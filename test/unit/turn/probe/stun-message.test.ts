// The STUN codec against RFC 5769's test vectors, byte for byte: each is decoded (its
// attributes, integrity and fingerprint checked) and encoded again from its parts. Then
// the TURN attributes a probe sends and reads, and what decodeMessage refuses.

import {
  MalformedStunMessage,
  StunAttr,
  StunMethod,
  addressAttribute,
  decodeMessage,
  encodeMessage,
  errorCodeAttribute,
  findAttribute,
  integrityMatches,
  lifetimeAttribute,
  longTermKey,
  messageLength,
  readAddress,
  readErrorCode,
  readLifetime,
  readText,
  requestedTransportAttribute,
  textAttribute,
  type StunMessage,
} from '../../../../src/turn/probe/stun-message.js';

const hex = (text: string) => Buffer.from(text.replace(/\s+/g, ''), 'hex');

// RFC 5769 §2.1-2.3 share a transaction id and a short-term password (the key is the password's bytes).
const SHORT_TERM_KEY = Buffer.from('VOkJxbRl1RmTxUk/WvJxBt', 'utf8');
const TRANSACTION = hex('b7 e7 a7 01 bc 34 d6 86 fa 87 df ae');
// PRIORITY and ICE-CONTROLLED: attributes the codec does not know, carried as bytes.
const PRIORITY = 0x0024;
const ICE_CONTROLLED = 0x8029;

/** RFC 5769 §2.1 Sample Request. */
const SAMPLE_REQUEST = hex(`
  00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74
  00 24 00 04 6e 00 01 ff
  80 29 00 08 93 2f f9 b1 51 26 3b 36
  00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20
  00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2
  80 28 00 04 e5 7a 3b cf`);

/** RFC 5769 §2.2 Sample IPv4 Response: XOR-MAPPED-ADDRESS 192.0.2.1:32853. */
const SAMPLE_IPV4_RESPONSE = hex(`
  01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
  00 20 00 08 00 01 a1 47 e1 12 a6 43
  00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7
  80 28 00 04 c0 7d 4c 96`);

/** RFC 5769 §2.3 Sample IPv6 Response: XOR-MAPPED-ADDRESS [2001:db8:1234:5678:11:2233:4455:6677]:32853. */
const SAMPLE_IPV6_RESPONSE = hex(`
  01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
  00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9
  00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41
  80 28 00 04 c8 fb 0b 4c`);

/**
 * RFC 5769 §2.4 Sample Request with Long-Term Authentication: USERNAME "マトリックス",
 * NONCE, REALM "example.org", the password "TheMatrIX" (after SASLprep); no FINGERPRINT.
 */
const LONG_TERM_REQUEST = hex(`
  00 01 00 60 21 12 a4 42 78 ad 34 33 c6 ad 72 c0 29 da 41 2e
  00 06 00 12 e3 83 9e e3 83 88 e3 83 aa e3 83 83 e3 82 af e3 82 b9 00 00
  00 15 00 1c 66 2f 2f 34 39 39 6b 39 35 34 64 36 4f 4c 33 34 6f 4c 39 46 53 54 76 79 36 34 73 41
  00 14 00 0b 65 78 61 6d 70 6c 65 2e 6f 72 67 00
  00 08 00 14 f6 70 24 65 6d d6 4a 3e 02 b8 e0 71 2e 85 c9 a2 8c a8 96 66`);
const LONG_TERM_USERNAME = '\u30DE\u30C8\u30EA\u30C3\u30AF\u30B9';
const LONG_TERM_NONCE = 'f//499k954d6OL34oL9FSTvy64sA';

/** What a decoded message is, without the bytes its trailers cover. */
const parts = (message: StunMessage): StunMessage => ({
  method: message.method,
  class: message.class,
  transactionId: message.transactionId,
  attributes: message.attributes,
});

describe('RFC 5769 test vectors', () => {
  it('§2.1 sample request: decodes to its attributes, integrity and fingerprint hold, and encodes to the same bytes', () => {
    const decoded = decodeMessage(SAMPLE_REQUEST);
    expect({ method: decoded.method, class: decoded.class, transactionId: decoded.transactionId }).toEqual({
      method: StunMethod.binding,
      class: 'request',
      transactionId: TRANSACTION,
    });
    expect(readText(decoded, StunAttr.SOFTWARE)).toBe('STUN test client');
    expect(readText(decoded, StunAttr.USERNAME)).toBe('evtj:h6vY');
    expect(findAttribute(decoded, PRIORITY)).toEqual(hex('6e 00 01 ff'));
    expect(findAttribute(decoded, ICE_CONTROLLED)).toEqual(hex('93 2f f9 b1 51 26 3b 36'));
    expect(decoded.attributes.map((a) => a.type)).toEqual([StunAttr.SOFTWARE, PRIORITY, ICE_CONTROLLED, StunAttr.USERNAME]);
    expect(integrityMatches(decoded, SHORT_TERM_KEY)).toBe(true);
    expect(integrityMatches(decoded, Buffer.from('another password'))).toBe(false);
    expect(decoded.fingerprint).toBe('valid');

    expect(encodeMessage(parts(decoded), { integrityKey: SHORT_TERM_KEY, fingerprint: true, padding: 0x20 })).toEqual(SAMPLE_REQUEST);
  });

  it('§2.2 sample IPv4 response: XOR-MAPPED-ADDRESS 192.0.2.1:32853, and the same bytes when built from its parts', () => {
    const decoded = decodeMessage(SAMPLE_IPV4_RESPONSE);
    expect({ method: decoded.method, class: decoded.class }).toEqual({ method: StunMethod.binding, class: 'success' });
    expect(readText(decoded, StunAttr.SOFTWARE)).toBe('test vector');
    expect(readAddress(decoded, StunAttr.XOR_MAPPED_ADDRESS, true)).toEqual({ address: '192.0.2.1', port: 32853, family: 4 });
    expect(integrityMatches(decoded, SHORT_TERM_KEY)).toBe(true);
    expect(decoded.fingerprint).toBe('valid');

    const built: StunMessage = {
      method: StunMethod.binding,
      class: 'success',
      transactionId: TRANSACTION,
      attributes: [
        textAttribute(StunAttr.SOFTWARE, 'test vector'),
        addressAttribute(StunAttr.XOR_MAPPED_ADDRESS, { address: '192.0.2.1', port: 32853, family: 4 }, TRANSACTION, true),
      ],
    };
    expect(encodeMessage(built, { integrityKey: SHORT_TERM_KEY, fingerprint: true, padding: 0x20 })).toEqual(SAMPLE_IPV4_RESPONSE);
  });

  it('§2.3 sample IPv6 response: XOR-MAPPED-ADDRESS [2001:db8:1234:5678:11:2233:4455:6677]:32853, both ways', () => {
    const decoded = decodeMessage(SAMPLE_IPV6_RESPONSE);
    const address = { address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853, family: 6 } as const;
    expect(readAddress(decoded, StunAttr.XOR_MAPPED_ADDRESS, true)).toEqual(address);
    expect(integrityMatches(decoded, SHORT_TERM_KEY)).toBe(true);
    expect(decoded.fingerprint).toBe('valid');

    const built: StunMessage = {
      method: StunMethod.binding,
      class: 'success',
      transactionId: TRANSACTION,
      attributes: [
        textAttribute(StunAttr.SOFTWARE, 'test vector'),
        addressAttribute(StunAttr.XOR_MAPPED_ADDRESS, address, TRANSACTION, true),
      ],
    };
    expect(encodeMessage(built, { integrityKey: SHORT_TERM_KEY, fingerprint: true, padding: 0x20 })).toEqual(SAMPLE_IPV6_RESPONSE);
  });

  it('§2.4 request with long-term authentication: the key is MD5(username:realm:password), both ways', () => {
    const decoded = decodeMessage(LONG_TERM_REQUEST);
    expect(readText(decoded, StunAttr.USERNAME)).toBe(LONG_TERM_USERNAME);
    expect(readText(decoded, StunAttr.NONCE)).toBe(LONG_TERM_NONCE);
    expect(readText(decoded, StunAttr.REALM)).toBe('example.org');
    expect(decoded.fingerprint).toBeUndefined();
    const key = longTermKey(LONG_TERM_USERNAME, 'example.org', 'TheMatrIX');
    expect(integrityMatches(decoded, key)).toBe(true);
    expect(integrityMatches(decoded, longTermKey(LONG_TERM_USERNAME, 'example.org', 'TheMatrix'))).toBe(false);

    const built: StunMessage = {
      method: StunMethod.binding,
      class: 'request',
      transactionId: hex('78 ad 34 33 c6 ad 72 c0 29 da 41 2e'),
      attributes: [
        textAttribute(StunAttr.USERNAME, LONG_TERM_USERNAME),
        textAttribute(StunAttr.NONCE, LONG_TERM_NONCE),
        textAttribute(StunAttr.REALM, 'example.org'),
      ],
    };
    expect(encodeMessage(built, { integrityKey: key })).toEqual(LONG_TERM_REQUEST);
  });

  it('a changed byte shows: the fingerprint no longer holds, nor the integrity', () => {
    const altered = Buffer.from(SAMPLE_IPV4_RESPONSE);
    altered[30] = altered[30]! ^ 0x01; // inside XOR-MAPPED-ADDRESS
    const decoded = decodeMessage(altered);
    expect(decoded.fingerprint).toBe('invalid');
    expect(integrityMatches(decoded, SHORT_TERM_KEY)).toBe(false);
  });
});

describe('TURN attributes (RFC 8656)', () => {
  const transactionId = hex('01 02 03 04 05 06 07 08 09 0a 0b 0c');

  it('an Allocate request: REQUESTED-TRANSPORT UDP and LIFETIME, as RFC 8656 lays them out', () => {
    const bytes = encodeMessage({
      method: StunMethod.allocate,
      class: 'request',
      transactionId,
      attributes: [requestedTransportAttribute(17), lifetimeAttribute(600)],
    });
    expect(bytes).toEqual(
      hex(`00 03 00 10 21 12 a4 42 01 02 03 04 05 06 07 08 09 0a 0b 0c
      00 19 00 04 11 00 00 00
      00 0d 00 04 00 00 02 58`),
    );
    expect(readLifetime(decodeMessage(bytes))).toBe(600);
  });

  it('an Allocate success: XOR-RELAYED-ADDRESS and XOR-MAPPED-ADDRESS read back, IPv4 and IPv6', () => {
    const relayed = { address: '2001:db8::1', port: 50000, family: 6 } as const;
    const reflexive = { address: '203.0.113.7', port: 3478, family: 4 } as const;
    const decoded = decodeMessage(
      encodeMessage({
        method: StunMethod.allocate,
        class: 'success',
        transactionId,
        attributes: [
          addressAttribute(StunAttr.XOR_RELAYED_ADDRESS, relayed, transactionId, true),
          addressAttribute(StunAttr.XOR_MAPPED_ADDRESS, reflexive, transactionId, true),
          addressAttribute(StunAttr.MAPPED_ADDRESS, reflexive, transactionId, false),
          lifetimeAttribute(0),
        ],
      }),
    );
    expect({ method: decoded.method, class: decoded.class }).toEqual({ method: StunMethod.allocate, class: 'success' });
    expect(readAddress(decoded, StunAttr.XOR_RELAYED_ADDRESS, true)).toEqual(relayed);
    expect(readAddress(decoded, StunAttr.XOR_MAPPED_ADDRESS, true)).toEqual(reflexive);
    expect(readAddress(decoded, StunAttr.MAPPED_ADDRESS, false)).toEqual(reflexive);
    expect(readLifetime(decoded)).toBe(0);
  });

  it('an error response: ERROR-CODE as class and number with its reason phrase, for every method and class bit', () => {
    for (const method of [StunMethod.binding, StunMethod.allocate, StunMethod.refresh]) {
      const bytes = encodeMessage({
        method,
        class: 'error',
        transactionId,
        attributes: [errorCodeAttribute({ code: 438, reason: 'Stale Nonce' })],
      });
      expect(findAttribute(decodeMessage(bytes), StunAttr.ERROR_CODE)).toEqual(
        Buffer.concat([hex('00 00 04 26'), Buffer.from('Stale Nonce')]),
      );
      const decoded = decodeMessage(bytes);
      expect({ method: decoded.method, class: decoded.class, error: readErrorCode(decoded) }).toEqual({
        method,
        class: 'error',
        error: { code: 438, reason: 'Stale Nonce' },
      });
    }
    expect(encodeMessage({ method: StunMethod.refresh, class: 'error', transactionId, attributes: [] }).readUInt16BE(0)).toBe(0x0114);
  });

  it('ignores what follows MESSAGE-INTEGRITY except FINGERPRINT (RFC 8489 §14.5)', () => {
    const signed = encodeMessage(
      { method: StunMethod.binding, class: 'success', transactionId, attributes: [lifetimeAttribute(1)] },
      {
        integrityKey: Buffer.from('k'),
      },
    );
    const extra = hex('80 22 00 04 61 62 63 64');
    const bytes = Buffer.concat([signed, extra]);
    bytes.writeUInt16BE(bytes.length - 20, 2);
    const decoded = decodeMessage(bytes);
    expect(decoded.attributes.map((a) => a.type)).toEqual([StunAttr.LIFETIME]);
    expect(integrityMatches(decoded, Buffer.from('k'))).toBe(true);
  });
});

describe('what decodeMessage refuses', () => {
  const valid = () => Buffer.from(SAMPLE_IPV4_RESPONSE);

  it.each([
    ['shorter than a header', () => valid().subarray(0, 19), /shorter than a STUN header/],
    ['without the magic cookie (RFC 3489)', () => Object.assign(valid(), { 4: 0 }), /no magic cookie/],
    ['not starting with two zero bits (ChannelData)', () => Object.assign(valid(), { 0: 0x40 }), /not a STUN message/],
    [
      'a length that disagrees with the bytes',
      () => valid().subarray(0, valid().length - 4),
      /the header says 60 bytes of attributes, 56 came/,
    ],
    [
      'an attribute running past the end',
      () => {
        const bytes = valid();
        bytes.writeUInt16BE(0x00ff, 22); // SOFTWARE's length
        return bytes;
      },
      /runs past the message/,
    ],
    [
      'an attribute after FINGERPRINT',
      () => {
        const bytes = Buffer.concat([valid(), hex('80 22 00 00')]);
        bytes.writeUInt16BE(bytes.length - 20, 2);
        return bytes;
      },
      /after FINGERPRINT/,
    ],
  ])('%s', (_name, bytes, message) => {
    expect(() => decodeMessage(bytes())).toThrow(MalformedStunMessage);
    expect(() => decodeMessage(bytes())).toThrow(message);
  });

  it('messageLength cuts a stream: undefined before a whole header, then header plus attributes; a header that is not STUN throws', () => {
    expect(messageLength(SAMPLE_IPV4_RESPONSE.subarray(0, 19))).toBeUndefined();
    expect(messageLength(Buffer.concat([SAMPLE_IPV4_RESPONSE, SAMPLE_REQUEST]))).toBe(SAMPLE_IPV4_RESPONSE.length);
    expect(() => messageLength(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'))).toThrow(MalformedStunMessage);
  });
});
