// A provider's list of ICE servers (RTCIceServer objects: `urls` a string or a list, or
// Twilio's legacy `url`) turned into the `uris` of a Matrix answer: each stun:, stuns:,
// turn: or turns: URL once, in the order given, STUN kept (the Matrix answer has one list
// for both), and any URL on port 53 dropped: browsers block port 53, so a client would
// only wait for it to time out (Cloudflare's docs say to filter it out without trickle ICE).

import { InvalidTurnUri, parseTurnUri } from '../probe/turn-uri.js';

/** One entry of a provider's ICE server list as documented; anything else in it is ignored. */
export interface IceServer {
  readonly urls?: string | readonly string[];
  /** Twilio's ice_servers carry this legacy single URL beside `urls`. */
  readonly url?: string;
  readonly username?: string;
  readonly credential?: string;
}

/** The URIs of a list of ICE servers, or undefined when `servers` is no list of them. */
export function iceServerUris(servers: unknown): string[] | undefined {
  if (!Array.isArray(servers)) return undefined;
  const uris = new Set<string>();
  for (const server of servers as unknown[]) {
    if (server === null || typeof server !== 'object') return undefined;
    const { urls, url } = server as { urls?: unknown; url?: unknown };
    const listed: unknown[] = typeof urls === 'string' ? [urls] : Array.isArray(urls) ? (urls as unknown[]) : [];
    for (const candidate of [...listed, url]) if (typeof candidate === 'string' && usable(candidate)) uris.add(candidate);
  }
  return [...uris];
}

/** The first TURN credential (username and credential) a list of ICE servers carries. */
export function iceServerCredential(servers: unknown): { username: string; password: string } | undefined {
  if (!Array.isArray(servers)) return undefined;
  for (const server of servers as unknown[]) {
    const { username, credential } = (server ?? {}) as IceServer;
    if (typeof username === 'string' && username !== '' && typeof credential === 'string' && credential !== '')
      return { username, password: credential };
  }
  return undefined;
}

function usable(uri: string): boolean {
  try {
    return parseTurnUri(uri).port !== 53;
  } catch (error) {
    // Not a STUN or TURN URI the Matrix answer may carry (a typo'd scheme, a query we do not know): left out.
    if (error instanceof InvalidTurnUri) return false;
    throw error;
  }
}
