// Metrics: every series the service exports, built on a registry that is passed in (each
// test gets a fresh one). Label values are bounded sets: route templates, methods, status
// codes, outcome words, the names of our own variables; never a user id or a token. Series on the request path are bound
// to their labels once, so a request does no label lookups: its counters are tallies
// (tallied-counter.ts), plain numbers read into prom-client at scrape, and the histograms it
// observes (its own duration; a cold path's upstream call) are LatencyHistograms
// (latency-histogram.ts), which do not hash per observation either.

import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, collectDefaultMetrics, type Registry } from 'prom-client';
import { LatencyHistogram } from './fast-paths/latency-histogram.js';
import { TalliedCounter } from './tallied-counter.js';
import { SERVICE_VERSION } from './version.js';

/** Resolves a 1 ms answer from a 5 ms and a 50 ms one. */
export const LATENCY_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export type VerificationResult = 'valid' | 'invalid' | 'error';
export type CacheResult = 'hit' | 'miss' | 'coalesced';

export interface Metrics {
  readonly registry: Registry;
  /** Counted on the request path: tallied (tallied-counter.ts), read at scrape. */
  readonly credentialsIssued: TalliedCounter<never>;
  readonly rateLimited: TalliedCounter<'scope'>;
  readonly tokenVerifications: TalliedCounter<'method' | 'result'>;
  readonly tokenCacheRequests: TalliedCounter<'result'>;
  readonly upstreamDuration: LatencyHistogram<'upstream' | 'outcome'>;
  readonly httpDuration: LatencyHistogram<'route' | 'method' | 'status'>;
  readonly redisUp: Gauge;
  readonly rateLimitFallback: Gauge;
  readonly breakerOpen: Gauge<'upstream'>;
  readonly upstreamInFlight: Gauge<'upstream'>;
  /** By the X_FILE variable naming the file: a bounded set (secret-file.ts counts, once per failure). */
  readonly secretReloadFailures: Counter<'secret'>;
  /** Managed secrets (turn/managed-secrets/), by configured server name. */
  readonly secretRotations: Counter<'server'>;
  readonly signingSecretAge: Gauge<'server'>;
  readonly secretRotationInterval: Gauge<'server'>;
  readonly managedSecrets: Gauge<'server'>;
  /** By configured server name and URI: bounded by the configuration. */
  readonly turnServerUp: Gauge<'server' | 'uri'>;
  readonly turnServerCheckDuration: Histogram<'server'>;
  readonly turnServerCheckFailures: Counter<'server' | 'reason'>;
  /** By provider entry name (bounded by the configuration) and result (ok, or a ProviderFailureReason). */
  readonly turnProviderRequests: Counter<'server' | 'result'>;
  readonly turnProviderDuration: Histogram<'server'>;
  readonly turnProviderCacheRequests: Counter<'server' | 'result'>;
}

/**
 * `redis`: whether Redis is configured; without it the Redis series are not exported at all.
 * `version`: the service's version, exported as matrix_turn_build_info{version}.
 */
