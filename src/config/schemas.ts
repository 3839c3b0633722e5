// The parsers a setting is made of: each turns what an operator wrote (a string from the
// environment or the flat YAML keys, undefined when unset) into a typed value, or a message
// saying what is wrong in words that never repeat a secret. A parser that has a default
// takes it as its argument, so the table in variables.ts writes each default once.

import { z } from 'zod';
import { parseSynapseDurationMs } from './duration.js';

/** One setting of the table: its default as written in the environment, and its parser. */
export interface Variable<Output> {
  /** What an unset variable means, written as in the environment; the README's table shows the same. */
  readonly default?: string;
  readonly schema: z.ZodType<Output>;
}

/** A secret: may come from `<NAME>_FILE`, and where it sits in Config (what describeConfig masks). */
export interface SecretVariable extends Variable<string | undefined> {
  readonly secret: {
    /** Its place in Config, as a dotted path: "turn.sharedSecret". */
    readonly at: string;
    /** How the masked description shows it; by default `<set>` or `<file PATH>`. */
    readonly shown?: 'url without password';
  };
}

export function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

const trimmed = (value: unknown) => (typeof value === 'string' ? value.trim() : value);
const optionalTextSchema = z.preprocess((v) => nonEmpty(typeof v === 'string' ? v : undefined), z.string().optional());

/** Free text, absent when empty. */
export const optionalText = (): Variable<string | undefined> => ({ schema: optionalTextSchema });

/** A secret's inline form, free text unless `schema` says more (its file form is read by sources.ts before parsing). */
export function secretText(secret: SecretVariable['secret'], schema: z.ZodType<string | undefined> = optionalTextSchema): SecretVariable {
  return { schema, secret };
}

/** Text that must not be empty, trimmed; `emptyMessage` replaces zod's own. */
export function requiredText(fallback: string, emptyMessage?: string): Variable<string> {
  return { default: fallback, schema: z.preprocess((v) => trimmed(v ?? fallback), z.string().min(1, emptyMessage)) };
}

export function integer(min: number, max: number, fallback?: string): Variable<number> {
  return {
    default: fallback,
    schema: z.preprocess(
      (v) => trimmed(v ?? fallback),
      z
        .string()
        .regex(/^\d+$/, `must be a whole number from ${min} to ${max}`)
        .transform(Number)
        .refine((n) => n >= min && n <= max, `must be a whole number from ${min} to ${max}`),
    ),
  };
}

export function decimal(min: number, max: number, fallback: string): Variable<number> {
  return {
    default: fallback,
    schema: z.preprocess(
      (v) => trimmed(v ?? fallback),
      z
        .string()
        .regex(/^\d+(\.\d+)?$|^\.\d+$/, `must be a number from ${min} to ${max}`)
        .transform(Number)
        .refine((n) => Number.isFinite(n) && n >= min && n <= max, `must be a number from ${min} to ${max}`),
    ),
  };
}

export function boolean(fallback: 'true' | 'false'): Variable<boolean> {
  return {
    default: fallback,
    schema: z.preprocess(
      (v) => {
        const given = v ?? fallback;
        return typeof given === 'string' ? given.trim().toLowerCase() : v;
      },
      z
        .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
        .transform((s) => s === 'true' || s === '1' || s === 'yes'),
    ),
  };
}

export function oneOf<T extends readonly [string, ...string[]]>(values: T, fallback: T[number]): Variable<T[number]> {
  return {
    default: fallback,
    schema: z.preprocess((v) => trimmed(v ?? fallback), z.enum(values, { message: `must be one of ${values.join(', ')}` })),
  };
}

export function isUrl(text: string, protocols: string[]): boolean {
  try {
    const url = new URL(text);
    return protocols.includes(url.protocol) && url.hostname !== '';
  } catch {
    return false;
  }
}

/** An http(s) URL without its trailing slashes; `what` says which endpoint it is. */
export function httpUrl(what: string): Variable<string | undefined> {
  return {
    schema: z.preprocess(
      trimmed,
      z
        .string()
        .refine((s) => isUrl(s, ['http:', 'https:']), `must be an http:// or https:// URL (${what})`)
        .transform((s) => s.replace(/\/+$/, ''))
        .optional(),
    ),
  };
}

const commaSeparated = z.preprocess(
  (v) => (typeof v === 'string' ? v : ''),
  z.string().transform((s) =>
    s
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== ''),
  ),
);

/** A comma-separated list (in the YAML file also a list of strings, joined by sources.ts), each item checked by `items`. */
export function list<T>(items: z.ZodType<T[], string[]>, fallback?: string): Variable<T[]> {
  return { default: fallback, schema: z.preprocess((v) => v ?? fallback, commaSeparated.pipe(items)) };
}

/** A comma-separated list of host:port (IPv6 hosts in brackets); `name` is the variable the message names. */
export function hostPorts(name: string): Variable<{ host: string; port: number }[] | undefined> {
  return {
    schema: z.preprocess(
      (v) => (typeof v === 'string' && v.trim() !== '' ? v : undefined),
      z
        .string()
        .transform((s, ctx) => {
          const nodes: { host: string; port: number }[] = [];
          for (const item of s
            .split(',')
            .map((x) => x.trim())
            .filter(Boolean)) {
            const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(item);
            const port = Number(match?.[2]);
            if (!match || port < 1 || port > 65535) {
              ctx.addIssue({ code: 'custom', message: `"${item}" is not host:port (${name})` });
              return z.NEVER;
            }
            nodes.push({ host: match[1]!.replace(/^\[|\]$/g, ''), port });
          }
          return nodes;
        })
        .optional(),
    ),
  };
}

export const TURN_URI = /^(turns?|stuns?):(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?(\?transport=(udp|tcp))?$/;

/** One TURN URI, named in the message when refused: the URIs handed to clients are no secret. */
export const turnUri = z.string().regex(TURN_URI, {
  error: (issue) => `"${String(issue.input)}" is not a turn:, turns:, stun: or stuns: URI such as turn:turn.example.org:3478?transport=udp`,
});

/**
 * A lifetime in whole seconds within [1 s, max], for structured YAML settings, where a
 * value keeps its YAML type: a number of seconds, or a Synapse duration string (`10m`,
 * `1h`, `90s`), floored to whole seconds as turn_ttl's.
 */
export function seconds(maxSeconds: number) {
  const message = `must be a whole number of seconds from 1 to ${maxSeconds}, or a duration such as 10m or 1h`;
  return z.union([z.number(), z.string()], { error: message }).transform((value, ctx) => {
    const amount =
      typeof value === 'number' || /^\s*\d+\s*$/.test(value)
        ? Number(value)
        : Math.floor((parseSynapseDurationMs(value) ?? Number.NaN) / 1000);
    if (!Number.isSafeInteger(amount) || amount < 1 || amount > maxSeconds) {
      ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    }
    return amount;
  });
}
