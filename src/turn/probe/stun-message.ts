// STUN messages (RFC 8489) as bytes and back: the 20-byte header (type, length, magic
// cookie, transaction id), attributes padded to four bytes, MESSAGE-INTEGRITY (HMAC-SHA1;
// for long-term credentials keyed with MD5(username:realm:password)) and FINGERPRINT
// (CRC-32 xor 0x5354554e). A message is its method, class, transaction id and a list of
// raw attributes; the attributes a TURN probe sends or reads (RFC 8656: LIFETIME,
// REQUESTED-TRANSPORT, XOR-RELAYED-ADDRESS) have their own builders and readers, and any
// other attribute passes through as bytes. Only what a client needs: no SHA-256
// integrity, no USERHASH, no SASLprep (the TURN REST API's usernames and passwords are
// ASCII, which SASLprep leaves as they are).

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { crc32 } from 'node:zlib';

export const MAGIC_COOKIE = 0x2112a442;
const HEADER_BYTES = 20;
const INTEGRITY_BYTES = 20;
const FINGERPRINT_XOR = 0x5354554e;

export const StunMethod = { binding: 0x001, allocate: 0x003, refresh: 0x004 } as const;

export type StunClass = 'request' | 'indication' | 'success' | 'error';
const CLASS_BITS: Record<StunClass, number> = { request: 0x0000, indication: 0x0010, success: 0x0100, error: 0x0110 };

export const StunAttr = {
  MAPPED_ADDRESS: 0x0001,
  USERNAME: 0x0006,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009,
  LIFETIME: 0x000d,
  REALM: 0x0014,
  NONCE: 0x0015,
  XOR_RELAYED_ADDRESS: 0x0016,
  REQUESTED_TRANSPORT: 0x0019,
  XOR_MAPPED_ADDRESS: 0x0020,
  SOFTWARE: 0x8022,
  FINGERPRINT: 0x8028,
} as const;

/** REQUESTED-TRANSPORT's protocol number for UDP (RFC 8656 §18.7), the only one TURN relays by default. */
export const TRANSPORT_UDP = 17;

export interface TransportAddress {
  readonly address: string;
  readonly port: number;
  readonly family: 4 | 6;
}

export interface StunAttribute {
  readonly type: number;
  readonly value: Buffer;
}

export interface StunMessage {
  /** 12-bit method: StunMethod. */
  readonly method: number;
  readonly class: StunClass;
  /** 12 bytes. */
  readonly transactionId: Buffer;
  /** In order, without MESSAGE-INTEGRITY and FINGERPRINT (encodeMessage adds those). */
  readonly attributes: readonly StunAttribute[];
}

/** A message read from the wire, with what its integrity and fingerprint cover. */
export interface DecodedStunMessage extends StunMessage {
  /** The bytes before MESSAGE-INTEGRITY, and the integrity value; absent when it has none. */
  readonly integrity?: { readonly covered: Buffer; readonly value: Buffer };
  readonly fingerprint?: 'valid' | 'invalid';
}

export interface EncodeOptions {
  /** Adds MESSAGE-INTEGRITY with this HMAC-SHA1 key (longTermKey, or a short-term password's bytes). */
  readonly integrityKey?: Buffer;
  /** Adds FINGERPRINT. */
  readonly fingerprint?: boolean;
  /** The byte padding attribute values (any is legal; RFC 5769's vectors use spaces). Default 0. */
  readonly padding?: number;
}

/** Thrown by decodeMessage: the bytes are not one well-formed STUN message. */
export class MalformedStunMessage extends Error {
  override readonly name = 'MalformedStunMessage';
}

const padded = (length: number) => (length + 3) & ~3;

/** The long-term credential key (RFC 8489 §9.2.2): MD5(username ":" realm ":" password). */
export function longTermKey(username: string, realm: string, password: string): Buffer {
  return createHash('md5').update(`${username}:${realm}:${password}`, 'utf8').digest();
}

export function encodeMessage(message: StunMessage, options: EncodeOptions = {}): Buffer {
  if (message.transactionId.length !== 12) throw new RangeError('a STUN transaction id is 12 bytes');
  const parts: Buffer[] = [Buffer.alloc(HEADER_BYTES)];
  for (const { type, value } of message.attributes) {
    const attribute = Buffer.alloc(4 + padded(value.length), options.padding ?? 0);
    attribute.writeUInt16BE(type, 0);
    attribute.writeUInt16BE(value.length, 2);
    value.copy(attribute, 4);
    parts.push(attribute);
  }
  let bytes = Buffer.concat(parts);
  const method = message.method;
  const type = (method & 0x000f) | ((method & 0x0070) << 1) | ((method & 0x0f80) << 2) | CLASS_BITS[message.class];
  bytes.writeUInt16BE(type, 0);
  bytes.writeUInt32BE(MAGIC_COOKIE, 4);
  message.transactionId.copy(bytes, 8);
  // Each of the two trailers is computed over the message with its length field already
  // counting the trailer itself (RFC 8489 §14.5, §14.7).
  if (options.integrityKey !== undefined) {
    bytes.writeUInt16BE(bytes.length - HEADER_BYTES + 4 + INTEGRITY_BYTES, 2);
    const hmac = createHmac('sha1', options.integrityKey).update(bytes).digest();
    bytes = Buffer.concat([bytes, attributeHeader(StunAttr.MESSAGE_INTEGRITY, INTEGRITY_BYTES), hmac]);
  }
  if (options.fingerprint === true) {
    bytes.writeUInt16BE(bytes.length - HEADER_BYTES + 8, 2);
    const value = Buffer.alloc(4);
    value.writeUInt32BE((crc32(bytes) ^ FINGERPRINT_XOR) >>> 0);
    bytes = Buffer.concat([bytes, attributeHeader(StunAttr.FINGERPRINT, 4), value]);
  }
  bytes.writeUInt16BE(bytes.length - HEADER_BYTES, 2);
  return bytes;
}

