// Each provider module sends exactly the documented request (method, path, auth header,
// body encoding) and reads the documented answer, against stand-ins built from the
// providers' documentation (test/helpers/provider-stand-ins.ts), through a real Upstream.

import { Registry } from 'prom-client';
import { createUpstream, type Upstream } from '../../../../src/auth/upstream.js';
import { createLogger } from '../../../../src/logger.js';
import { createMetrics } from '../../../../src/metrics.js';
import { cloudflareProvider } from '../../../../src/turn/providers/cloudflare.js';
import { meteredProvider } from '../../../../src/turn/providers/metered.js';
import { ProviderFailure, type TurnProvider } from '../../../../src/turn/providers/provider.js';
import { twilioProvider } from '../../../../src/turn/providers/twilio.js';
import {
  startCloudflareStandIn,
  startMeteredStandIn,
  startTwilioStandIn,
  type ProviderStandIn,
} from '../../../helpers/provider-stand-ins.js';

const SID = `AC${'0123456789abcdef'.repeat(2)}`;
const KEY_SID = `SK${'fedcba9876543210'.repeat(2)}`;
const REQUEST = { ttlSeconds: 3600, userIdentifier: '0f1e2d3c4b5a69788796a5b4c3d2e1f0' };
const secret = (value: string) => ({ current: () => value });

let upstream: Upstream;
const standIns: ProviderStandIn[] = [];

beforeEach(() => {
  upstream = createUpstream({
    name: 'provider:test',
    timeoutMs: 300,
    metrics: createMetrics(new Registry(), { defaultMetrics: false }),
    logger: createLogger('silent'),
    breakerFailureThreshold: 1000,
  });
});

afterEach(async () => {
  await upstream.close();
  await Promise.all(standIns.splice(0).map((standIn) => standIn.close()));
});

async function kept(standIn: Promise<ProviderStandIn>): Promise<ProviderStandIn> {
  const started = await standIn;
  standIns.push(started);
  return started;
}

describe('Cloudflare', () => {
  const cloudflare = async () => {
    const standIn = await kept(
      startCloudflareStandIn(
        { keyId: 'key-0123', apiToken: 'cf-token-9f8e' },
        { credential: () => ({ username: 'cf-user', password: 'cf-pw' }) },
      ),
    );
    return {
      standIn,
      provider: cloudflareProvider({ apiUrl: standIn.url, keyId: 'key-0123', apiToken: secret('cf-token-9f8e'), upstream }),
    };
  };

  it('POSTs {ttl, customIdentifier} as JSON with the API token as Bearer to generate-ice-servers', async () => {
    const { standIn, provider } = await cloudflare();
    await provider.issue(REQUEST);
    expect(standIn.requests).toHaveLength(1);
    const [request] = standIn.requests;
    expect(request).toMatchObject({ method: 'POST', url: '/v1/turn/keys/key-0123/credentials/generate-ice-servers' });
    expect(request!.headers.authorization).toBe('Bearer cf-token-9f8e');
    expect(request!.headers['content-type']).toBe('application/json');
    expect(JSON.parse(request!.body)).toEqual({ ttl: 3600, customIdentifier: REQUEST.userIdentifier });
  });

  it('maps the 201 answer: the TURN credential, every URL once, STUN kept, port 53 dropped, the ttl asked for', async () => {
    const { provider } = await cloudflare();
    expect(await provider.issue(REQUEST)).toEqual({
      username: 'cf-user',
      password: 'cf-pw',
      uris: [
        'stun:stun.cloudflare.com:3478',
        'turn:turn.provider.example:3478?transport=udp',
        'turn:turn.provider.example:3478?transport=tcp',
      ],
      lifetimeSeconds: 3600,
    });
    expect(provider.maxTtlSeconds).toBe(48 * 3600);
  });

  it.each([
    ['unauthorized', 'refused'],
    ['garbage', 'bad_answer'],
    ['error500', 'unavailable'],
    ['hang', 'timeout'],
  ] as const)('fails with a reason when the API answers %s: %s', async (mode, reason) => {
    const { standIn, provider } = await cloudflare();
    standIn.mode = mode;
    const failure = await provider.issue(REQUEST).then(
      () => undefined,
      (error: unknown) => ProviderFailure.of(error),
    );
    expect(failure?.reason).toBe(reason);
    expect(failure?.message).not.toContain('cf-token-9f8e');
  });

  it('refuses a 201 whose iceServers hold no TURN credential', async () => {
    const standIn = await kept(startCloudflareStandIn({ keyId: 'k', apiToken: 't' }, { turnUris: [] }));
    const provider = cloudflareProvider({ apiUrl: standIn.url, keyId: 'k', apiToken: secret('t'), upstream });
    await expect(provider.issue(REQUEST)).rejects.toMatchObject({ reason: 'bad_answer' });
  });
});

