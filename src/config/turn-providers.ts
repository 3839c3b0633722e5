// The settings of a managed TURN service as an entry of `turn_servers:` (turn-servers.ts):
// `provider:` names the service, and its own settings follow, each secret inline or as
// `*_file`. The service names the URIs and issues the credential, so such an entry has no
// `uris` and no credential of its own. `api_url` defaults to the service's public endpoint;
// an operator may point it at an egress proxy (http:// included), and the tests at a stand-in.

import { z } from 'zod';
import { isUrl } from './schemas.js';
import type { SecretRef } from '../secret-file.js';
import { inlineSecret, secretFile, type StructuredContext } from './structured.js';

export const TURN_PROVIDERS = ['cloudflare', 'twilio', 'metered'] as const;
export type TurnProviderName = (typeof TURN_PROVIDERS)[number];

/** Cloudflare Realtime TURN: a TURN key's id and its API token. */
export interface CloudflareSetting {
  readonly kind: 'cloudflare';
  readonly apiUrl: string;
  readonly keyId: string;
  readonly apiToken: SecretRef;
}

/** Twilio's Network Traversal Service: the account, and its auth token or an API key of it. */
export interface TwilioSetting {
  readonly kind: 'twilio';
  readonly apiUrl: string;
  readonly accountSid: string;
  /** The HTTP Basic user: the account SID with its auth token, or an API key SID with its secret. */
  readonly user: string;
  readonly secret: SecretRef;
  /** The setting `secret` came from, for the log line when Twilio refuses it. */
  readonly secretSetting: 'auth_token' | 'api_key_secret';
}

/** Metered: the app's API and its secret key. */
export interface MeteredSetting {
  readonly kind: 'metered';
  readonly apiUrl: string;
  readonly secretKey: SecretRef;
}

export type ProviderSetting = CloudflareSetting | TwilioSetting | MeteredSetting;

export const PROVIDER_API_URLS = {
  cloudflare: 'https://rtc.live.cloudflare.com',
  twilio: 'https://api.twilio.com',
} as const;

const text = z.string({ error: 'must be a string' }).trim().min(1, 'must not be empty');
const pathSegment = text.regex(/^[A-Za-z0-9_-]+$/, 'must be letters, digits, - or _ only');
const apiUrl = z
  .string({ error: 'must be an http:// or https:// URL' })
  .trim()
  .refine((url) => isUrl(url, ['http:', 'https:']), 'must be an http:// or https:// URL')
  .transform((url) => url.replace(/\/+$/, ''));

/** Every key a provider entry may hold, each optional here: which go with which provider is providerProblems'. */
export function providerKeys({ readFile }: StructuredContext) {
  return {
    provider: z.enum(TURN_PROVIDERS, { error: `must be one of ${TURN_PROVIDERS.join(', ')}` }).optional(),
    api_url: apiUrl.optional(),
    key_id: pathSegment.optional(),
    api_token: inlineSecret.optional(),
    api_token_file: secretFile(readFile).optional(),
    account_sid: text.regex(/^AC[0-9a-fA-F]{32}$/, 'must be an account SID: AC and 32 hexadecimal digits').optional(),
    auth_token: inlineSecret.optional(),
    auth_token_file: secretFile(readFile).optional(),
    api_key_sid: text.regex(/^SK[0-9a-fA-F]{32}$/, 'must be an API key SID: SK and 32 hexadecimal digits').optional(),
    api_key_secret: inlineSecret.optional(),
    api_key_secret_file: secretFile(readFile).optional(),
    app: text.regex(/^[A-Za-z0-9-]+$/, 'must be the <app> of <app>.metered.live').optional(),
    secret_key: inlineSecret.optional(),
    secret_key_file: secretFile(readFile).optional(),
  };
}

type Keys = ReturnType<typeof providerKeys>;
type Entry = { [K in keyof Keys]?: z.output<Keys[K]> };