function attributeHeader(type: number, length: number): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt16BE(type, 0);
  header.writeUInt16BE(length, 2);
  return header;
}

/**
 * The length of the STUN message at the start of `bytes` (header included), or undefined
 * while fewer than 20 bytes are there: how a stream (TCP, TLS) is cut into messages, which
 * follow each other there without framing (RFC 8489 §6.2.2). Throws MalformedStunMessage
 * when the header is not a STUN header, rather than wait for a length read from garbage.
 */
export function messageLength(bytes: Buffer): number | undefined {
  if (bytes.length < HEADER_BYTES) return undefined;
  checkHeader(bytes);
  return HEADER_BYTES + bytes.readUInt16BE(2);
}

function checkHeader(bytes: Buffer): void {
  if ((bytes.readUInt16BE(0) & 0xc000) !== 0) throw new MalformedStunMessage('the first two bits are not zero: not a STUN message');
  if (bytes.readUInt32BE(4) !== MAGIC_COOKIE) throw new MalformedStunMessage('no magic cookie: not an RFC 5389/8489 STUN message');
}

/** Reads one STUN message; throws MalformedStunMessage when the bytes are not exactly one. */
export function decodeMessage(bytes: Buffer): DecodedStunMessage {
  if (bytes.length < HEADER_BYTES) throw new MalformedStunMessage(`${bytes.length} bytes is shorter than a STUN header`);
  checkHeader(bytes);
  const type = bytes.readUInt16BE(0);
  const length = bytes.readUInt16BE(2);
  if (length % 4 !== 0 || HEADER_BYTES + length !== bytes.length) {
    throw new MalformedStunMessage(`the header says ${length} bytes of attributes, ${bytes.length - HEADER_BYTES} came`);
  }
  const attributes: StunAttribute[] = [];
  let integrity: DecodedStunMessage['integrity'];
  let fingerprint: DecodedStunMessage['fingerprint'];
  for (let offset = HEADER_BYTES; offset < bytes.length;) {
    if (fingerprint !== undefined) throw new MalformedStunMessage('an attribute after FINGERPRINT');
    if (offset + 4 > bytes.length) throw new MalformedStunMessage('a truncated attribute header');
    const attrType = bytes.readUInt16BE(offset);
    const valueLength = bytes.readUInt16BE(offset + 2);
    const end = offset + 4 + valueLength;
    if (end > bytes.length) throw new MalformedStunMessage(`attribute 0x${attrType.toString(16)} runs past the message`);
    const value = bytes.subarray(offset + 4, end);
    if (attrType === StunAttr.FINGERPRINT) {
      if (valueLength !== 4) throw new MalformedStunMessage('a FINGERPRINT that is not 4 bytes');
      fingerprint = value.readUInt32BE(0) === (crc32(withLength(bytes, offset, end)) ^ FINGERPRINT_XOR) >>> 0 ? 'valid' : 'invalid';
    } else if (attrType === StunAttr.MESSAGE_INTEGRITY) {
      if (valueLength !== INTEGRITY_BYTES) throw new MalformedStunMessage('a MESSAGE-INTEGRITY that is not 20 bytes');
      integrity ??= { covered: withLength(bytes, offset, end), value };
    } else if (integrity === undefined) {
      // Attributes after MESSAGE-INTEGRITY (other than FINGERPRINT) are not covered by it and are ignored (RFC 8489 §14.5).
      attributes.push({ type: attrType, value });
    }
    offset = offset + 4 + padded(valueLength);
  }
  return {
    method: (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2),
    class: (['request', 'indication', 'success', 'error'] as const)[((type & 0x0010) >> 4) | ((type & 0x0100) >> 7)]!,
    transactionId: Buffer.from(bytes.subarray(8, HEADER_BYTES)),
    attributes,
    ...(integrity !== undefined && { integrity }),
    ...(fingerprint !== undefined && { fingerprint }),
  };
}

