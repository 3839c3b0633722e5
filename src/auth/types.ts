// The verifier contract: an access token (and the request facts a verifier may need) in,
// the Matrix identity out. A verifier throws MatrixError: M_UNKNOWN_TOKEN (401) when the
// token is not good, an upstream 5xx M_UNKNOWN when it cannot tell.

export interface Identity {
  readonly userId: string;
  readonly isGuest: boolean;
  /** When the token itself stops being valid, if known: no cache keeps an answer past it. */
  readonly expiresAtMs?: number;
}

export interface RequestFacts {
  /** X-Matrix-User-Identifier, for the appservice method. */
  readonly userIdHeader?: string;
  /** tokenHash(token), when the caller has already computed it. */
  readonly tokenHash?: string;
}

export interface TokenVerifier {
  readonly method: string;
  verify(token: string, facts: RequestFacts): Promise<Identity>;
  /**
   * The identity already known for this token (cached and still valid), counted as a
   * cache hit; undefined when the token must go through verify(). Synchronous, so the
   * common request awaits nothing before the rate limit.
   */
  cachedIdentity?(tokenHash: string): Identity | undefined;
  close?(): Promise<void>;
}
