// A real Redis Cluster for tests: N masters (redis-server --cluster-enabled yes) on free
// ports, each with its cluster bus on another free port, joined by
// `redis-cli --cluster create`, and ready once every node reports cluster_state:ok.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { adminConnection } from './redis-admin.js';
import { freePort } from './ports.js';
import { startRedis, type RedisProcess } from './redis.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

export interface RedisCluster {
  readonly nodes: readonly RedisProcess[];
  /** "127.0.0.1:p1,127.0.0.1:p2,…", the form REDIS_CLUSTER_NODES takes. */
  readonly seeds: string;
  /** The port of the master serving `key`, asked of the cluster itself. */
  nodePortFor(key: string): Promise<number>;
  stop(): Promise<void>;
}

/** Distinct free ports: the bus ports must not collide with each other or the client ports. */
async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

export async function startRedisCluster(options: { masters?: number } = {}): Promise<RedisCluster> {
  const masters = options.masters ?? 3;
  const ports = await distinctFreePorts(masters * 2);
  const nodes: RedisProcess[] = [];
  const stop = async () => {
    await Promise.allSettled(nodes.map((node) => node.stop()));
  };
  try {
    for (let i = 0; i < masters; i += 1) {
      nodes.push(
        await startRedis({
          port: ports[i]!,
          args: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-port',
            String(ports[masters + i]),
            '--cluster-node-timeout',
            '2000',
          ],
        }),
      );
    }
    const addresses = nodes.map((node) => `127.0.0.1:${node.port}`);
    await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], { timeout: 60_000 });
    for (const node of nodes) {
      const admin = adminConnection(node.url);
      try {
        await waitFor(async () => /cluster_state:ok/.test(String(await admin.call('CLUSTER', 'INFO'))), {
          timeoutMs: 30_000,
          intervalMs: 100,
          what: `node ${node.port} to report cluster_state:ok`,
        });
      } finally {
        admin.disconnect();
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    nodes,
    seeds: nodes.map((node) => `127.0.0.1:${node.port}`).join(','),
    async nodePortFor(key) {
      const admin = adminConnection(nodes[0]!.url);
      try {
        const slot = Number(await admin.call('CLUSTER', 'KEYSLOT', key));
        const ranges = (await admin.call('CLUSTER', 'SLOTS')) as [number, number, [string, number, ...unknown[]], ...unknown[]][];
        const range = ranges.find(([from, to]) => slot >= from && slot <= to);
        if (!range) throw new Error(`no node serves slot ${slot}`);
        return Number(range[2][1]);
      } finally {
        admin.disconnect();
      }
    },
    stop,
  };
}