/** The bytes before the attribute at `offset`, with the header's length set as if the message ended at `end`. */
function withLength(bytes: Buffer, offset: number, end: number): Buffer {
  const covered = Buffer.from(bytes.subarray(0, offset));
  covered.writeUInt16BE(end - HEADER_BYTES, 2);
  return covered;
}

/** Whether the message's MESSAGE-INTEGRITY matches `key`; false when it has none. */
export function integrityMatches(message: DecodedStunMessage, key: Buffer): boolean {
  if (message.integrity === undefined) return false;
  const expected = createHmac('sha1', key).update(message.integrity.covered).digest();
  return timingSafeEqual(expected, message.integrity.value);
}

// Attribute builders and readers.

export function findAttribute(message: StunMessage, type: number): Buffer | undefined {
  return message.attributes.find((attribute) => attribute.type === type)?.value;
}

export function textAttribute(type: number, text: string): StunAttribute {
  return { type, value: Buffer.from(text, 'utf8') };
}

export function readText(message: StunMessage, type: number): string | undefined {
  return findAttribute(message, type)?.toString('utf8');
}

export function lifetimeAttribute(seconds: number): StunAttribute {
  const value = Buffer.alloc(4);
  value.writeUInt32BE(seconds);
  return { type: StunAttr.LIFETIME, value };
}

export function readLifetime(message: StunMessage): number | undefined {
  const value = findAttribute(message, StunAttr.LIFETIME);
  return value?.length === 4 ? value.readUInt32BE(0) : undefined;
}

export function requestedTransportAttribute(protocol: number): StunAttribute {
  // The protocol number, then three reserved bytes (RFFU).
  return { type: StunAttr.REQUESTED_TRANSPORT, value: Buffer.from([protocol, 0, 0, 0]) };
}

export interface StunErrorCode {
  /** 300 to 699: class * 100 + number. */
  readonly code: number;
  readonly reason: string;
}

export function errorCodeAttribute({ code, reason }: StunErrorCode): StunAttribute {
  const value = Buffer.concat([Buffer.from([0, 0, Math.floor(code / 100), code % 100]), Buffer.from(reason, 'utf8')]);
  return { type: StunAttr.ERROR_CODE, value };
}

export function readErrorCode(message: StunMessage): StunErrorCode | undefined {
  const value = findAttribute(message, StunAttr.ERROR_CODE);
  if (value === undefined || value.length < 4) return undefined;
  return { code: (value[2]! & 0x07) * 100 + value[3]!, reason: value.subarray(4).toString('utf8') };
}

/** An address attribute; XOR-… types are xored with the magic cookie and the transaction id (RFC 8489 §14.2). */
export function addressAttribute(type: number, address: TransportAddress, transactionId: Buffer, xor: boolean): StunAttribute {
  const ip = ipBytes(address.address);
  const value = Buffer.alloc(4 + ip.length);
  value[1] = address.family === 4 ? 0x01 : 0x02;
  value.writeUInt16BE(address.port, 2);
  ip.copy(value, 4);
  return { type, value: xor ? xorAddress(value, transactionId) : value };
}

/** The address in an attribute of `type`; undefined when absent or malformed. */
export function readAddress(message: StunMessage, type: number, xor: boolean): TransportAddress | undefined {
  const raw = findAttribute(message, type);
  if (raw === undefined || raw.length < 4) return undefined;
  const family = raw[1] === 0x01 ? 4 : raw[1] === 0x02 ? 6 : undefined;
  if (family === undefined || raw.length !== (family === 4 ? 8 : 20)) return undefined;
  const value = xor ? xorAddress(raw, message.transactionId) : raw;
  return { address: ipText(value.subarray(4)), port: value.readUInt16BE(2), family };
}

function xorAddress(value: Buffer, transactionId: Buffer): Buffer {
  const mask = Buffer.alloc(16);
  mask.writeUInt32BE(MAGIC_COOKIE, 0);
  transactionId.copy(mask, 4);
  const out = Buffer.from(value);
  out[2]! ^= mask[0]!;
  out[3]! ^= mask[1]!;
  for (let i = 4; i < out.length; i += 1) out[i]! ^= mask[i - 4]!;
  return out;
}

function ipBytes(address: string): Buffer {
  if (isIPv4(address)) return Buffer.from(address.split('.').map(Number));
  if (!isIPv6(address)) throw new RangeError(`"${address}" is not an IP address`);
  const [head = '', tail] = address.split('::') as [string, string | undefined];
  const groups = (part: string) => (part === '' ? [] : part.split(':')).flatMap((g) => (g.includes('.') ? ipv4Groups(g) : [g]));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const bytes = Buffer.alloc(16);
  all.forEach((group, i) => bytes.writeUInt16BE(parseInt(group, 16), i * 2));
  return bytes;
}

const ipv4Groups = (dotted: string) => {
  const [a, b, c, d] = dotted.split('.').map(Number) as [number, number, number, number];
  return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
};

function ipText(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  // The URL parser writes an IPv6 address in its canonical short form (RFC 5952).
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}
