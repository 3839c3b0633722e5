// The verifier contract: an access token (and the request facts a verifier may need) in,
// the Matrix identity out. A verifier throws MatrixError: M_UNKNOWN_TOKEN (401) when the
// token is not good, an upstream 5xx M_UNKNOWN when it cannot tell. And what the route
// holds: the token cache in front of the verifier, looked into first without waiting.

export interface Identity {
  readonly userId: string;
  readonly isGuest: boolean;
  /** When the token itself stops being valid, if known: no cache keeps an answer past it. */
  readonly expiresAtMs?: number;
}

export interface RequestFacts {
  /** X-Matrix-User-Identifier, for the appservice method. */
  readonly userIdHeader?: string;
}

export interface TokenVerifier {
  readonly method: string;
  verify(token: string, facts: RequestFacts): Promise<Identity>;
  close?(): Promise<void>;
}

/**
 * The answers about tokens, kept by the token's hash (tokenHash, token-hash.ts), which
 * the caller computes once per request and passes to both.
 */
export interface TokenCache {
  /**
   * The identity already known for this token (kept and still valid), counted as a cache
   * hit; undefined when the token must go through verify(). Synchronous, so the common
   * request awaits nothing before the rate limit. `facts` matter to the appservice method only.
   */
  peek(tokenHash: string, facts?: RequestFacts): Identity | undefined;
  /** The token's identity: from the cache (a kept refusal is thrown again), or verified and then kept. */
  verify(token: string, tokenHash: string, facts: RequestFacts): Promise<Identity>;
  /** Releases the verifier's connections and secret files. */
  close(): Promise<void>;
}
