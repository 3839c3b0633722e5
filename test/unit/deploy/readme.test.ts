// The README kept in step with the code (the configuration reference is checked in
// test/unit/docs/configuration.test.ts): the operations section lists every metric the
// service exports and every alert the chart installs, and nothing that does not exist; its
// YAML snippets parse, and those that are Kubernetes objects are valid ones.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { parse as parseYaml } from 'yaml';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1';
import { createMetrics, registerClusterGauges } from '../../../src/metrics.js';
import { REPO_ROOT } from '../../helpers/tools.js';

const README = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');

function section(name: string): string {
  const start = README.search(new RegExp(`<!-- section: ${name}\\b[^>]*-->`));
  const end = README.indexOf(`<!-- /section: ${name} -->`);
  expect({ section: name, found: start !== -1 && end > start }).toEqual({ section: name, found: true });
  return README.slice(start, end);
}

interface TableRow {
  cells: string[];
  text: string;
}

/** The rows of the markdown tables in a piece of text (header and separator rows left out), with the header each belongs to. */
function tableRows(text: string): (TableRow & { header: string[] })[] {
  const rows: (TableRow & { header: string[] })[] = [];
  let header: string[] | undefined;
  let previous: string[] | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith('|')) {
      header = undefined;
      previous = undefined;
      continue;
    }
    const cells = line
      .replace(/\\\|/g, '\uE000')
      .split('|')
      .slice(1, -1)
      .map((c) => c.replace(/\uE000/g, '|').trim());
    if (cells.every((c) => /^:?-+:?$/.test(c))) {
      header = previous;
      continue;
    }
    previous = cells;
    if (header !== undefined) rows.push({ cells, text: line, header });
  }
  return rows;
}

const backticked = (text: string) => [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);

describe('README operations section', () => {
  const operations = section('operations');
  const rows = tableRows(operations);

  async function exportedMetricNames(): Promise<string[]> {
    const registry = new Registry();
    createMetrics(registry, { defaultMetrics: false, redis: true });
    registerClusterGauges(registry, () => Promise.resolve({ credentialsIssued: 0, usersLastHour: 0, usersLastDay: 0 }));
    return (await registry.getMetricsAsJSON()).map((m) => m.name).sort();
  }

  it('lists every metric the service exports in the metrics table, and no other', async () => {
    const listed = rows.filter((r) => r.header[0] === 'metric').flatMap((r) => backticked(r.cells[0]!));
    expect([...listed].sort()).toEqual(await exportedMetricNames());
  });

  it('explains every alert the chart installs, and no other', () => {
    const template = readFileSync(join(REPO_ROOT, 'helm', 'matrix-turn-credentials', 'templates', 'prometheusrule.yaml'), 'utf8');
    const installed = [...template.matchAll(/- alert: (\w+)/g)].map((m) => m[1]!).sort();
    const explained = rows.filter((r) => r.header[0] === 'alert').flatMap((r) => backticked(r.cells[0]!));
    expect(installed.length).toBeGreaterThanOrEqual(4);
    expect([...explained].sort()).toEqual(installed);
  });

  it('routes all three turnServer paths in every proxy snippet', () => {
    for (const proxy of ['**nginx**', '**Caddy**', '**Traefik**', '**ingress-nginx**']) {
      const from = operations.indexOf(proxy);
      expect({ proxy, found: from !== -1 }).toEqual({ proxy, found: true });
      const snippet = /```\w*\n([\s\S]*?)```/.exec(operations.slice(from))![1]!;
      for (const prefix of ['v3', 'r0', 'api/v1'])
        expect({ proxy, prefix, routed: snippet.includes(`/_matrix/client/${prefix}/voip/turnServer`) }).toEqual({
          proxy,
          prefix,
          routed: true,
        });
    }
  });

  it('has YAML snippets that parse, and Kubernetes objects among them that validate', () => {
    const blocks = [...operations.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThanOrEqual(4);
    let objects = 0;
    for (const block of blocks) {
      const doc = parseYaml(block) as { apiVersion?: string; kind?: string } | null;
      expect(doc).not.toBeNull();
      if (doc?.kind === 'Ingress') {
        objects += 1;
        expect(() => new Ingress(doc as never).validate()).not.toThrow();
      }
    }
    expect(objects).toBe(1);
  });
});
