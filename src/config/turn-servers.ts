// The `turn_servers:` section of the YAML file, parsed and checked: a list of TURN servers
// tried in order, each with a name, its URIs, its own credential (a shared secret, or a
// static username and password; each secret inline or as `*_file`) and optionally its own
// credential lifetime. A server whose URIs are all stun:/stuns: needs no credential (STUN
// Binding is unauthenticated); one with a turn:/turns: URI must have one. An entry may
// instead name a managed TURN service (`provider:`, turn-providers.ts), which names the
// URIs and issues the credentials itself.

import { z } from 'zod';
import { sharedSecretsProblem } from './shared-secrets.js';
import { seconds, turnUri } from './schemas.js';
import type { SecretRef } from '../secret-file.js';
import { inlineSecret, secretFile, type StructuredContext, type StructuredSetting } from './structured.js';
import { providerKeys, providerProblems, providerSetting, type ProviderSetting } from './turn-providers.js';

export interface TurnServerSetting {
  /** Unique in the list; names the server in logs and metrics. */
  readonly name: string;
  /** Empty for a provider entry, whose URIs come with each credential. */
  readonly uris: readonly string[];
  /** Absent only for a server whose URIs are all stun:/stuns:, and for a provider entry. */
  readonly credential?: SharedSecretSetting | StaticCredentialSetting;
  /** A managed TURN service that issues the credentials and names the URIs. */
  readonly provider?: ProviderSetting;
  /** This server's credential lifetime; absent: TURN_TTL's. */
  readonly ttlSeconds?: number;
  /**
   * Managed secrets: the service adds a new secret to coturn's Redis set every interval and
   * signs with it; a `shared-secret` credential beside is coturn's static-auth-secret.
   */
  readonly secretRotation?: { readonly intervalSeconds: number };
}

export interface SharedSecretSetting {
  readonly kind: 'shared-secret';
  /** Comma-separated, as TURN_SHARED_SECRET: the first signs. */
  readonly sharedSecrets: SecretRef;
}

export interface StaticCredentialSetting {
  readonly kind: 'static';
  readonly username: string;
  readonly password: SecretRef;
}

/** The name of the one server TURN_URIS describes, in logs, metrics and /readyz. */
export const FLAT_TURN_SERVER_NAME = 'default';

const MAX_TTL_SECONDS = 30 * 86_400;

/** The keys of a server of our own, which a provider entry does not take. */
const OWN_SERVER_KEYS = [
  'uris',
  'shared_secret',
  'shared_secret_file',
  'username',
  'password',
  'password_file',
  'secret_rotation_interval',
] as const;