export function createMetrics(registry: Registry, options: { defaultMetrics?: boolean; redis?: boolean; version?: string } = {}): Metrics {
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  new Gauge({
    name: 'matrix_turn_build_info',
    help: 'Always 1; its version label is the running version of matrix-turn-credentials.',
    labelNames: ['version'],
    registers,
  })
    .labels(options.version ?? SERVICE_VERSION)
    .set(1);
  const redisRegisters = options.redis === true ? registers : [];
  return {
    registry,
    credentialsIssued: new TalliedCounter({
      name: 'matrix_turn_credentials_issued_total',
      help: 'TURN credentials issued by this replica.',
      registers,
    }),
    rateLimited: new TalliedCounter({
      name: 'matrix_turn_rate_limited_total',
      help: 'Requests refused with 429, by what was limited (user, or client address for unknown tokens).',
      labelNames: ['scope'],
      registers,
    }),
    tokenVerifications: new TalliedCounter({
      name: 'matrix_turn_token_verifications_total',
      help: 'Access token verifications that reached the verifier (cache misses), by method and result.',
      labelNames: ['method', 'result'],
      registers,
    }),
    tokenCacheRequests: new TalliedCounter({
      name: 'matrix_turn_token_cache_requests_total',
      help: 'Token cache look-ups: hit, miss, or coalesced onto a verification already in flight.',
      labelNames: ['result'],
      registers,
    }),
    upstreamDuration: new LatencyHistogram({
      name: 'matrix_turn_upstream_request_duration_seconds',
      help: 'Calls to the homeserver, OAuth server or JWKS endpoint, by upstream and outcome.',
      labelNames: ['upstream', 'outcome'],
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    }),
    httpDuration: new LatencyHistogram({
      name: 'matrix_turn_http_request_duration_seconds',
      help: 'HTTP requests served on the public port, by route template, method and status.',
      labelNames: ['route', 'method', 'status'],
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    }),
    redisUp: new Gauge({
      name: 'matrix_turn_redis_up',
      help: '1 while the Redis rate limiter is reachable, 0 while the fallback is in force (absent without Redis).',
      registers: redisRegisters,
    }),
    rateLimitFallback: new Gauge({
      name: 'matrix_turn_rate_limit_fallback_active',
      help: '1 while the service limits with the RATE_LIMIT_ON_REDIS_ERROR fallback instead of Redis.',
      registers: redisRegisters,
    }),
    breakerOpen: new Gauge({
      name: 'matrix_turn_upstream_circuit_open',
      help: '1 while the circuit breaker for an upstream is open (failing fast).',
      labelNames: ['upstream'],
      registers,
    }),
    upstreamInFlight: new Gauge({
      name: 'matrix_turn_upstream_requests_in_flight',
      help: 'Verification calls to an upstream in flight.',
      labelNames: ['upstream'],
      registers,
    }),
    secretReloadFailures: new Counter({
      name: 'matrix_turn_secret_reload_failures_total',
      help:
        'Re-reads of a secret file that failed (missing, unreadable, empty) or were refused by the rule of the start, ' +
        'by the variable naming the file; the last good value stays in force, and a restart would refuse to start.',
      labelNames: ['secret'],
      registers,
    }),
    secretRotations: new Counter({
      name: 'matrix_turn_secret_rotations_total',
      help: "New secrets this replica added to coturn's Redis set (managed secrets), by server; summed over replicas, one per interval.",
      labelNames: ['server'],
      registers,
    }),
    signingSecretAge: new Gauge({
      name: 'matrix_turn_signing_secret_age_seconds',
      help: 'Age of the managed secret this replica signs with, by server: grows past the rotation interval when rotation stalls.',
      labelNames: ['server'],
      registers,
    }),
    secretRotationInterval: new Gauge({
      name: 'matrix_turn_secret_rotation_interval_seconds',
      help: 'The rotation interval of managed secrets, by server: what matrix_turn_signing_secret_age_seconds is held to by the alert.',
      labelNames: ['server'],
      registers,
    }),
    managedSecrets: new Gauge({
      name: 'matrix_turn_secrets',
      help: "Members of coturn's Redis secret set that this service added (managed secrets), by server, as last read.",
      labelNames: ['server'],
      registers,
    }),
    turnServerUp: new Gauge({
      name: 'matrix_turn_server_up',
      help:
        "1 while the last health check of a TURN server's URI passed, 0 while it failed " +
        '(absent before the first check, or with checks off).',
      labelNames: ['server', 'uri'],
      registers,
    }),
    turnServerCheckDuration: new Histogram({
      name: 'matrix_turn_server_check_duration_seconds',
      help: 'TURN health checks (a STUN Binding, or a TURN Allocate and Refresh), by server, whatever their result.',
      labelNames: ['server'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    turnServerCheckFailures: new Counter({
      name: 'matrix_turn_server_check_failures_total',
      help: 'Failed TURN health checks, by server and reason (timeout, refused, unauthorized, tls, dns, error).',
      labelNames: ['server', 'reason'],
      registers,
    }),
    turnProviderRequests: new Counter({
      name: 'matrix_turn_provider_requests_total',
      help: 'Credentials asked of a TURN provider, by server and result (ok, refused, bad_answer, timeout, unavailable).',
      labelNames: ['server', 'result'],
      registers,
    }),
    turnProviderDuration: new Histogram({
      name: 'matrix_turn_provider_request_duration_seconds',
      help: 'How long a TURN provider took to issue a credential (every call it takes), by server, whatever the result.',
      labelNames: ['server'],
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    }),
    turnProviderCacheRequests: new Counter({
      name: 'matrix_turn_provider_cache_requests_total',
      help: "Look-ups of a user's kept provider credential: hit, miss (the provider is asked), or coalesced onto a call in flight.",
      labelNames: ['server', 'result'],
      registers,
    }),
  };
}

/** Figures of every replica together, which only Redis knows. */
export interface ClusterFigures {
  readonly credentialsIssued: number;
  readonly usersLastHour: number;
  readonly usersLastDay: number;
}

/**
 * The cluster-wide gauges, read from Redis at scrape time: `read` runs once per scrape
 * (both gauges share it) and resolves undefined when Redis did not answer in time; the
 * series are then absent rather than a misleading 0. Every replica exports the same
 * figures: aggregate them with max(), not sum().
 */
export function registerClusterGauges(registry: Registry, read: () => Promise<ClusterFigures | undefined>): void {
  let inFlight: Promise<ClusterFigures | undefined> | undefined;
  const readOnce = () => (inFlight ??= read().finally(() => (inFlight = undefined)));
  // A counter whose running total Redis holds, as exporters expose a server's own
  // counts: set at each scrape from Redis, so rate() works; it resets only if Redis's data does.
  const issued: Counter = new Counter({
    name: 'matrix_turn_cluster_credentials_issued_total',
    help: 'TURN credentials issued by all replicas sharing this Redis (a total Redis keeps, read at scrape time).',
    registers: [registry],
    async collect() {
      const figures = await readOnce();
      issued.remove();
      if (figures !== undefined) issued.inc(figures.credentialsIssued);
    },
  });
  const users: Gauge<'window'> = new Gauge({
    name: 'matrix_turn_cluster_users',
    help:
      'Distinct users issued credentials by any replica in the last hour or day ' +
      '(HyperLogLog estimate, read from Redis at scrape time).',
    labelNames: ['window'],
    registers: [registry],
    async collect() {
      const figures = await readOnce();
      users.reset();
      if (figures === undefined) return;
      users.labels('1h').set(figures.usersLastHour);
      users.labels('24h').set(figures.usersLastDay);
    },
  });
}

/** The metrics listener: /metrics only, on its own port, never the public one. */
export function createMetricsServer(registry: Registry): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    registry.metrics().then(
      (body) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n'),
    );
  });
}
