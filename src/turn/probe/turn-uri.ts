// A stun:, stuns:, turn: or turns: URI (RFC 7064, RFC 7065) read into where and how to
// reach the server: `turn:host[:port][?transport=udp|tcp]`, an IPv6 literal in brackets,
// port 3478 by default and 5349 for the secure schemes. stun: is checked over UDP, turn:
// over UDP unless ?transport=tcp, and stuns:/turns: over TLS (TCP) whatever their
// ?transport says: that is what clients do with them (libwebrtc's ice_server_parsing.cc
// and Firefox's PeerConnectionImpl both set TLS for turns: after reading the query, so a
// turns:…?transport=udp is TLS over TCP to that port, never DTLS), and the probe checks
// the server the way a client will reach it.

import { isIPv6 } from 'node:net';

export type TurnScheme = 'stun' | 'stuns' | 'turn' | 'turns';

export interface TurnUri {
  readonly scheme: TurnScheme;
  /** A name, an IPv4 address, or an IPv6 address without its brackets. */
  readonly host: string;
  readonly port: number;
  readonly transport: 'udp' | 'tcp' | 'tls';
  /** stuns:/turns:: the connection is TLS. */
  readonly secure: boolean;
}

/** Thrown by parseTurnUri; the message says what is wrong, in words. */
export class InvalidTurnUri extends Error {
  override readonly name = 'InvalidTurnUri';
}

const URI = /^(stuns?|turns?):(\[[^\]]*\]|[A-Za-z0-9._~-]+)(?::(\d{1,5}))?(?:\?(.*))?$/i;

export function parseTurnUri(uri: string): TurnUri {
  const match = URI.exec(uri);
  if (match === null) throw new InvalidTurnUri(`"${uri}" is not a stun:, stuns:, turn: or turns: URI such as turn:turn.example.org:3478`);
  const scheme = match[1]!.toLowerCase() as TurnScheme;
  const rawHost = match[2]!;
  const host = rawHost.startsWith('[') ? rawHost.slice(1, -1) : rawHost;
  if (rawHost.startsWith('[') && !isIPv6(host)) throw new InvalidTurnUri(`"${uri}": [${host}] is not an IPv6 address`);
  const secure = scheme === 'stuns' || scheme === 'turns';
  const port = match[3] === undefined ? (secure ? 5349 : 3478) : Number(match[3]);
  if (port < 1 || port > 65535) throw new InvalidTurnUri(`"${uri}": port ${match[3]} is not between 1 and 65535`);
  const transport = transportOf(uri, scheme, secure, match[4]);
  return { scheme, host, port, transport, secure };
}

function transportOf(uri: string, scheme: TurnScheme, secure: boolean, query: string | undefined): TurnUri['transport'] {
  if (query === undefined) return secure ? 'tls' : 'udp';
  if (scheme === 'stun' || scheme === 'stuns') throw new InvalidTurnUri(`"${uri}": a ${scheme}: URI takes no ?${query}`);
  const asked = /^transport=(udp|tcp)$/i.exec(query)?.[1]?.toLowerCase();
  if (asked === undefined) throw new InvalidTurnUri(`"${uri}": the only query is ?transport=udp or ?transport=tcp`);
  return secure ? 'tls' : (asked as 'udp' | 'tcp');
}
