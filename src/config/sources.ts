// Where settings come from. The YAML file named by CONFIG_FILE (keys: the variable names in
// lower case, Synapse's turn_* keys, and the structured sections of STRUCTURED_SETTINGS,
// kept as YAML values), then the environment, which wins; then each secret's X_FILE,
// read. The result is raw text by variable name, for the table's parsers. Problems are
// collected rather than thrown, so the one message names every one of them.

import { parse as parseYaml } from 'yaml';
import type { SecretRef } from '../secret-file.js';
import { whyUnreadable, type ReadFile } from './read-file.js';
import { parseSynapseDurationMs } from './duration.js';
import { nonEmpty } from './schemas.js';
import type { StructuredSettings } from './structured.js';
import { SECRET_VARIABLES, VARIABLES, type SecretName } from './variables.js';

// A secret given inline or as a file (SecretRef, the shared part's): a file is re-read when
// it changes, each re-read held to the rule applied at start (rules.ts: sharedSecretsProblem,
// and the shared publicKeyProblem; the other secrets need only not be empty).
export type { SecretRef };

export type Secrets = Partial<Record<SecretName, SecretRef>>;

export interface Sources {
  /** The flat settings by variable name (X_FILE names included), as text. */
  readonly settings: Readonly<Record<string, string>>;
  /** The structured sections by YAML key, as the YAML parser gave them. */
  readonly structured: Readonly<Record<string, unknown>>;
}

/** Synapse homeserver.yaml keys accepted unchanged in the YAML file. */
const SYNAPSE_KEYS: Readonly<Record<string, string>> = {
  turn_uris: 'TURN_URIS',
  turn_shared_secret: 'TURN_SHARED_SECRET',
  turn_shared_secret_path: 'TURN_SHARED_SECRET_FILE',
  turn_username: 'TURN_USERNAME',
  turn_password: 'TURN_PASSWORD',
  turn_user_lifetime: 'TURN_TTL',
  turn_allow_guests: 'TURN_ALLOW_GUESTS',
};

/**
 * YAML keys that take a Synapse duration (`1h`), turned into whole seconds. A unitless
 * value is milliseconds in Synapse's own key, as Synapse reads it, and seconds in ours.
 */
const DURATION_KEYS: Readonly<Record<string, { readonly unitless: 'milliseconds' | 'seconds'; readonly examples: string }>> = {
  turn_user_lifetime: { unitless: 'milliseconds', examples: '1h, 30m, 86400000' },
  turn_ttl: { unitless: 'seconds', examples: '1h, 30m, 3600' },
};

const KNOWN_NAMES = new Set<string>([...Object.keys(VARIABLES), ...SECRET_VARIABLES.map((name) => `${name}_FILE`)]);

/** The file (when CONFIG_FILE names one) under the environment. */
export function readSources(
  env: Readonly<Record<string, string | undefined>>,
  readFile: ReadFile,
  structuredSettings: StructuredSettings,
  problems: string[],
): Sources {
  const configFile = nonEmpty(env.CONFIG_FILE);
  const fromFile =
    configFile === undefined ? { settings: {}, structured: {} } : readConfigFile(configFile, readFile, structuredSettings, problems);
  const settings: Record<string, string> = { ...fromFile.settings };
  for (const name of SECRET_VARIABLES) {
    // The environment wins over the file for a secret in either form: a secret inline in
    // the environment replaces the file's path to it, and the other way round.
    if (nonEmpty(env[name]) !== undefined || nonEmpty(env[`${name}_FILE`]) !== undefined) {
      delete settings[name];
      delete settings[`${name}_FILE`];
    }
  }
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || !KNOWN_NAMES.has(name) || name === 'CONFIG_FILE') continue;
    settings[name] = value;
  }
  return { settings, structured: fromFile.structured };
}

