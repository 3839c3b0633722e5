// The exported series follow Prometheus conventions, so dashboards and alerts written
// against them stay right: a matrix_turn_ prefix, counters ending in _total and nothing else
// ending so, durations in seconds, label names from a small known vocabulary (never a
// user or a token), latency buckets fine enough to tell 1 ms from 50 ms, and every
// series DESIGN.md promises.

import { readFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import { LATENCY_BUCKETS_SECONDS, createMetrics, registerClusterGauges } from '../../src/metrics.js';

interface Exported {
  name: string;
  type: string;
  labels: string[];
}

async function exported(): Promise<Exported[]> {
  const registry = new Registry();
  createMetrics(registry, { defaultMetrics: false, redis: true });
  registerClusterGauges(registry, async () => ({ credentialsIssued: 3, usersLastHour: 2, usersLastDay: 2 }));
  const metrics = (await registry.getMetricsAsJSON()) as unknown as {
    name: string;
    type: string;
    values: { labels: Record<string, unknown> }[];
  }[];
  return metrics.map((m) => {
    const declared = (registry.getSingleMetric(m.name) as unknown as { labelNames?: string[] }).labelNames ?? [];
    const seen = m.values.flatMap((v) => Object.keys(v.labels)).filter((l) => l !== 'le');
    return { name: m.name, type: String(m.type), labels: [...new Set([...declared, ...seen])].sort() };
  });
}

/** Label names the series may carry: each has a bounded set of values. */
// server and uri: the names and URIs of the configured TURN servers, as many as the configuration lists.
const LABEL_VOCABULARY = new Set([
  'route',
  'method',
  'status',
  'upstream',
  'outcome',
  'result',
  'scope',
  'window',
  'version',
  'secret',
  'server',
  'uri',
  'reason',
]);

describe('exported metrics', () => {
  it('include every series DESIGN.md promises', async () => {
    const names = (await exported()).map((m) => m.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'matrix_turn_credentials_issued_total',
        'matrix_turn_rate_limited_total',
        'matrix_turn_token_verifications_total',
        'matrix_turn_token_cache_requests_total',
        'matrix_turn_upstream_request_duration_seconds',
        'matrix_turn_http_request_duration_seconds',
        'matrix_turn_redis_up',
        'matrix_turn_build_info',
        'matrix_turn_cluster_credentials_issued_total',
      ]),
    );
    const byName = new Map((await exported()).map((m) => [m.name, m]));
    expect(byName.get('matrix_turn_token_verifications_total')?.labels).toEqual(['method', 'result']);
    expect(byName.get('matrix_turn_token_cache_requests_total')?.labels).toEqual(['result']);
    expect(byName.get('matrix_turn_http_request_duration_seconds')?.labels).toEqual(['method', 'route', 'status']);
    expect(byName.get('matrix_turn_upstream_request_duration_seconds')?.labels).toContain('upstream');
  });

  it('count refused or failed re-reads of a secret file by the variable naming it, for an alert', async () => {
    const byName = new Map((await exported()).map((m) => [m.name, m]));
    expect(byName.get('matrix_turn_secret_reload_failures_total')).toEqual({
      name: 'matrix_turn_secret_reload_failures_total',
      type: 'counter',
      labels: ['secret'],
    });
  });

  it("export the running version as matrix_turn_build_info, package.json's", async () => {
    const registry = new Registry();
    createMetrics(registry, { defaultMetrics: false });
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(await registry.metrics()).toMatch(
      new RegExp(`^matrix_turn_build_info\\{version="${version.replaceAll('.', '\\.')}"\\} 1$`, 'm'),
    );
  });

  it('are named by Prometheus conventions: prefix, _total on counters only, base units', async () => {
    for (const metric of await exported()) {
      expect({ name: metric.name, prefixed: metric.name.startsWith('matrix_turn_') }).toEqual({ name: metric.name, prefixed: true });
      expect({ name: metric.name, type: metric.type, total: metric.name.endsWith('_total') }).toEqual({
        name: metric.name,
        type: metric.type,
        total: metric.type === 'counter',
      });
      if (metric.type === 'histogram') expect(metric.name).toMatch(/_seconds$/);
      expect(metric.name).not.toMatch(/_(ms|milliseconds|minutes|hours)(_|$)/);
    }
  });

  it('carry only labels with bounded values, never a user or a token', async () => {
    for (const metric of await exported()) {
      for (const label of metric.labels)
        expect({ name: metric.name, label, bounded: LABEL_VOCABULARY.has(label) }).toEqual({ name: metric.name, label, bounded: true });
    }
  });

  it('have latency buckets that tell a 1 ms answer from a 5 ms and a 50 ms one, up to seconds', () => {
    const bucketOf = (seconds: number) => LATENCY_BUCKETS_SECONDS.findIndex((upper) => seconds <= upper);
    expect(new Set([bucketOf(0.001), bucketOf(0.005), bucketOf(0.05)]).size).toBe(3);
    expect(LATENCY_BUCKETS_SECONDS.at(-1)).toBeGreaterThanOrEqual(5);
    expect([...LATENCY_BUCKETS_SECONDS].sort((a, b) => a - b)).toEqual(LATENCY_BUCKETS_SECONDS);
  });
});
