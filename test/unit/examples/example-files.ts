// Reading the files of examples/ for their tests: the text, YAML parsed, and the
// environment files systemd and Compose hand to the service.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { REPO_ROOT } from '../../helpers/tools.js';

export const EXAMPLES = join(REPO_ROOT, 'examples');

export const exampleText = (path: string): string => readFileSync(join(EXAMPLES, path), 'utf8');

export const exampleYaml = (path: string): unknown => YAML.parse(exampleText(path));

/** systemd's EnvironmentFile: VARIABLE=value lines; blank lines and # comments skipped. */
export function environmentFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of activeLines(text)) {
    const equals = line.indexOf('=');
    if (equals < 1) throw new Error(`not VARIABLE=value: ${line}`);
    env[line.slice(0, equals)] = line.slice(equals + 1);
  }
  return env;
}

/** The lines that are not comments, trimmed. */
export function activeLines(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}
