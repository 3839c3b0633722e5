// Synapse's duration syntax, as homeserver.yaml writes lifetimes (`turn_user_lifetime: 1h`):
// accepted in the YAML file wherever a lifetime is set, so its lines can be pasted unchanged.

const DURATION_UNITS_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  y: 31_536_000_000,
};

/** Synapse's duration syntax: an integer is milliseconds; a string may end in ms, s, m, h, d, w or y. */
export function parseSynapseDurationMs(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const match = /^\s*(\d+)\s*(ms|s|m|h|d|w|y)?\s*$/.exec(value);
  if (!match) return undefined;
  const amount = Number(match[1]) * (DURATION_UNITS_MS[match[2] ?? 'ms'] ?? 1);
  return Number.isSafeInteger(amount) ? amount : undefined;
}
