// The configuration as it may be logged at start: Config with every secret masked. The
// table of variables says where each flat secret sits and how it is shown (variables.ts);
// then every SecretRef left anywhere (the turn_servers section's, whatever a later section
// adds) is masked by its shape, so no secret depends on a list kept in step to stay hidden.

import type { Config } from './config.js';
import type { SecretRef } from './sources.js';
import { SECRET_PLACES } from './variables.js';

export function describeConfig(config: Config): Record<string, unknown> {
  const described = structuredClone(config) as unknown as Record<string, unknown>;
  for (const { at, shown } of SECRET_PLACES) {
    const steps = at.split('.');
    const key = steps.pop()!;
    let parent: unknown = described;
    for (const step of steps) parent = (parent as Record<string, unknown> | undefined)?.[step];
    if (parent === null || typeof parent !== 'object') continue;
    const holder = parent as Record<string, unknown>;
    const ref = holder[key] as SecretRef | undefined;
    if (ref === undefined) continue;
    holder[key] = shown === 'url without password' ? withoutPassword(ref.value) : ref.path === undefined ? '<set>' : `<file ${ref.path}>`;
  }
  return maskSecretRefs(described) as Record<string, unknown>;
}

/** A SecretRef as structuredClone leaves it: a string `value`, an optional string `path`, nothing else. */
function isSecretRef(value: object): value is SecretRef {
  const keys = Object.keys(value);
  const ref = value as Partial<SecretRef>;
  return (
    typeof ref.value === 'string' &&
    keys.every((key) => key === 'value' || key === 'path') &&
    (ref.path === undefined || typeof ref.path === 'string')
  );
}

function maskSecretRefs(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (isSecretRef(value)) return value.path === undefined ? '<set>' : `<file ${value.path}>`;
  if (Array.isArray(value)) return value.map(maskSecretRefs);
  return Object.fromEntries(Object.entries(value).map(([key, child]) => [key, maskSecretRefs(child)]));
}

function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '****';
    return parsed.toString();
  } catch {
    return '<set>';
  }
}