/** The YAML file's settings: flat ones as text by variable name, structured ones as parsed. */
export function readConfigFile(path: string, readFile: ReadFile, structuredSettings: StructuredSettings, problems: string[]): Sources {
  const nothing = { settings: {}, structured: {} };
  let text: string;
  let document: unknown;
  try {
    text = readFile(path);
  } catch (error) {
    problems.push(`CONFIG_FILE: cannot read ${path}: ${whyUnreadable(error)}`);
    return nothing;
  }
  try {
    // logLevel error: the parser's warnings (an unknown tag, say) go to stderr quoting the
    // line they are about, and that line may hold a secret.
    document = parseYaml(text, { logLevel: 'error' });
  } catch (error) {
    // Where, not what: the parser's own message quotes the offending line, which may hold a secret.
    const at = (error as { linePos?: { line: number; col: number }[] }).linePos?.[0];
    problems.push(`CONFIG_FILE: ${path} is not valid YAML (${whyUnreadable(error)}${at ? ` at line ${at.line}, column ${at.col}` : ''})`);
    return nothing;
  }
  if (document === null || document === undefined) return nothing;
  if (typeof document !== 'object' || Array.isArray(document)) {
    problems.push(`CONFIG_FILE: ${path} must be a mapping of setting names to values`);
    return nothing;
  }
  const settings: Record<string, string> = {};
  const structured: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(document as Record<string, unknown>)) {
    // Own keys only: a YAML key such as `toString` names nothing here, not Object.prototype's.
    const isStructured = Object.hasOwn(structuredSettings, key);
    const synapseName = Object.hasOwn(SYNAPSE_KEYS, key) ? SYNAPSE_KEYS[key] : undefined;
    const name = synapseName ?? key.toUpperCase();
    if (!isStructured && synapseName === undefined && (key !== key.toLowerCase() || !KNOWN_NAMES.has(name))) {
      problems.push(`CONFIG_FILE: unknown setting "${key}" in ${path}`);
      continue;
    }
    if (value === null || value === undefined) continue;
    if (isStructured) {
      structured[key] = value;
      continue;
    }
    const text = yamlValueToString(key, value, problems);
    if (text === undefined) continue;
    const duration = Object.hasOwn(DURATION_KEYS, key) ? DURATION_KEYS[key] : undefined;
    if (duration !== undefined && (duration.unitless === 'milliseconds' || (typeof value === 'string' && /[a-z]$/i.test(value.trim())))) {
      const ms = parseSynapseDurationMs(value);
      if (ms === undefined || ms < 1000) {
        problems.push(`${key}: "${text}" is not a duration of at least one second (e.g. ${duration.examples})`);
        continue;
      }
      settings[name] = String(Math.floor(ms / 1000));
    } else {
      settings[name] = text;
    }
  }
  return { settings, structured };
}

function yamlValueToString(key: string, value: unknown, problems: string[]): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value.join(',');
  problems.push(`${key}: must be a string, number, boolean or list of strings`);
  return undefined;
}

/** Each secret, inline or read from its X_FILE (trimmed); both forms at once, an unreadable or an empty file are problems. */
export function readSecrets(settings: Readonly<Record<string, string>>, readFile: ReadFile, problems: string[]): Secrets {
  const secrets: Secrets = {};
  for (const name of SECRET_VARIABLES) {
    const inline = nonEmpty(settings[name]);
    const path = nonEmpty(settings[`${name}_FILE`]);
    if (inline !== undefined && path !== undefined) {
      problems.push(`${name}: set either ${name} or ${name}_FILE, not both`);
      continue;
    }
    if (inline !== undefined) {
      secrets[name] = { value: inline };
    } else if (path !== undefined) {
      try {
        const value = readFile(path).trim();
        if (value === '') problems.push(`${name}_FILE: ${path} is empty`);
        else secrets[name] = { value, path };
      } catch (error) {
        problems.push(`${name}_FILE: cannot read ${path}: ${whyUnreadable(error)}`);
      }
    }
  }
  return secrets;
}

/** The secrets given as X_FILE, whether or not the file could be read. */
export function secretsGivenAsFile(settings: Readonly<Record<string, string>>): ReadonlySet<SecretName> {
  return new Set(SECRET_VARIABLES.filter((name) => nonEmpty(settings[`${name}_FILE`]) !== undefined));
}

/** The settings with each secret's value in place of what was given (a path, or untrimmed text). */
export function withSecretValues(settings: Readonly<Record<string, string>>, secrets: Secrets): Record<string, string> {
  const out: Record<string, string> = { ...settings };
  for (const [name, ref] of Object.entries(secrets)) if (ref) out[name] = ref.value;
  return out;
}
