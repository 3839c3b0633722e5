// The mechanism of structured settings (src/config/structured.ts): a YAML key declared as
// structured keeps its YAML value, is parsed by its own schema into a typed value, and each
// problem is named by its path in the file. Shown with a setting made for this test only.

import { z } from 'zod';
import { readConfigFile } from '../../../src/config/sources.js';
import { parseStructured, secretFile, settingPath, type StructuredSetting } from '../../../src/config/structured.js';

/** A test-only section: a list of listeners, each a name and a list of ports. */
const listeners: StructuredSetting<{ name: string; ports: number[] }[]> = {
  schema: () =>
    z.array(
      z.strictObject({ name: z.string().min(1, 'must not be empty'), ports: z.array(z.number().int('must be a whole number')).min(1) }),
    ),
};

const FILES: Record<string, string> = { '/config.yaml': '' };
function readFile(path: string): string {
  const text = FILES[path];
  if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  return text;
}

/** Reads `yaml` as the CONFIG_FILE with `settings` declared structured, and parses their sections. */
function read(yaml: string, settings = { listeners }) {
  FILES['/config.yaml'] = yaml;
  const problems: string[] = [];
  const sources = readConfigFile('/config.yaml', readFile, settings, problems);
  const values = parseStructured(sources.structured, settings, { readFile }, problems);
  return { flat: sources.settings, values, problems };
}

describe('the YAML reader', () => {
  it('keeps the value of a structured key as YAML gave it, beside the flat settings', () => {
    const { flat, values, problems } = read(
      ['port: 8181', 'listeners:', '  - name: a', '    ports: [1, 2]', '  - {name: b, ports: [3]}'].join('\n'),
    );
    expect(problems).toEqual([]);
    expect(flat).toEqual({ PORT: '8181' });
    expect(values).toEqual({
      listeners: [
        { name: 'a', ports: [1, 2] },
        { name: 'b', ports: [3] },
      ],
    });
  });

  it('refuses the same key as unknown when it is not declared, and a mapping under a flat key as before', () => {
    expect(read('listeners: [{name: a, ports: [1]}]\n', {} as { listeners: typeof listeners }).problems).toEqual([
      'CONFIG_FILE: unknown setting "listeners" in /config.yaml',
    ]);
    expect(read('turn_ttl: {a: 1}\n').problems).toEqual(['turn_ttl: must be a string, number, boolean or list of strings']);
  });

  it('treats an empty section as not given', () => {
    expect(read('listeners:\n')).toEqual({ flat: {}, values: {}, problems: [] });
  });
});

describe('parsing a structured section', () => {
  it('names each problem by its path in the file, indices from 0, and leaves the section out', () => {
    const { values, problems } = read(
      ['listeners:', '  - {name: a, ports: [1]}', '  - {name: "", ports: [2, 2.5], extra: 1}', '  - 7'].join('\n'),
    );
    expect(values).toEqual({});
    expect(problems).toEqual([
      'listeners[1].name: must not be empty',
      'listeners[1].ports[1]: must be a whole number',
      'listeners[1]: Unrecognized key: "extra"',
      'listeners[2]: Invalid input: expected object, received number',
    ]);
  });

  it('names the key itself when the whole value is wrong', () => {
    expect(read('listeners: just text\n').problems).toEqual(['listeners: Invalid input: expected array, received string']);
  });

  it('writes paths as a reader looks them up', () => {
    expect(settingPath('turn_servers', [])).toBe('turn_servers');
    expect(settingPath('turn_servers', [1, 'uris', 0])).toBe('turn_servers[1].uris[0]');
  });
});

describe('a secret file named in a section', () => {
  const parse = (path: unknown) => secretFile(readFile).safeParse(path);
  const messages = (path: unknown) => {
    const parsed = parse(path);
    return parsed.success ? [] : parsed.error.issues.map((issue) => issue.message);
  };

  it('is read now, trimmed, and remembered with its path for re-reading', () => {
    FILES['/run/secrets/a'] = 'the-secret\n';
    expect(parse('/run/secrets/a')).toEqual({ success: true, data: { value: 'the-secret', path: '/run/secrets/a' } });
  });

  it('is refused when unreadable or empty, in the words of the flat X_FILE secrets', () => {
    FILES['/run/secrets/empty'] = ' \n';
    expect(messages('/run/secrets/absent')).toEqual(['cannot read /run/secrets/absent: ENOENT']);
    expect(messages('/run/secrets/empty')).toEqual(['/run/secrets/empty is empty']);
    expect(messages(' ')).toEqual(['must be a path']);
    expect(messages(42)).toEqual(['must be a path']);
  });
});
