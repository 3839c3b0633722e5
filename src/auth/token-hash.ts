// Tokens are never kept: caches and logs use this digest instead. The request path
// computes it once (see routes.ts) and hands it on, so no request hashes its token twice.
// crypto.hash is the one-shot form: no Hash object to allocate and collect per request.

import { hash } from 'node:crypto';

export function tokenHash(token: string): string {
  return hash('sha256', token, 'base64url');
}
