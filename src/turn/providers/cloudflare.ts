// Cloudflare Realtime TURN, as documented at
// https://developers.cloudflare.com/realtime/turn/generate-credentials/ :
// POST {api_url}/v1/turn/keys/{key_id}/credentials/generate-ice-servers with
// `Authorization: Bearer <the key's API token>` and a JSON body {"ttl": seconds}, answered
// 201 with {"iceServers": [{urls, username?, credential?}, ...]} (`urls` a string or a list).
// The answer states no lifetime: the credential lasts the ttl asked for, at most 48 hours
// (https://developers.cloudflare.com/realtime/turn/faq/). `customIdentifier` tags the
// credential for Cloudflare's per-user analytics
// (https://developers.cloudflare.com/realtime/turn/replacing-existing/): it gets the
// user's opaque identifier, never the user id.

import type { Upstream } from '../../auth/upstream.js';
import type { LiveSecret } from '../../secret-file.js';
import { iceServerCredential, iceServerUris } from './ice-servers.js';
import { acceptedAnswer, ProviderFailure, type TurnProvider } from './provider.js';

export const CLOUDFLARE_MAX_TTL_SECONDS = 48 * 3600;

export interface CloudflareOptions {
  /** Without a trailing slash: https://rtc.live.cloudflare.com, or a proxy or stand-in. */
  readonly apiUrl: string;
  readonly keyId: string;
  readonly apiToken: Pick<LiveSecret, 'current'>;
  readonly upstream: Upstream;
}

export function cloudflareProvider(options: CloudflareOptions): TurnProvider {
  const { upstream, apiToken } = options;
  const url = `${options.apiUrl}/v1/turn/keys/${encodeURIComponent(options.keyId)}/credentials/generate-ice-servers`;
  const what = `${upstream.name} generate-ice-servers`;
  return {
    maxTtlSeconds: CLOUDFLARE_MAX_TTL_SECONDS,
    async issue({ ttlSeconds, userIdentifier }) {
      const res = await upstream.call({
        method: 'POST',
        url,
        headers: { authorization: `Bearer ${apiToken.current()}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ttl: ttlSeconds, customIdentifier: userIdentifier }),
      });
      const { iceServers } = acceptedAnswer(res, [200, 201], what) as { iceServers?: unknown };
      const uris = iceServerUris(iceServers);
      const credential = iceServerCredential(iceServers);
      if (uris === undefined || credential === undefined || !uris.some((uri) => /^turns?:/i.test(uri)))
        throw new ProviderFailure('bad_answer', `${what}: HTTP ${res.status} without iceServers holding a TURN URL and its credential`);
      return { ...credential, uris, lifetimeSeconds: ttlSeconds };
    },
  };
}
