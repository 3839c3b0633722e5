// The client's address, as the per-address limits see it. Without TRUST_PROXY it is the
// socket's peer and X-Forwarded-For is ignored (any client can write that header). With
// TRUST_PROXY it is the right-most X-Forwarded-For entry: the one our proxy appended,
// the same choice as Koa's `proxy` with `maxIpsCount: 1`; entries further left are only
// what the client claimed. An entry that is not an IP address falls back to the peer, so
// junk in the header cannot mint a fresh budget. IPv6 addresses are keyed by their /64:
// one subscriber routinely holds a whole /64 and could otherwise rotate addresses freely.
// The access log writes the same address in full (clientAddress).

import { isIP } from 'node:net';

export interface AddressFacts {
  /** The TCP peer (req.socket.remoteAddress); undefined once the socket is gone. */
  readonly remoteAddress: string | undefined;
  /** Every X-Forwarded-For header line received (req.headersDistinct), or them joined (req.headers). */
  readonly forwardedFor: string | readonly string[] | undefined;
  readonly trustProxy: boolean;
}

/** The key the client's requests are counted under: an IPv4 address or an IPv6 /64. */
export function clientAddressKey(facts: AddressFacts): string {
  const peer = facts.remoteAddress ?? '';
  const forwarded = facts.trustProxy ? rightMostForwarded(facts.forwardedFor) : undefined;
  return addressKey(forwarded ?? peer) ?? addressKey(peer) ?? 'unknown';
}

/** How a dual-stack socket reports an IPv4 peer. */
const MAPPED_V4 = '::ffff:';

/**
 * The address the access log writes: the one clientAddressKey counts, in full, an
 * IPv4-mapped peer as IPv4; undefined when the socket is gone and nothing was forwarded.
 * A forwarded entry is one isIP accepts and the peer is the kernel's (hex digits, dots,
 * colons), so neither needs escaping in a JSON string. The peer is not run through isIP:
 * it costs about 180 ns for an IPv6 address, on every request.
 */
export function clientAddress(facts: AddressFacts): string | undefined {
  const forwarded = facts.trustProxy ? rightMostForwarded(facts.forwardedFor) : undefined;
  const address = forwarded !== undefined && isIP(forwarded) !== 0 ? forwarded : facts.remoteAddress;
  return address?.startsWith(MAPPED_V4) && isIP(address.slice(MAPPED_V4.length)) === 4 ? address.slice(MAPPED_V4.length) : address;
}

function rightMostForwarded(lines: string | readonly string[] | undefined): string | undefined {
  if (lines === undefined || lines.length === 0) return undefined;
  const joined = typeof lines === 'string' ? lines : lines.join(',');
  const last = joined.slice(joined.lastIndexOf(',') + 1).trim();
  return last === '' ? undefined : stripPort(last);
}

/**
 * Proxies differ: some append "1.2.3.4:5678" or "[2001:db8::1]:5678". An entry with no
 * colon, or several and no bracket (IPv6), has no port: the common cases skip the
 * patterns, which cost the access log of every proxied request about 150 ns.
 */
function stripPort(entry: string): string {
  if (entry.startsWith('[')) {
    const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(entry);
    return bracketed ? bracketed[1]! : entry;
  }
  const colon = entry.indexOf(':');
  if (colon === -1 || colon !== entry.lastIndexOf(':')) return entry;
  const v4WithPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(entry);
  return v4WithPort ? v4WithPort[1]! : entry;
}

/** An IPv4 address as is, an IPv6 address as its /64 prefix; undefined if not an address. */
export function addressKey(address: string): string | undefined {
  const version = isIP(address);
  if (version === 4) return address;
  if (version !== 6) return undefined;
  const groups = ipv6Groups(address);
  const mappedV4 = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
  if (mappedV4) return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.');
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}

/** The eight 16-bit groups of an address isIP() accepted as IPv6. */
function ipv6Groups(address: string): number[] {
  let text = address.split('%', 1)[0]!.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [left, right] = text.includes('::') ? text.split('::') : [text, undefined];
  const head = left ? left.split(':') : [];
  const tail = right ? right.split(':') : [];
  const zeros = right === undefined ? [] : new Array<string>(8 - head.length - tail.length).fill('0');
  return [...head, ...zeros, ...tail].map((group) => parseInt(group, 16));
}
