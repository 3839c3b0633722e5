// The whoami verifier: asks the homeserver who owns the token
// (GET /_matrix/client/v3/account/whoami). The homeserver's own verdict on the token
// (401 M_UNKNOWN_TOKEN, a locked or deactivated account) is passed on; anything else
// that is not a whoami answer means the homeserver is unwell: 5xx M_UNKNOWN.

import { MatrixError, type MatrixErrcode } from '../errors.js';
import type { Identity, TokenVerifier } from './types.js';
import type { Upstream } from './upstream.js';
import { isHistoricalUserId } from '../user-id.js';

/** Errors about the token or the account that the client must see as the homeserver said them. */
const PASSED_THROUGH: ReadonlySet<string> = new Set(['M_UNKNOWN_TOKEN', 'M_USER_LOCKED', 'M_USER_DEACTIVATED', 'M_FORBIDDEN']);

export function whoamiVerifier(options: { homeserverUrl: string; upstream: Upstream }): TokenVerifier {
  const url = `${options.homeserverUrl}/_matrix/client/v3/account/whoami`;
  const { upstream } = options;
  return {
    method: 'whoami',
    async verify(token): Promise<Identity> {
      const res = await upstream.call({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
      const body = res.json as Record<string, unknown> | undefined;
      if (res.status === 200) {
        const userId = body?.user_id;
        if (typeof userId !== 'string' || !isHistoricalUserId(userId)) {
          throw MatrixError.badUpstreamAnswer(upstream.name, 'a 200 that is not a whoami answer');
        }
        return { userId, isGuest: body?.is_guest === true };
      }
      if ((res.status === 401 || res.status === 403) && typeof body?.errcode === 'string' && PASSED_THROUGH.has(body.errcode)) {
        return Promise.reject(homeserverVerdict(res.status, body.errcode, body));
      }
      if (body?.errcode === 'M_MISSING_TOKEN') {
        // We always send a well-formed token, so something between us and the homeserver
        // dropped it: an infrastructure fault, which must not log the user out.
        throw MatrixError.badUpstreamAnswer(
          upstream.name,
          'M_MISSING_TOKEN to a request that carried a token (does a proxy drop the Authorization header?)',
        );
      }
      // No 5xx reaches here: Upstream turns each into an error first (a 503 into upstreamBusy too).
      if (res.status === 429) throw MatrixError.upstreamBusy(upstream.name, 429);
      throw MatrixError.badUpstreamAnswer(upstream.name, `HTTP ${res.status}${body === undefined ? ' without a JSON body' : ''}`);
    },
  };
}

function homeserverVerdict(status: number, errcode: string, body: Record<string, unknown>): MatrixError {
  if (errcode === 'M_UNKNOWN_TOKEN') {
    return MatrixError.unknownToken(`homeserver: ${errcode}`, body.soft_logout === true);
  }
  const message = typeof body.error === 'string' && body.error.length <= 200 ? body.error : 'Forbidden';
  const extra = errcode === 'M_USER_LOCKED' ? { soft_logout: true } : {};
  return MatrixError.homeserverVerdict(status, errcode as MatrixErrcode, message, extra);
}