/** The settings of each provider (its secrets by their inline name); `provider` and `api_url` go with all. */
const OWN_KEYS: Readonly<Record<TurnProviderName, readonly (keyof Keys)[]>> = {
  cloudflare: ['key_id', 'api_token', 'api_token_file'],
  twilio: ['account_sid', 'auth_token', 'auth_token_file', 'api_key_sid', 'api_key_secret', 'api_key_secret_file'],
  metered: ['app', 'secret_key', 'secret_key_file'],
};

export const PROVIDER_KEYS: readonly string[] = ['provider', 'api_url', ...Object.values(OWN_KEYS).flat()];

/**
 * The problems of an entry that names a provider (each key by its name: `problem(key,
 * message)`), or of one that holds a provider's key without naming one. `raw` is the entry
 * as checked so far: a field that failed its own check holds its raw input.
 */
export function providerProblems(raw: Record<string, unknown>, problem: (key: string | undefined, message: string) => void): void {
  const given = (key: string) => raw[key] !== undefined;
  const provider = raw.provider;
  if (!given('provider')) {
    for (const key of PROVIDER_KEYS) if (given(key)) problem(key, 'goes only with provider: cloudflare, twilio or metered');
    return;
  }
  if (typeof provider !== 'string' || !(TURN_PROVIDERS as readonly string[]).includes(provider)) return;
  const name = provider as TurnProviderName;
  for (const [other, keys] of Object.entries(OWN_KEYS))
    if (other !== name) for (const key of keys) if (given(key)) problem(key, `is a ${other} setting, not one of ${name}`);
  const secret = (key: string, required: boolean) => {
    if (given(key) && given(`${key}_file`)) problem(key, `set either ${key} or ${key}_file, not both`);
    else if (required && !given(key) && !given(`${key}_file`)) problem(undefined, `provider ${name} needs ${key} (or ${key}_file)`);
  };
  switch (name) {
    case 'cloudflare':
      if (!given('key_id')) problem(undefined, 'provider cloudflare needs key_id (the TURN key ID)');
      secret('api_token', true);
      break;
    case 'twilio': {
      if (!given('account_sid')) problem(undefined, 'provider twilio needs account_sid');
      const withToken = given('auth_token') || given('auth_token_file');
      const withKey = given('api_key_sid') || given('api_key_secret') || given('api_key_secret_file');
      if (withToken && withKey) problem(undefined, 'set either auth_token or api_key_sid with api_key_secret, not both');
      else if (withKey) {
        if (!given('api_key_sid')) problem(undefined, 'api_key_secret goes with api_key_sid');
        secret('api_key_secret', true);
      } else secret('auth_token', true);
      break;
    }
    case 'metered':
      if (!given('app') && !given('api_url')) problem(undefined, 'provider metered needs app (the <app> of <app>.metered.live) or api_url');
      secret('secret_key', true);
      break;
  }
}

/** The typed setting of an entry that passed providerProblems. */
export function providerSetting(entry: Entry): ProviderSetting {
  switch (entry.provider!) {
    case 'cloudflare':
      return {
        kind: 'cloudflare',
        apiUrl: entry.api_url ?? PROVIDER_API_URLS.cloudflare,
        keyId: entry.key_id!,
        apiToken: (entry.api_token ?? entry.api_token_file)!,
      };
    case 'twilio': {
      const apiKey = entry.api_key_sid !== undefined;
      return {
        kind: 'twilio',
        apiUrl: entry.api_url ?? PROVIDER_API_URLS.twilio,
        accountSid: entry.account_sid!,
        user: apiKey ? entry.api_key_sid! : entry.account_sid!,
        secret: (apiKey ? (entry.api_key_secret ?? entry.api_key_secret_file) : (entry.auth_token ?? entry.auth_token_file))!,
        secretSetting: apiKey ? 'api_key_secret' : 'auth_token',
      };
    }
    case 'metered':
      return {
        kind: 'metered',
        apiUrl: entry.api_url ?? `https://${entry.app!.toLowerCase()}.metered.live`,
        secretKey: (entry.secret_key ?? entry.secret_key_file)!,
      };
  }
}
