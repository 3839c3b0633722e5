// The request id: one per request, written in its access line and returned in the answer's
// X-Request-ID header (errors included), so the line of a request a user or a proxy's log
// points at can be found. The proxy's own X-Request-ID is taken only with TRUST_PROXY:
// otherwise any client could write it, and make its lines look like another request's. A
// proxy's id is kept when it is printable ASCII without `"` or `\`, at most 128 characters
// (nginx's $request_id, Envoy's and Traefik's UUIDs all are); else one is generated. The
// two characters are left out so that every id goes into the JSON line as it is, unescaped.
//
// Generated: a random prefix drawn once per process and a counter, "3f9a0c12b7e4-1a2b".
// Measured on node 20.20.2 (a loop of 300 000 calls after warm-up, medians of 7 rounds):
// about 40 ns an id, against 175 ns for crypto.randomUUID(). 48 random bits make two
// processes' prefixes alike with odds of about one in 10^8 for ten thousand starts. The
// counter tells a client roughly how many requests its replica answered between two of its
// own; docs/security.md says so.

import { randomBytes } from 'node:crypto';

export const REQUEST_ID_HEADER = 'X-Request-ID';

/** Printable ASCII but `"` and `\`, 1 to 128 characters. */
const FORWARDED_ID = /^[\x20\x21\x23-\x5b\x5d-\x7e]{1,128}$/;

/** The id of a request, from the value of its X-Request-ID header (Node gives repeated lines joined). */
export type RequestIdOf = (header: string | string[] | undefined) => string;

export interface RequestIdOptions {
  /** Take a proxy's X-Request-ID (TRUST_PROXY). */
  readonly trustProxy: boolean;
  /** This process's prefix of generated ids; by default 12 random hex digits. A test seam. */
  readonly prefix?: string;
}

export function requestIds(options: RequestIdOptions): RequestIdOf {
  const prefix = `${options.prefix ?? randomBytes(6).toString('hex')}-`;
  let count = 0;
  const generated = () => prefix + (count++).toString(36);
  if (!options.trustProxy) return generated;
  return (header) => (typeof header === 'string' && FORWARDED_ID.test(header) ? header : generated());
}
