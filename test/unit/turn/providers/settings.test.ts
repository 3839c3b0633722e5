// Provider entries of `turn_servers:` (src/config/turn-providers.ts): each provider's
// settings read with their defaults, every secret inline or from a file and masked when
// described, and every problem named by its path, never with a secret's value.

import { ConfigError, describeConfig, loadConfig } from '../../../../src/config/index.js';

const FILES: Record<string, string> = {};
function readFile(path: string): string {
  const text = FILES[path];
  if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  return text;
}

const SID = `AC${'0123456789abcdef'.repeat(2)}`;
const KEY_SID = `SK${'fedcba9876543210'.repeat(2)}`;

function load(entries: string[], env: Record<string, string> = {}) {
  FILES['/etc/mtc.yaml'] = ['homeserver_url: https://matrix.example.org', 'turn_servers:', ...entries].join('\n');
  return loadConfig({ CONFIG_FILE: '/etc/mtc.yaml', ...env }, { readFile });
}

function problems(entries: string[]): readonly string[] {
  try {
    load(entries);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('provider entries of turn_servers', () => {
  it("read each provider's settings, api_url defaulting to its public endpoint, secrets inline or from a file", () => {
    FILES['/run/secrets/cf-token'] = 'cf-token-never-shown-1\n';
    const config = load([
      '  - {name: cf, provider: cloudflare, key_id: 0123abcd, api_token_file: /run/secrets/cf-token, ttl: 1h}',
      `  - {name: tw, provider: twilio, account_sid: ${SID}, auth_token: tw-token-never-shown-2}`,
      `  - {name: tw-key, provider: twilio, account_sid: ${SID}, api_key_sid: ${KEY_SID}, api_key_secret: tw-key-never-shown-3}`,
      '  - {name: me, provider: metered, app: MyApp, secret_key: me-key-never-shown-4}',
      '  - {name: proxied, provider: metered, api_url: "http://egress.internal:8080/metered/", secret_key: me-key-never-shown-5}',
      '  - {name: own, uris: ["turn:turn.example.org"], shared_secret: own-never-shown-6}',
    ]);
    expect(config.turn.servers).toEqual([
      {
        name: 'cf',
        uris: [],
        provider: {
          kind: 'cloudflare',
          apiUrl: 'https://rtc.live.cloudflare.com',
          keyId: '0123abcd',
          apiToken: { value: 'cf-token-never-shown-1', path: '/run/secrets/cf-token' },
        },
        ttlSeconds: 3600,
      },
      {
        name: 'tw',
        uris: [],
        provider: {
          kind: 'twilio',
          apiUrl: 'https://api.twilio.com',
          accountSid: SID,
          user: SID,
          secret: { value: 'tw-token-never-shown-2' },
          secretSetting: 'auth_token',
        },
      },
      {
        name: 'tw-key',
        uris: [],
        provider: {
          kind: 'twilio',
          apiUrl: 'https://api.twilio.com',
          accountSid: SID,
          user: KEY_SID,
          secret: { value: 'tw-key-never-shown-3' },
          secretSetting: 'api_key_secret',
        },
      },
      {
        name: 'me',
        uris: [],
        provider: { kind: 'metered', apiUrl: 'https://myapp.metered.live', secretKey: { value: 'me-key-never-shown-4' } },
      },
      {
        name: 'proxied',
        uris: [],
        provider: { kind: 'metered', apiUrl: 'http://egress.internal:8080/metered', secretKey: { value: 'me-key-never-shown-5' } },
      },
      {
        name: 'own',
        uris: ['turn:turn.example.org'],
        credential: { kind: 'shared-secret', sharedSecrets: { value: 'own-never-shown-6' } },
      },
    ]);
    expect(config.turn.providerCacheSize).toBe(100_000);
    expect(JSON.stringify(describeConfig(config))).not.toMatch(/never-shown/);
    expect(JSON.stringify(describeConfig(config))).toContain('<file /run/secrets/cf-token>');
  });

  it('take PROVIDER_CACHE_SIZE', () => {
    const config = load(['  - {name: cf, provider: cloudflare, key_id: k, api_token: t}'], { PROVIDER_CACHE_SIZE: '500' });
    expect(config.turn.providerCacheSize).toBe(500);
  });

  it('name every problem by its path at once, without the secrets', () => {
    expect(
      problems([
        '  - {name: a, provider: akamai}',
        '  - {name: b, provider: cloudflare, api_token: never-shown-1, api_token_file: /absent}',
        '  - {name: c, provider: twilio, account_sid: AC12, auth_token: never-shown-2, api_key_secret: never-shown-3}',
        '  - {name: d, provider: metered, secret_key: never-shown-4, key_id: k, uris: ["turn:d.example.org"]}',
        '  - {name: e, uris: ["turn:e.example.org"], shared_secret: never-shown-5, api_url: "ftp://x"}',
        '  - {name: f, provider: twilio, account_sid: ' + SID + ', api_key_secret: never-shown-6}',
        '  - {name: g, provider: cloudflare, key_id: "a/b", api_token: never-shown-7}',
      ]),
    ).toEqual([
      'turn_servers[0].provider: must be one of cloudflare, twilio, metered',
      'turn_servers[1].api_token_file: cannot read /absent: ENOENT',
      'turn_servers[1]: provider cloudflare needs key_id (the TURN key ID)',
      'turn_servers[1].api_token: set either api_token or api_token_file, not both',
      'turn_servers[2].account_sid: must be an account SID: AC and 32 hexadecimal digits',
      'turn_servers[2]: set either auth_token or api_key_sid with api_key_secret, not both',
      'turn_servers[3].key_id: is a cloudflare setting, not one of metered',
      'turn_servers[3]: provider metered needs app (the <app> of <app>.metered.live) or api_url',
      'turn_servers[3].uris: does not go with provider: the provider names the URIs and issues the credential',
      'turn_servers[4].api_url: must be an http:// or https:// URL',
      'turn_servers[4].api_url: goes only with provider: cloudflare, twilio or metered',
      'turn_servers[5]: api_key_secret goes with api_key_sid',
      'turn_servers[6].key_id: must be letters, digits, - or _ only',
    ]);
  });

  it('refuse a provider entry without its secret, and an entry of our own without uris', () => {
    expect(problems(['  - {name: a, provider: cloudflare, key_id: k}', '  - {name: b, shared_secret: s}'])).toEqual([
      'turn_servers[0]: provider cloudflare needs api_token (or api_token_file)',
      'turn_servers[1].uris: must be a list of turn:, turns:, stun: or stuns: URIs',
    ]);
  });
});
