// MatrixError and its one mapping to HTTP: every answering place (the Koa error step, raw
// socket answers, the URL-length limit) sends what httpAnswer says, headers included.

import { MatrixError, httpAnswer } from '../../src/errors.js';

describe('httpAnswer', () => {
  it('is the status, the JSON type with the error headers, and the Matrix body', () => {
    const answer = httpAnswer(MatrixError.limitExceeded(2500));
    expect(answer.status).toBe(429);
    expect(answer.headers).toEqual({ 'Content-Type': 'application/json; charset=utf-8', 'Retry-After': '3' });
    expect(JSON.parse(answer.body)).toEqual({ errcode: 'M_LIMIT_EXCEEDED', error: 'Too Many Requests', retry_after_ms: 2500 });
  });

  it('never carries the detail meant for logs', () => {
    const answer = httpAnswer(MatrixError.badUpstreamAnswer('homeserver', 'a 200 that is not a whoami answer'));
    expect(answer.status).toBe(502);
    expect(answer.body).not.toContain('whoami');
    expect(JSON.parse(answer.body)).toEqual({ errcode: 'M_UNKNOWN', error: 'Could not verify the access token right now' });
  });
});

describe('the factories', () => {
  it('make upstream failures M_UNKNOWN, never M_UNKNOWN_TOKEN (a client would log its user out)', () => {
    for (const error of [
      MatrixError.upstream(502, 'x'),
      MatrixError.upstream(503, 'x', { retryAfterSeconds: 1 }),
      MatrixError.upstream(504, 'x'),
      MatrixError.badUpstreamAnswer('homeserver', 'HTTP 418'),
      MatrixError.limiterUnavailable(5),
    ]) {
      expect(error.errcode).toBe('M_UNKNOWN');
      expect(error.status).toBeGreaterThanOrEqual(500);
    }
  });

  it('mark the deny-policy 503 as reported by its source, with its Retry-After', () => {
    const error = MatrixError.limiterUnavailable(5);
    expect(error.reported).toBe(true);
    expect(httpAnswer(error).headers['Retry-After']).toBe('5');
    expect(MatrixError.upstream(502, 'x').reported).toBe(false);
  });

  it('tell a client to come back shortly when an upstream says it is busy (429) or down for now (503)', () => {
    for (const status of [429, 503] as const) {
      const error = MatrixError.upstreamBusy('introspection', status);
      const answer = httpAnswer(error);
      expect([answer.status, answer.headers['Retry-After']]).toEqual([503, '1']);
      expect(JSON.parse(answer.body)).toEqual({ errcode: 'M_UNKNOWN', error: 'Could not verify the access token right now' });
      expect(error.detail).toBe(`introspection answered ${status}`);
    }
  });

  it('mark an error reported without changing what the client gets or what the log says', () => {
    const cause = new Error('socket hang up');
    const error = MatrixError.upstream(503, 'homeserver answered 503', { retryAfterSeconds: 1, cause });
    const marked = error.asReported();
    expect([marked.reported, error.reported]).toEqual([true, false]);
    expect(httpAnswer(marked)).toEqual(httpAnswer(error));
    expect([marked.detail, marked.cause]).toEqual(['homeserver answered 503', cause]);
    expect(marked.asReported()).toBe(marked);
  });

  it('pass the homeserver verdict on as it said it', () => {
    const error = MatrixError.homeserverVerdict(403, 'M_USER_LOCKED', 'This account has been locked', { soft_logout: true });
    expect([error.status, error.errcode, error.detail]).toEqual([403, 'M_USER_LOCKED', 'homeserver: M_USER_LOCKED']);
    expect(error.body()).toEqual({ errcode: 'M_USER_LOCKED', error: 'This account has been locked', soft_logout: true });
  });

  it('give the parser and transport refusals their statuses', () => {
    expect(
      [MatrixError.headersTooLarge(), MatrixError.urlTooLong(), MatrixError.requestTimeout(), MatrixError.badRequest()].map((e) => [
        e.status,
        e.errcode,
      ]),
    ).toEqual([
      [431, 'M_TOO_LARGE'],
      [414, 'M_TOO_LARGE'],
      [408, 'M_UNKNOWN'],
      [400, 'M_UNKNOWN'],
    ]);
  });
});
