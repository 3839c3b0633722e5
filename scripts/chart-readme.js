// The chart's README, made from its Chart.yaml and the `# --` comments of its values.yaml
// (helm-docs' convention, without needing helm-docs): a value's description is the comment
// block right above it, from the line starting `# --` on; `# -- (type) text` names its type,
// and `# @default -- text` replaces its default. Every value must be described, itself or
// by a described parent (whose default then shows the whole map), so the table is complete.
//
//   node scripts/chart-readme.js [--check] [chart directory]
//
// writes <chart>/README.md (default: helm/matrix-turn-credentials), or with --check exits 1
// when the README there is not what values.yaml makes. Plain JavaScript, so it runs
// without a build.

import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const DEFAULT_CHART = join(dirname(fileURLToPath(import.meta.url)), '..', 'helm', 'matrix-turn-credentials');

/**
 * The keys of values.yaml in order, each with the comment lines right above it at its own
 * indentation. Block mappings only: what a list holds belongs to the list's key.
 * @param {string} text
 * @returns {{ path: string[], comments: string[], line: number }[]}
 */
function keysWithComments(text) {
  /** @type {{ path: string[], comments: string[], line: number }[]} */
  const keys = [];
  /** @type {{ indent: number, key: string }[]} */
  const parents = [];
  /** @type {{ indent: number, text: string }[]} */
  let comments = [];
  /** Indentation of the list whose items are being skipped, if any. */
  let listIndent = -1;
  text.split('\n').forEach((raw, index) => {
    const indent = raw.length - raw.trimStart().length;
    const line = raw.trim();
    if (line === '') {
      comments = [];
      return;
    }
    if (listIndent >= 0 && (indent > listIndent || (indent === listIndent && line.startsWith('-')))) return;
    listIndent = -1;
    if (line.startsWith('#')) {
      comments.push({ indent, text: line.replace(/^# ?/, '') });
      return;
    }
    if (line.startsWith('- ') || line === '-') {
      listIndent = indent;
      comments = [];
      return;
    }
    const match = /^([A-Za-z0-9_.-]+):(?:\s|$)/.exec(line);
    if (match === null) {
      comments = [];
      return;
    }
    while (parents.length > 0 && parents.at(-1).indent >= indent) parents.pop();
    const path = [...parents.map((p) => p.key), match[1]];
    keys.push({ path, comments: comments.filter((c) => c.indent === indent).map((c) => c.text), line: index + 1 });
    parents.push({ indent, key: match[1] });
    comments = [];
  });
  return keys;
}

/** @param {unknown} value */
function typeOf(value) {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return 'list';
  if (typeof value === 'object') return 'object';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  if (typeof value === 'boolean') return 'bool';
  return 'string';
}

/** A table cell: one line, pipes escaped (GitHub splits cells on them, even in code), no raw HTML. */
const cell = (text) => text.replaceAll('|', '\\|').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
const codeCell = (text) => '`' + text.replaceAll('|', '\\|') + '`';

/**
 * The rows of the values table, in the order of values.yaml. Throws naming every value
 * described neither itself nor by a parent.
 * @param {string} valuesText
 * @returns {{ key: string, type: string, default: string, description: string }[]}
 */
export function valueRows(valuesText) {
  const values = parse(valuesText) ?? {};
  const keys = keysWithComments(valuesText);
  const described = new Set();
  const rows = [];
  const undescribed = [];
  for (const { path, comments, line } of keys) {
    const value = path.reduce((object, key) => (object === null || typeof object !== 'object' ? undefined : object[key]), values);
    const start = comments.findLastIndex((c) => c.startsWith('-- ') || c === '--');
    const key = path.join('.');
    if (start === -1) {
      const isSection = value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length > 0;
      const underDescribed = path.some((_, i) => described.has(path.slice(0, i).join('.')));
      if (!isSection && !underDescribed) undescribed.push(`${key} (line ${line})`);
      continue;
    }
    described.add(key);
    const block = comments.slice(start);
    const defaultLine = block.find((c) => c.startsWith('@default -- '));
    let description = block
      .filter((c) => c !== defaultLine)
      .join(' ')
      .replace(/^--\s*/, '')
      .trim();
    let type = typeOf(value);
    const declared = /^\(([^)]+)\)\s*/.exec(description);
    if (declared !== null) {
      type = declared[1];
      description = description.slice(declared[0].length);
    }
    rows.push({
      key,
      type,
      default: defaultLine === undefined ? codeCell(JSON.stringify(value ?? null)) : cell(defaultLine.slice('@default -- '.length)),
      description: cell(description),
    });
  }
  if (undescribed.length > 0) {
    throw new Error(`values.yaml: no "# --" description for ${undescribed.join(', ')} (nor for a map holding it)`);
  }
  return rows;
}

/**
 * The README of a chart, from the text of its Chart.yaml and values.yaml.
 * @param {string} chartText
 * @param {string} valuesText
 */
export function chartReadme(chartText, valuesText) {
  const chart = parse(chartText);
  const docs = (page) => `${chart.home}/blob/main/docs/${page}`;
  const rows = valueRows(valuesText).map((r) => `| ${codeCell(r.key)} | ${r.type} | ${r.default} | ${r.description} |`);
  return [
    `# ${chart.name}`,
    '',
    chart.description.trim(),
    '',
    `Chart ${chart.version}, app ${chart.appVersion}, Kubernetes ${chart.kubeVersion}. ` +
      `Home: ${chart.home}. Source: ${chart.sources.join(', ')}.`,
    '',
    '## Installing',
    '',
    '```sh',
    `helm install turn ./helm/${chart.name} --namespace matrix --values my-values.yaml`,
    'helm test turn --namespace matrix --logs',
    '```',
    '',
    'The chart refuses to render without the settings the service cannot start without (the',
    'TURN URIs and their credential, and what `config.AUTH_METHOD` needs), naming every one',
    'missing; `helm test` runs the doctor in a pod with the service’s configuration. Routing',
    `the turnServer path next to a homeserver chart, and the rest of deploying: [deployment](${docs('deployment.md')});`,
    `every setting under \`config\` and \`secrets\`: [configuration](${docs('configuration.md')});`,
    `the alerts: [operations](${docs('operations.md')}).`,
    '',
    '## Values',
    '',
    '| Key | Type | Default | Description |',
    '|-----|------|---------|-------------|',
    ...rows,
    '',
    `Made by \`node scripts/chart-readme.js\` from the \`# --\` comments of values.yaml: edit those, not this file.`,
    '',
  ].join('\n');
}

function main(args) {
  const check = args.includes('--check');
  const chartDir = resolve(args.find((a) => !a.startsWith('--')) ?? DEFAULT_CHART);
  const readmePath = join(chartDir, 'README.md');
  const made = chartReadme(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8'), readFileSync(join(chartDir, 'values.yaml'), 'utf8'));
  if (!check) {
    writeFileSync(readmePath, made);
    return 0;
  }
  let committed = '';
  try {
    committed = readFileSync(readmePath, 'utf8');
  } catch {
    // No README yet: it differs.
  }
  if (committed === made) return 0;
  process.stderr.write(`${readmePath} is not what values.yaml makes: run node scripts/chart-readme.js\n`);
  return 1;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 2;
  }
}
