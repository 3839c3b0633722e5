// Structured settings: YAML-only sections whose value is a list or a mapping (a list of
// TURN servers, each with its own URIs and secret), not one string. The YAML reader keeps
// the value of a key declared in STRUCTURED_SETTINGS as the YAML parser gave it; each such
// key has its own zod schema producing a typed value, and each problem is named by its
// path in the file (`turn_servers[1].uris[0]: ...`, indices from 0), so a message points at
// the line to fix. A secret inside a section may be given inline or as `<key>_file`, read
// here as the flat X_FILE secrets are (sources.ts), with the same messages.

import { z } from 'zod';
import { nonEmpty } from './schemas.js';
import type { SecretRef } from '../secret-file.js';
import { whyUnreadable, type ReadFile } from './read-file.js';

/** What a structured setting's schema may use while parsing. */
export interface StructuredContext {
  /** Reads a `*_file` secret a section names. */
  readonly readFile: ReadFile;
}

export interface StructuredSetting<Output> {
  readonly schema: (context: StructuredContext) => z.ZodType<Output>;
}

export type StructuredSettings = Readonly<Record<string, StructuredSetting<unknown>>>;

/** The typed values of the sections given, by key. */
export type StructuredValues<T extends StructuredSettings> = { readonly [K in keyof T]?: z.output<ReturnType<T[K]['schema']>> };

/**
 * Parses each section given (by YAML key) with its setting's schema; problems are pushed,
 * each named by its path, and a section with any problem is left out.
 */
export function parseStructured<T extends StructuredSettings>(
  given: Readonly<Record<string, unknown>>,
  settings: T,
  context: StructuredContext,
  problems: string[],
): StructuredValues<T> {
  const values: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(given)) {
    const setting = settings[key];
    if (setting === undefined) continue;
    const parsed = setting.schema(context).safeParse(value);
    if (parsed.success) values[key] = parsed.data;
    else for (const issue of parsed.error.issues) problems.push(`${settingPath(key, issue.path)}: ${issue.message}`);
  }
  return values as StructuredValues<T>;
}

/** `turn_servers`, [1, 'uris', 0] → `turn_servers[1].uris[0]`. */
export function settingPath(key: string, path: readonly PropertyKey[]): string {
  return path.reduce<string>((text, step) => (typeof step === 'number' ? `${text}[${step}]` : `${text}.${String(step)}`), key);
}

/** An inline secret in a section: non-empty text, kept as a SecretRef like the flat ones. */
export const inlineSecret = z
  .string({ error: 'must be a string' })
  .refine((text) => text.trim() !== '', 'must not be empty')
  .transform((value): SecretRef => ({ value }));

/** A `*_file` secret in a section: the path read now, trimmed, refused when unreadable or empty; re-read like X_FILE. */
export function secretFile(readFile: ReadFile) {
  return z.string({ error: 'must be a path' }).transform((path, ctx): SecretRef => {
    if (nonEmpty(path) === undefined) {
      ctx.addIssue({ code: 'custom', message: 'must be a path' });
      return z.NEVER;
    }
    try {
      const value = readFile(path).trim();
      if (value !== '') return { value, path };
      ctx.addIssue({ code: 'custom', message: `${path} is empty` });
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: `cannot read ${path}: ${whyUnreadable(error)}` });
    }
    return z.NEVER;
  });
}
