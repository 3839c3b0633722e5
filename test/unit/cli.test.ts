// The command line as an operator types it: no argument serves; check-config, --help and
// --version are commands of their own; anything else is refused by name.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { HELP_TEXT, VERSION_TEXT, parseCommand } from '../../src/cli.js';
import { SERVICE_VERSION } from '../../src/version.js';
import { REPO_ROOT } from '../helpers/tools.js';

describe('parseCommand', () => {
  it('serves with no argument, or with serve', () => {
    expect(parseCommand([])).toEqual({ kind: 'serve' });
    expect(parseCommand(['serve'])).toEqual({ kind: 'serve' });
  });

  it('names check-config, help and version in their usual spellings', () => {
    expect(parseCommand(['check-config'])).toEqual({ kind: 'check-config' });
    for (const help of ['--help', '-h', 'help']) expect(parseCommand([help])).toEqual({ kind: 'help' });
    for (const version of ['--version', '-V']) expect(parseCommand([version])).toEqual({ kind: 'version' });
  });

  it('names doctor with --json and --token TOKEN (or --token=TOKEN), in any order', () => {
    expect(parseCommand(['doctor'])).toEqual({ kind: 'doctor', json: false });
    expect(parseCommand(['doctor', '--json'])).toEqual({ kind: 'doctor', json: true });
    expect(parseCommand(['doctor', '--token', 'syt_abc', '--json'])).toEqual({ kind: 'doctor', json: true, token: 'syt_abc' });
    expect(parseCommand(['doctor', '--json', '--token=syt_abc'])).toEqual({ kind: 'doctor', json: true, token: 'syt_abc' });
  });

  it("refuses doctor's unknown options by name, but never echoes what may be a token", () => {
    expect(parseCommand(['doctor', '--verbose'])).toEqual({ kind: 'unknown', argument: '--verbose' });
    expect(parseCommand(['doctor', '--json', '--json'])).toEqual({ kind: 'unknown', argument: '--json' });
    for (const argv of [
      ['--token'],
      ['--token', '--json'],
      ['--token='],
      ['--token=a', '--token=syt_second'],
      ['--token', 'a', '--token', 'b'],
    ]) {
      expect(parseCommand(['doctor', ...argv])).toEqual({ kind: 'unknown', argument: '--token (one token, once)' });
    }
    expect(parseCommand(['doctor', 'syt_secret'])).toEqual({
      kind: 'unknown',
      argument: 'a word after doctor (a token goes after --token)',
    });
  });

  it('refuses an unknown word or a second argument, naming it', () => {
    expect(parseCommand(['chek-config'])).toEqual({ kind: 'unknown', argument: 'chek-config' });
    expect(parseCommand(['check-config', '--verbose'])).toEqual({ kind: 'unknown', argument: '--verbose' });
    expect(parseCommand(['serve', 'now'])).toEqual({ kind: 'unknown', argument: 'now' });
  });
});

describe('the texts', () => {
  it('give the version, and a help that lists every command and the docs pages, which exist', () => {
    expect(VERSION_TEXT).toBe(`matrix-turn-credentials ${SERVICE_VERSION}\n`);
    for (const command of ['serve', 'check-config', 'doctor [--token TOKEN] [--json]', '--version', '--help'])
      expect(HELP_TEXT).toContain(command);
    const pages = [...HELP_TEXT.matchAll(/docs\/[\w-]+\.md/g)].map((m) => m[0]);
    expect(pages).toEqual([
      'docs/configuration.md',
      'docs/authentication.md',
      'docs/turn-servers.md',
      'docs/redis.md',
      'docs/deployment.md',
      'docs/operations.md',
    ]);
    expect(pages.filter((page) => !existsSync(join(REPO_ROOT, page)))).toEqual([]);
  });
});
