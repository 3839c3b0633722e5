// Metered, as documented at https://www.metered.ca/docs/turn-rest-api/post-create-credential
// and https://www.metered.ca/docs/turn-rest-api/get-credential : the credential from
// POST {api_url}/api/v1/turn/credential?secretKey=... with a JSON body
// {"expiryInSeconds": seconds, "label": ...}, answered 200 with {username, password,
// expiryInSeconds, label, apiKey}; its URIs from GET {api_url}/api/v1/turn/credentials?apiKey=
// with that credential's own apiKey, answered 200 with a bare list of {urls, username?,
// credential?}. Two calls per credential, both through the one Upstream. The label gets
// the user's opaque identifier, never the user id. Metered documents no longest lifetime.

import type { Upstream } from '../../auth/upstream.js';
import type { LiveSecret } from '../../secret-file.js';
import { iceServerUris } from './ice-servers.js';
import { acceptedAnswer, ProviderFailure, statedSeconds, type TurnProvider } from './provider.js';

/** The service's own longest credential lifetime (turn_servers' ttl), as Metered states none. */
export const METERED_MAX_TTL_SECONDS = 30 * 86_400;

export interface MeteredOptions {
  /** Without a trailing slash: https://<app>.metered.live, or a proxy or stand-in. */
  readonly apiUrl: string;
  readonly secretKey: Pick<LiveSecret, 'current'>;
  readonly upstream: Upstream;
}

export function meteredProvider(options: MeteredOptions): TurnProvider {
  const { upstream, secretKey, apiUrl } = options;
  return {
    maxTtlSeconds: METERED_MAX_TTL_SECONDS,
    async issue({ ttlSeconds, userIdentifier }) {
      const created = await upstream.call({
        method: 'POST',
        url: `${apiUrl}/api/v1/turn/credential?${new URLSearchParams({ secretKey: secretKey.current() }).toString()}`,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ expiryInSeconds: ttlSeconds, label: userIdentifier }),
      });
      const what = `${upstream.name} credential`;
      const credential = acceptedAnswer(created, [200, 201], what) as {
        username?: unknown;
        password?: unknown;
        expiryInSeconds?: unknown;
        apiKey?: unknown;
      };
      const { username, password, apiKey } = credential;
      if (typeof username !== 'string' || username === '' || typeof password !== 'string' || password === '')
        throw new ProviderFailure('bad_answer', `${what}: HTTP ${created.status} without a username and password`);
      if (typeof apiKey !== 'string' || apiKey === '')
        throw new ProviderFailure('bad_answer', `${what}: HTTP ${created.status} without the apiKey its URIs are fetched with`);
      const listed = await upstream.call({
        method: 'GET',
        url: `${apiUrl}/api/v1/turn/credentials?${new URLSearchParams({ apiKey }).toString()}`,
      });
      const uris = iceServerUris(acceptedAnswer(listed, [200], `${upstream.name} credentials`));
      if (uris === undefined || !uris.some((uri) => /^turns?:/i.test(uri)))
        throw new ProviderFailure('bad_answer', `${upstream.name} credentials: HTTP ${listed.status} without a list of TURN URLs`);
      return { username, password, uris, lifetimeSeconds: statedSeconds(credential.expiryInSeconds) ?? ttlSeconds };
    },
  };
}
