// Twilio's Network Traversal Service, as documented at https://www.twilio.com/docs/stun-turn/api
// (the Token resource): POST {api_url}/2010-04-01/Accounts/{AccountSid}/Tokens.json with
// HTTP Basic (the account SID and its auth token, or an API key SID and its secret) and a
// form body `Ttl=seconds`, answered 201 with {username, password, ttl, ice_servers}: `ttl`
// a string of seconds, each ice server with `urls` and, in older answers, the legacy
// `url`. The longest lifetime is 24 hours. Twilio takes no identifier of the user.

import type { Upstream } from '../../auth/upstream.js';
import type { LiveSecret } from '../../secret-file.js';
import { iceServerCredential, iceServerUris } from './ice-servers.js';
import { acceptedAnswer, ProviderFailure, statedSeconds, type TurnProvider } from './provider.js';

export const TWILIO_MAX_TTL_SECONDS = 24 * 3600;

export interface TwilioOptions {
  /** Without a trailing slash: https://api.twilio.com, or a proxy or stand-in. */
  readonly apiUrl: string;
  readonly accountSid: string;
  /** The HTTP Basic user: the account SID, or an API key SID. */
  readonly user: string;
  /** Its auth token, or the API key's secret. */
  readonly secret: Pick<LiveSecret, 'current'>;
  readonly upstream: Upstream;
}

export function twilioProvider(options: TwilioOptions): TurnProvider {
  const { upstream, user, secret } = options;
  const url = `${options.apiUrl}/2010-04-01/Accounts/${encodeURIComponent(options.accountSid)}/Tokens.json`;
  const what = `${upstream.name} Tokens`;
  return {
    maxTtlSeconds: TWILIO_MAX_TTL_SECONDS,
    async issue({ ttlSeconds }) {
      const basic = Buffer.from(`${user}:${secret.current()}`).toString('base64');
      const res = await upstream.call({
        method: 'POST',
        url,
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ Ttl: String(ttlSeconds) }).toString(),
      });
      const body = acceptedAnswer(res, [200, 201], what) as {
        username?: unknown;
        password?: unknown;
        ttl?: unknown;
        ice_servers?: unknown;
      };
      const uris = iceServerUris(body.ice_servers);
      const credential =
        typeof body.username === 'string' && body.username !== '' && typeof body.password === 'string' && body.password !== ''
          ? { username: body.username, password: body.password }
          : iceServerCredential(body.ice_servers);
      if (uris === undefined || credential === undefined || !uris.some((uri) => /^turns?:/i.test(uri)))
        throw new ProviderFailure('bad_answer', `${what}: HTTP ${res.status} without a username, password and TURN ice_servers`);
      return { ...credential, uris, lifetimeSeconds: statedSeconds(body.ttl) ?? ttlSeconds };
    },
  };
}
