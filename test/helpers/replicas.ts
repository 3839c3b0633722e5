// Several replicas of the real service sharing one Redis (each in-process on its own free
// ports), and what a test reads from them: the /readyz 'redis' component, values in the
// /metrics text.

import { startTestService, type TestService } from './service.js';
import { waitFor } from './wait.js';

export async function startReplicas(count: number, env: Record<string, string>): Promise<TestService[]> {
  const replicas: TestService[] = [];
  try {
    for (let i = 0; i < count; i += 1) replicas.push(await startTestService(env));
  } catch (error) {
    await stopReplicas(replicas);
    throw error;
  }
  return replicas;
}

export async function stopReplicas(replicas: readonly TestService[]): Promise<void> {
  await Promise.allSettled(replicas.map((replica) => replica.stop()));
}

export interface RedisComponent {
  readonly ready: boolean;
  readonly degraded: boolean;
  readonly detail: string;
}

/** The HTTP status of /readyz and its 'redis' component. */
export async function readiness(
  replica: TestService,
): Promise<{ status: number; body: { status: string; components: Record<string, RedisComponent> } }> {
  const response = await fetch(`${replica.url}/readyz`);
  return { status: response.status, body: (await response.json()) as { status: string; components: Record<string, RedisComponent> } };
}

/** Waits until every replica decides with Redis (the 'redis' component is not degraded). */
export async function waitForSharedLimit(replicas: readonly TestService[], timeoutMs = 30_000): Promise<void> {
  await Promise.all(
    replicas.map((replica, i) =>
      waitFor(async () => (await readiness(replica)).body.components.redis?.degraded === false, {
        timeoutMs,
        intervalMs: 50,
        what: `replica ${i} to reach Redis`,
      }),
    ),
  );
}

/** The value of one series in Prometheus text, or undefined when it is absent. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = (match[2] ?? '').split(',').filter(Boolean);
    if (wanted.every((pair) => present.includes(pair))) return Number(match[3]);
  }
  return undefined;
}

/** `count` concurrent requests for one token, round-robin over the replicas. */
export function spreadRequests(replicas: readonly TestService[], token: string, count: number): Promise<Response[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => replicas[i % replicas.length]!.turnServer(token)));
}

export interface TrafficResult {
  readonly status: number;
  readonly ms: number;
}

export interface Traffic {
  /** Every answer so far, in arrival order. */
  readonly results: readonly TrafficResult[];
  /** Lets each client finish its request in flight, then resolves with every answer. */
  stop(): Promise<readonly TrafficResult[]>;
}

/** Clients calling without pause, one per (replica, token) pair, until stopped. */
export function startTraffic(clients: readonly { replica: TestService; token: string }[]): Traffic {
  const results: TrafficResult[] = [];
  let stopping = false;
  const loops = clients.map(async ({ replica, token }) => {
    while (!stopping) {
      const startedMs = Date.now();
      const response = await replica.turnServer(token);
      await response.arrayBuffer();
      results.push({ status: response.status, ms: Date.now() - startedMs });
    }
  });
  return {
    results,
    async stop() {
      stopping = true;
      await Promise.all(loops);
      return results;
    },
  };
}