describe('Twilio', () => {
  it('POSTs the form body Ttl=seconds with HTTP Basic of the account SID and auth token to Tokens.json', async () => {
    const standIn = await kept(startTwilioStandIn({ accountSid: SID, user: SID, secret: 'tw-token-5a4b' }));
    const provider = twilioProvider({ apiUrl: standIn.url, accountSid: SID, user: SID, secret: secret('tw-token-5a4b'), upstream });
    await provider.issue(REQUEST);
    const [request] = standIn.requests;
    expect(request).toMatchObject({ method: 'POST', url: `/2010-04-01/Accounts/${SID}/Tokens.json`, body: 'Ttl=3600' });
    expect(request!.headers.authorization).toBe(`Basic ${Buffer.from(`${SID}:tw-token-5a4b`).toString('base64')}`);
    expect(request!.headers['content-type']).toBe('application/x-www-form-urlencoded');
  });

  it('authenticates with an API key SID and its secret instead, on the same account path', async () => {
    const standIn = await kept(startTwilioStandIn({ accountSid: SID, user: KEY_SID, secret: 'tw-key-secret-77' }));
    const provider = twilioProvider({ apiUrl: standIn.url, accountSid: SID, user: KEY_SID, secret: secret('tw-key-secret-77'), upstream });
    await expect(provider.issue(REQUEST)).resolves.toMatchObject({ lifetimeSeconds: 3600 });
    expect(standIn.requests[0]!.headers.authorization).toBe(`Basic ${Buffer.from(`${KEY_SID}:tw-key-secret-77`).toString('base64')}`);
  });

  it('maps the 201 answer: username and password, `urls` strings and the legacy `url`, each once, its string ttl', async () => {
    const standIn = await kept(
      startTwilioStandIn({ accountSid: SID, user: SID, secret: 's' }, { credential: () => ({ username: 'tw-user', password: 'tw-pw' }) }),
    );
    const provider = twilioProvider({ apiUrl: standIn.url, accountSid: SID, user: SID, secret: secret('s'), upstream });
    expect(await provider.issue({ ...REQUEST, ttlSeconds: 600 })).toEqual({
      username: 'tw-user',
      password: 'tw-pw',
      uris: [
        'stun:global.stun.twilio.com:3478',
        'turn:turn.provider.example:3478?transport=udp',
        'turn:turn.provider.example:3478?transport=tcp',
        'turns:global.turn.twilio.com:443?transport=tcp',
      ],
      lifetimeSeconds: 600,
    });
    expect(provider.maxTtlSeconds).toBe(24 * 3600);
  });

  it('refuses our key on 401', async () => {
    const standIn = await kept(startTwilioStandIn({ accountSid: SID, user: SID, secret: 'right' }));
    const provider = twilioProvider({ apiUrl: standIn.url, accountSid: SID, user: SID, secret: secret('wrong'), upstream });
    await expect(provider.issue(REQUEST)).rejects.toMatchObject({ reason: 'refused' });
  });
});

describe('Metered', () => {
  const metered = async (): Promise<{ standIn: ProviderStandIn; provider: TurnProvider }> => {
    const standIn = await kept(
      startMeteredStandIn({ secretKey: 'me-secret-3c2d' }, { credential: () => ({ username: 'me-user', password: 'me-pw' }) }),
    );
    return { standIn, provider: meteredProvider({ apiUrl: standIn.url, secretKey: secret('me-secret-3c2d'), upstream }) };
  };

  it('POSTs {expiryInSeconds, label} as JSON with the secretKey in the query, then GETs the URIs by the apiKey it got', async () => {
    const { standIn, provider } = await metered();
    await provider.issue(REQUEST);
    expect(standIn.requests).toHaveLength(2);
    const [create, list] = standIn.requests;
    expect(create).toMatchObject({ method: 'POST', url: '/api/v1/turn/credential?secretKey=me-secret-3c2d' });
    expect(create!.headers['content-type']).toBe('application/json');
    expect(JSON.parse(create!.body)).toEqual({ expiryInSeconds: 3600, label: REQUEST.userIdentifier });
    expect(list!.method).toBe('GET');
    expect(list!.url).toMatch(/^\/api\/v1\/turn\/credentials\?apiKey=[0-9a-f]{36}$/);
    expect(list!.body).toBe('');
  });

  it('maps the two answers: the credential, the bare list of `urls` strings, the expiry it states', async () => {
    const { provider } = await metered();
    expect(await provider.issue(REQUEST)).toEqual({
      username: 'me-user',
      password: 'me-pw',
      uris: [
        'stun:stun.relay.metered.ca:80',
        'turn:turn.provider.example:3478?transport=udp',
        'turn:turn.provider.example:3478?transport=tcp',
      ],
      lifetimeSeconds: 3600,
    });
  });

  it('refuses our key on 401, and a credential answer without its apiKey as nonsense', async () => {
    const standIn = await kept(startMeteredStandIn({ secretKey: 'right' }));
    await expect(meteredProvider({ apiUrl: standIn.url, secretKey: secret('wrong'), upstream }).issue(REQUEST)).rejects.toMatchObject({
      reason: 'refused',
    });
    standIn.mode = 'garbage';
    await expect(meteredProvider({ apiUrl: standIn.url, secretKey: secret('right'), upstream }).issue(REQUEST)).rejects.toMatchObject({
      reason: 'bad_answer',
    });
  });
});