function turnServer(context: StructuredContext) {
  const { readFile } = context;
  return z
    .strictObject(
      {
        name: z.string({ error: 'must be a string' }).trim().min(1, 'must not be empty'),
        uris: z
          .array(turnUri, { error: 'must be a list of turn:, turns:, stun: or stuns: URIs' })
          .min(1, 'must list at least one URI')
          .optional(),
        shared_secret: inlineSecret.optional(),
        shared_secret_file: secretFile(readFile).optional(),
        username: z.string({ error: 'must be a string' }).trim().min(1, 'must not be empty').optional(),
        password: inlineSecret.optional(),
        password_file: secretFile(readFile).optional(),
        ttl: seconds(MAX_TTL_SECONDS).optional(),
        secret_rotation_interval: seconds(MAX_TTL_SECONDS).optional(),
        ...providerKeys(context),
      },
      {
        error: (issue) =>
          issue.code === 'unrecognized_keys' ? `unknown setting ${issue.keys.map((key) => `"${key}"`).join(', ')}` : undefined,
      },
    )
    .superRefine(
      (entry, ctx) => {
        // Run even when a field failed its own check (it then holds its raw input, or is absent), so every problem is named at once.
        if (entry === null || typeof entry !== 'object') return;
        const problem = (path: string | undefined, message: string) =>
          ctx.addIssue({ code: 'custom', path: path === undefined ? [] : [path], message });
        const given = (key: keyof typeof entry) => entry[key] !== undefined;
        providerProblems(entry, problem);
        if (given('provider')) {
          for (const key of OWN_SERVER_KEYS)
            if (given(key)) problem(key, 'does not go with provider: the provider names the URIs and issues the credential');
          return;
        }
        if (!given('uris')) problem('uris', 'must be a list of turn:, turns:, stun: or stuns: URIs');
        if (given('shared_secret') && given('shared_secret_file'))
          problem('shared_secret', 'set either shared_secret or shared_secret_file, not both');
        if (given('password') && given('password_file')) problem('password', 'set either password or password_file, not both');
        const hasSecret = given('shared_secret') || given('shared_secret_file');
        const hasStatic = given('username') || given('password') || given('password_file');
        const rotates = given('secret_rotation_interval');
        if (rotates && hasStatic)
          problem('secret_rotation_interval', "managed secrets sign each user's own credential: they do not go with username and password");
        else if (rotates && stunOnly(entry.uris))
          problem('secret_rotation_interval', 'a server of stun: URIs only has no credential to sign');
        if (hasSecret && hasStatic) problem(undefined, 'set either shared_secret or username and password, not both');
        else if (!hasSecret && !hasStatic && !rotates && !stunOnly(entry.uris))
          problem(undefined, 'needs a credential: shared_secret (or shared_secret_file), or username and password (or password_file)');
        else if (hasStatic && !given('username')) problem('username', 'username and password go together');
        else if (hasStatic && !given('password') && !given('password_file')) problem('password', 'username and password go together');
        for (const key of ['shared_secret', 'shared_secret_file'] as const) {
          // A secret that failed its own check holds its raw input, or zod's NEVER: only a read value has rules to break.
          const value = (entry[key] as { value?: unknown } | undefined)?.value;
          const broken = typeof value === 'string' ? sharedSecretsProblem(value) : undefined;
          if (broken !== undefined) problem(key, broken);
        }
      },
      { when: () => true },
    )
    .transform((entry): TurnServerSetting => {
      const sharedSecrets = entry.shared_secret ?? entry.shared_secret_file;
      const password = entry.password ?? entry.password_file;
      return {
        name: entry.name,
        uris: entry.uris ?? [],
        ...(entry.provider !== undefined && { provider: providerSetting(entry) }),
        ...(sharedSecrets !== undefined && { credential: { kind: 'shared-secret', sharedSecrets } }),
        ...(password !== undefined && { credential: { kind: 'static', username: entry.username!, password } }),
        ...(entry.ttl !== undefined && { ttlSeconds: entry.ttl }),
        ...(entry.secret_rotation_interval !== undefined && { secretRotation: { intervalSeconds: entry.secret_rotation_interval } }),
      };
    });
}

/** Whether raw turn_servers input (checked or not) has an entry with managed secrets: rules.ts then needs COTURN_*. */
export function rotatesSecrets(servers: unknown): boolean {
  const rotates = (entry: unknown) =>
    entry !== null && typeof entry === 'object' && (entry as Record<string, unknown>).secret_rotation_interval !== undefined;
  return Array.isArray(servers) && servers.some(rotates);
}

/** True when every URI is stun:/stuns:, so a server needs no credential; raw input that failed its check counts as not. */
export function stunOnly(uris: unknown): boolean {
  return Array.isArray(uris) && uris.length > 0 && uris.every((uri) => typeof uri === 'string' && /^stuns?:/i.test(uri));
}

export const turnServersSetting: StructuredSetting<readonly TurnServerSetting[]> = {
  schema: (context) =>
    z
      .array(turnServer(context), { error: 'must be a list of TURN servers, each a mapping with name, uris and a credential' })
      .min(1, 'must list at least one TURN server')
      .superRefine((servers, ctx) => {
        const seen = new Set<string>();
        let rotating: string | undefined;
        servers.forEach((server, index) => {
          if (seen.has(server.name))
            ctx.addIssue({ code: 'custom', path: [index, 'name'], message: `"${server.name}" names another server already` });
          seen.add(server.name);
          if (server.secretRotation === undefined) return;
          if (rotating !== undefined) {
            const message = `"${rotating}" has managed secrets already: COTURN_REDIS_URL and COTURN_REALM name one set, for one server`;
            ctx.addIssue({ code: 'custom', path: [index, 'secret_rotation_interval'], message });
          }
          rotating ??= server.name;
        });
      }),
};
