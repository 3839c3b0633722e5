// examples/README.md lists every file of examples/ (a new one is not left undescribed),
// every relative link in the examples' Markdown leads to a file that exists, and the
// notes for other homeservers name the TURN settings each one must have off.

import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { EXAMPLES, exampleText } from './example-files.js';

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [relative(EXAMPLES, join(dir, entry.name))],
  );
}

const links = (markdown: string) => [...markdown.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)].map((m) => m[1]!);

test('the README lists every example file', () => {
  const readme = exampleText('README.md');
  const listed = new Set(links(readme));
  const files = filesUnder(EXAMPLES).filter((file) => file !== 'README.md' && !file.endsWith('.gitignore'));
  expect(files.filter((file) => !listed.has(file))).toEqual([]);
});

test.each(['README.md', 'homeservers.md'])('every relative link in %s leads to a file', (file) => {
  const targets = links(exampleText(file)).filter((target) => !/^[a-z]+:/.test(target));
  expect(targets.length).toBeGreaterThan(0);
  const missing = targets.filter((target) => !existsSync(join(EXAMPLES, dirname(file), target)));
  expect(missing).toEqual([]);
});

test("the notes name each homeserver's own TURN settings", () => {
  const notes = exampleText('homeservers.md');
  for (const setting of ['turn_uris', 'turn_shared_secret', 'turn_username', 'turn_password', 'turn_user_lifetime', 'turn_allow_guests']) {
    expect(notes).toContain(`\`${setting}\``);
  }
  expect(notes).toContain('client_api');
  for (const setting of [
    'turn_secret',
    'turn_secret_file',
    'turn_ttl',
    'CONTINUWUITY_TURN_URIS',
    'TUWUNEL_TURN_URIS',
    'CONDUWUIT_TURN_URIS',
  ]) {
    expect(notes).toContain(`\`${setting}\``);
  }
  for (const path of [
    '/_matrix/client/v3/voip/turnServer',
    '/_matrix/client/r0/voip/turnServer',
    '/_matrix/client/api/v1/voip/turnServer',
  ]) {
    expect(notes).toContain(path);
  }
});
