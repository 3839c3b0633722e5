// The one error type of the service: a Matrix error with its HTTP status, errcode, the
// message a client may see, and any headers (Retry-After). Domain modules throw it, made
// by the named factory for their case; `httpAnswer` is the one mapping to status, headers
// and body, used by every place that answers (the Koa error step, the answers written to
// a raw socket, the URL-length limit). `detail` is for logs only and never leaves the
// process. A shared part: it knows HTTP statuses, but imports nothing of http/.

export type MatrixErrcode =
  | 'M_MISSING_TOKEN'
  | 'M_UNKNOWN_TOKEN'
  | 'M_FORBIDDEN'
  | 'M_USER_LOCKED'
  | 'M_USER_DEACTIVATED'
  | 'M_GUEST_ACCESS_FORBIDDEN'
  | 'M_LIMIT_EXCEEDED'
  | 'M_UNRECOGNIZED'
  | 'M_TOO_LARGE'
  | 'M_UNKNOWN';

export interface MatrixErrorOptions {
  headers?: Record<string, string>;
  /** Extra top-level fields of the error body, e.g. retry_after_ms. */
  extra?: Record<string, unknown>;
  /** Operator-facing explanation, logged, never sent. */
  detail?: string;
  cause?: unknown;
  /**
   * The failure's source already reports it (an outage logged once when it starts and once
   * when it ends, with counts), so the error step logs this request at debug, not warn.
   */
  reported?: boolean;
}

export class MatrixError extends Error {
  readonly status: number;
  readonly errcode: MatrixErrcode;
  readonly headers: Record<string, string>;
  readonly extra: Record<string, unknown>;
  readonly detail: string | undefined;
  readonly reported: boolean;

  constructor(status: number, errcode: MatrixErrcode, message: string, options: MatrixErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MatrixError';
    this.status = status;
    this.errcode = errcode;
    this.headers = options.headers ?? {};
    this.extra = options.extra ?? {};
    this.detail = options.detail;
    this.reported = options.reported ?? false;
  }

  /** The same error, marked as reported by its source (see MatrixErrorOptions.reported). */
  asReported(): MatrixError {
    if (this.reported) return this;
    const { headers, extra, detail, cause } = this;
    return new MatrixError(this.status, this.errcode, this.message, {
      headers,
      extra,
      ...(detail !== undefined && { detail }),
      cause,
      reported: true,
    });
  }

  /** The JSON body a client receives. */
  body(): Record<string, unknown> {
    return { errcode: this.errcode, error: this.message, ...this.extra };
  }

  static missingToken(message = 'Missing access token'): MatrixError {
    return new MatrixError(401, 'M_MISSING_TOKEN', message);
  }

  /** softLogout true tells the client to refresh its token rather than log out (as the homeserver said). */
  static unknownToken(detail?: string, softLogout = false): MatrixError {
    return new MatrixError(401, 'M_UNKNOWN_TOKEN', 'Unrecognised access token', {
      extra: { soft_logout: softLogout },
      ...(detail === undefined ? {} : { detail }),
    });
  }

  static forbidden(message: string, detail?: string): MatrixError {
    return new MatrixError(403, 'M_FORBIDDEN', message, detail === undefined ? {} : { detail });
  }

  static guestForbidden(): MatrixError {
    return new MatrixError(403, 'M_GUEST_ACCESS_FORBIDDEN', 'Guest access not allowed');
  }

  static limitExceeded(retryAfterMs: number): MatrixError {
    const ms = Math.max(0, Math.ceil(retryAfterMs));
    return new MatrixError(429, 'M_LIMIT_EXCEEDED', 'Too Many Requests', {
      extra: { retry_after_ms: ms },
      headers: { 'Retry-After': String(Math.ceil(ms / 1000)) },
    });
  }

  static unrecognized(status: 404 | 405 = 404): MatrixError {
    return new MatrixError(status, 'M_UNRECOGNIZED', 'Unrecognized request');
  }

  /**
   * Something we depend on failed. Never M_UNKNOWN_TOKEN: matrix-js-sdk logs its user
   * out on that code, and an outage must not log everybody out.
   */
  static upstream(status: 502 | 503 | 504, detail: string, options: { retryAfterSeconds?: number; cause?: unknown } = {}): MatrixError {
    const message = status === 504 ? 'Timed out verifying the access token' : 'Could not verify the access token right now';
    return new MatrixError(status, 'M_UNKNOWN', message, {
      detail,
      cause: options.cause,
      ...(options.retryAfterSeconds === undefined ? {} : { headers: { 'Retry-After': String(options.retryAfterSeconds) } }),
    });
  }

  /**
   * An upstream said it is overloaded (429) or down for now (503): 503 with Retry-After,
   * so the client tries again shortly; the token may be fine.
   */
  static upstreamBusy(upstream: string, status: 429 | 503): MatrixError {
    return MatrixError.upstream(503, `${upstream} answered ${status}`, { retryAfterSeconds: 1 });
  }

  /** An upstream answered, but not with something we understand: it is unwell, the token may be fine. */
  static badUpstreamAnswer(upstream: string, what: string): MatrixError {
    return MatrixError.upstream(502, `${upstream} answered ${what}`);
  }

  /**
   * The homeserver's own verdict on the token or its account (M_USER_LOCKED,
   * M_USER_DEACTIVATED, M_FORBIDDEN), passed on as it said it: its status, its errcode,
   * its message when short enough to be one.
   */
  static homeserverVerdict(status: number, errcode: MatrixErrcode, message: string, extra: Record<string, unknown> = {}): MatrixError {
    return new MatrixError(status, errcode, message, { extra, detail: `homeserver: ${errcode}` });
  }

  /** Redis cannot decide and RATE_LIMIT_ON_REDIS_ERROR=deny: the fallback itself reports the outage. */
  static limiterUnavailable(retryAfterSeconds: number): MatrixError {
    return new MatrixError(503, 'M_UNKNOWN', 'The rate limiter is unavailable; try again shortly', {
      headers: { 'Retry-After': String(retryAfterSeconds) },
      detail: 'redis unreachable and RATE_LIMIT_ON_REDIS_ERROR=deny',
      reported: true,
    });
  }

  /** A request Koa or Node's parser could not make sense of (a malformed URL, bad framing). */
  static badRequest(message = 'Bad request'): MatrixError {
    return new MatrixError(400, 'M_UNKNOWN', message);
  }

  static headersTooLarge(): MatrixError {
    return new MatrixError(431, 'M_TOO_LARGE', 'Request headers too large');
  }

  static urlTooLong(): MatrixError {
    return new MatrixError(414, 'M_TOO_LARGE', 'Request URL too long');
  }

  static requestTimeout(): MatrixError {
    return new MatrixError(408, 'M_UNKNOWN', 'Request not received in time');
  }

  static internal(detail: string, cause?: unknown): MatrixError {
    return new MatrixError(500, 'M_UNKNOWN', 'Internal server error', { detail, cause });
  }
}

/** What a client receives for an error: the one mapping every answering place uses. */
export interface HttpAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** The JSON body, serialised. */
  readonly body: string;
}

export function httpAnswer(error: MatrixError): HttpAnswer {
  return {
    status: error.status,
    headers: { 'Content-Type': 'application/json; charset=utf-8', ...error.headers },
    body: JSON.stringify(error.body()),
  };
}
