// What kind of address a TURN server hands out or a URI names: one clients elsewhere on
// the Internet can reach (public) or not (private, CGNAT, link-local, loopback). A relayed
// address of the second kind on a server whose URI names a public host is the classic
// missing `external-ip`: coturn behind NAT announces the address it sees on its interface.

import { BlockList, isIP } from 'node:net';

export type AddressKind = 'public' | 'private' | 'loopback' | 'link-local' | 'unspecified';

const RANGES: readonly (readonly [Exclude<AddressKind, 'public'>, string, number, 'ipv4' | 'ipv6'])[] = [
  ['loopback', '127.0.0.0', 8, 'ipv4'],
  ['loopback', '::1', 128, 'ipv6'],
  ['unspecified', '0.0.0.0', 8, 'ipv4'],
  ['unspecified', '::', 128, 'ipv6'],
  // RFC 1918.
  ['private', '10.0.0.0', 8, 'ipv4'],
  ['private', '172.16.0.0', 12, 'ipv4'],
  ['private', '192.168.0.0', 16, 'ipv4'],
  // Carrier-grade NAT, RFC 6598.
  ['private', '100.64.0.0', 10, 'ipv4'],
  // Unique local addresses, RFC 4193.
  ['private', 'fc00::', 7, 'ipv6'],
  ['link-local', '169.254.0.0', 16, 'ipv4'],
  ['link-local', 'fe80::', 10, 'ipv6'],
];

/** The kind of an IPv4 or IPv6 address (an IPv4-mapped IPv6 address counts as its IPv4 one); a name is 'public' only once resolved. */
export function addressKind(address: string): AddressKind {
  const family = isIP(address);
  if (family === 0) throw new Error(`not an IP address: ${address}`);
  for (const [kind, network, prefix, type] of RANGES) {
    const list = new BlockList();
    list.addSubnet(network, prefix, type);
    if (list.check(address, family === 4 ? 'ipv4' : 'ipv6')) return kind;
  }
  return 'public';
}

/** Whether clients elsewhere could not reach this address. */
export function unreachableFromOutside(address: string): boolean {
  return addressKind(address) !== 'public';
}
