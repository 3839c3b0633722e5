// docs/operations.md kept in step with the code: the table under "Metrics" lists every
// metric the service exports and nothing else, and "Alerts" has one heading per alert the
// chart installs, named exactly as the alert, so that a runbook_url can point at its anchor.

import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { createMetrics, registerClusterGauges } from '../../../src/metrics.js';
import { REPO_ROOT } from '../../helpers/tools.js';
import { anchors, backticked, headings, readPage, sectionUnder, slug, tableRows } from './markdown.js';

const PAGE = readPage('docs/operations.md');

async function exportedMetricNames(): Promise<string[]> {
  const registry = new Registry();
  createMetrics(registry, { defaultMetrics: false, redis: true });
  registerClusterGauges(registry, () => Promise.resolve({ credentialsIssued: 0, usersLastHour: 0, usersLastDay: 0 }));
  return (await registry.getMetricsAsJSON()).map((m) => m.name).sort();
}

/** The chart's alerts: the keys of metrics.prometheusRule.rules in values.yaml, which the template renders and the schema closes. */
function installedAlerts(): string[] {
  const values = parseYaml(readFileSync(join(REPO_ROOT, 'helm', 'matrix-turn-credentials', 'values.yaml'), 'utf8')) as {
    metrics: { prometheusRule: { rules: Record<string, unknown> } };
  };
  return Object.keys(values.metrics.prometheusRule.rules).sort();
}

describe('the metrics table of docs/operations.md', () => {
  it('lists every metric the service exports, and no other', async () => {
    const rows = tableRows(sectionUnder(PAGE, 'Metrics')).filter((r) => r.header[0] === 'metric');
    const listed = rows.flatMap((r) => backticked(r.cells[0]!));
    expect([...listed].sort()).toEqual(await exportedMetricNames());
  });
});

describe('the alerts of docs/operations.md', () => {
  const alerts = sectionUnder(PAGE, 'Alerts');
  const explained = headings(alerts)
    .filter((h) => h.level === 3)
    .map((h) => h.text)
    .sort();

  it('has a heading for every alert the chart installs, and no other', () => {
    expect(installedAlerts().length).toBeGreaterThanOrEqual(4);
    expect(explained).toEqual(installedAlerts());
  });

  it("gives each alert an anchor that is its name in lower case, as the chart's runbook_url expects", () => {
    const onPage = anchors(PAGE);
    expect(installedAlerts().filter((alert) => !onPage.has(alert.toLowerCase()))).toEqual([]);
    expect(explained.map(slug)).toEqual(explained.map((alert) => alert.toLowerCase()));
  });

  it('says when each alert fires and what to do', () => {
    for (const alert of explained) {
      const text = sectionUnder(alerts, alert);
      expect({ alert, fires: text.includes('**Fires when**'), todo: text.includes('**What to do:**') }).toEqual({
        alert,
        fires: true,
        todo: true,
      });
    }
  });
});
