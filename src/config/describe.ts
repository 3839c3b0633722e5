// The configuration as it may be logged at start: Config with every secret masked, found
// where the table of variables says each sits (variables.ts), so a secret added to the
// table is masked without a second list to keep in step.

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
  return described;
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
