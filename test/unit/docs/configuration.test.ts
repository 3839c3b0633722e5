// docs/configuration.md kept in step with the code: the table under "Variables" names every
// variable of src/config/variables.ts (and the _FILE form of every secret) and nothing else,
// each with its default; the YAML files it shows are ones the service starts with.

import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../../src/config/index.js';
import { SECRET_VARIABLES, VARIABLES } from '../../../src/config/variables.js';
import { backticked, readPage, sectionUnder, tableRows, type TableRow } from './markdown.js';

const PAGE = readPage('docs/configuration.md');

describe('the variables table of docs/configuration.md', () => {
  const rows = tableRows(sectionUnder(PAGE, 'Variables')).filter((r) => r.header[0]?.toLowerCase() === 'variable');
  const namedIn = (row: TableRow) => backticked(row.cells[0]!).filter((name) => /^[A-Z][A-Z0-9_]+$/.test(name));
  const documented = new Set(rows.flatMap(namedIn));
  const fileForms = SECRET_VARIABLES.map((name) => `${name}_FILE`);

  it('has a table of variables', () => {
    expect(rows.length).toBeGreaterThan(10);
  });

  it('names every variable the service reads', () => {
    expect(Object.keys(VARIABLES).filter((name) => !documented.has(name))).toEqual([]);
  });

  it('names the _FILE form of every secret in the table', () => {
    const inTable = new Set(rows.flatMap((row) => backticked(row.text)));
    expect(fileForms.filter((name) => !inTable.has(name))).toEqual([]);
  });

  it('names nothing the service does not read', () => {
    const known = new Set([...Object.keys(VARIABLES), ...fileForms]);
    expect([...documented].filter((name) => !known.has(name))).toEqual([]);
  });

  it("gives each variable's default in its row", () => {
    const missing: string[] = [];
    for (const [name, fallback] of Object.entries(VARIABLES)) {
      if (fallback === undefined || fallback === '') continue;
      const row = rows.find((r) => namedIn(r).includes(name));
      if (
        row !== undefined &&
        !backticked(row.cells.slice(1).join(' | ')).some((value) => value.split(/,\s*/).includes(fallback) || value === fallback)
      ) {
        missing.push(`${name}=${fallback}`);
      }
    }
    expect(missing).toEqual([]);
  });
});

describe('the YAML files docs/configuration.md shows', () => {
  const yamlBlocks = (section: string) => [...sectionUnder(PAGE, section).matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
  // The paths the examples name, each holding a secret, so that loadConfig can read them.
  const readFile = (path: string): string => {
    if (path === '/etc/matrix-turn-credentials/config.yaml') return current;
    if (path.startsWith('/run/secrets/')) return 'a-secret-from-a-file\n';
    throw Object.assign(new Error(`no such file ${path}`), { code: 'ENOENT' });
  };
  let current = '';

  it.each(['The YAML file', "Moving from Synapse's own TURN settings"])('are accepted by the service as they are (%s)', (section) => {
    const blocks = yamlBlocks(section);
    expect(blocks.length).toBe(1);
    current = blocks[0]!;
    const config = loadConfig({ CONFIG_FILE: '/etc/matrix-turn-credentials/config.yaml' }, { readFile });
    expect(config.auth.homeserverUrl).toBe('https://matrix.example.org');
    expect(config.turn.ttlSeconds).toBe(3600);
  });

  it('include the structured section, which parses as YAML', () => {
    for (const block of yamlBlocks('Structured settings in the YAML file')) expect(parseYaml(block)).toHaveProperty('turn_servers');
  });
});
