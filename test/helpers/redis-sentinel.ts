// A real Sentinel setup for tests: a master, a replica of it, and Sentinels
// (redis-server --sentinel) watching the master, all on free loopback ports, with
// timeouts short enough that a failover takes seconds. Ready once every Sentinel knows
// the replica and the other Sentinels, so a failover can be agreed on. With `password`,
// every server and Sentinel requires it (as Bitnami's chart sets them up).

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminConnection } from './redis-admin.js';
import { freePort } from './ports.js';
import { startRedis, waitForPort, type RedisProcess } from './redis.js';
import { waitFor } from './wait.js';

export interface RedisSentinelSetup {
  readonly master: RedisProcess;
  readonly replica: RedisProcess;
  readonly sentinelPorts: readonly number[];
  /** The master's name, as REDIS_SENTINEL_NAME takes it. */
  readonly name: string;
  /** "127.0.0.1:s1,127.0.0.1:s2,…", the form REDIS_SENTINELS takes. */
  readonly sentinels: string;
  /** The password every server and Sentinel was started with, if any. */
  readonly password: string | undefined;
  /** The port of the master the Sentinels currently name. */
  masterPort(): Promise<number>;
  stop(): Promise<void>;
}

interface SentinelProcess {
  readonly port: number;
  stop(): Promise<void>;
}

async function startSentinel(masterName: string, masterPort: number, quorum: number, password?: string): Promise<SentinelProcess> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'mtc-sentinel-'));
  const config = join(dir, 'sentinel.conf');
  // Sentinel rewrites its configuration file as it learns, so it must be its own, writable.
  writeFileSync(
    config,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${masterName} 127.0.0.1 ${masterPort} ${quorum}`,
      `sentinel down-after-milliseconds ${masterName} 1000`,
      `sentinel failover-timeout ${masterName} 5000`,
      `sentinel parallel-syncs ${masterName} 1`,
      ...(password === undefined
        ? []
        : [`requirepass ${password}`, `sentinel auth-pass ${masterName} ${password}`, `sentinel sentinel-pass ${password}`]),
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('redis-server', [config, '--sentinel'], { stdio: 'ignore' });
  const stop = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        rmSync(dir, { recursive: true, force: true });
        resolve();
      };
      if (child.exitCode !== null || child.signalCode !== null) return done();
      child.once('exit', done);
      child.kill('SIGTERM');
    });
  try {
    await waitForPort(port, 10_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return { port, stop };
}

export async function startRedisSentinel(
  options: { sentinels?: number; name?: string; password?: string } = {},
): Promise<RedisSentinelSetup> {
  const name = options.name ?? 'mtc-master';
  const { password } = options;
  const auth = password === undefined ? [] : ['--requirepass', password, '--masterauth', password];
  const count = options.sentinels ?? 3;
  const quorum = Math.floor(count / 2) + 1;
  const started: { stop(): Promise<void> }[] = [];
  const stop = async () => {
    await Promise.allSettled(started.reverse().map((process) => process.stop()));
  };
  try {
    const master = await startRedis({ args: auth });
    started.push(master);
    const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(master.port), ...auth] });
    started.push(replica);
    const sentinels: SentinelProcess[] = [];
    for (let i = 0; i < count; i += 1) {
      const sentinel = await startSentinel(name, master.port, quorum, password);
      sentinels.push(sentinel);
      started.push(sentinel);
    }
    for (const sentinel of sentinels) {
      const admin = adminConnection(`redis://127.0.0.1:${sentinel.port}`, { password });
      try {
        await waitFor(
          async () => {
            const replicas = (await admin.call('SENTINEL', 'REPLICAS', name)) as unknown[];
            const peers = (await admin.call('SENTINEL', 'SENTINELS', name)) as unknown[];
            return replicas.length === 1 && peers.length === count - 1;
          },
          { timeoutMs: 30_000, intervalMs: 100, what: `Sentinel ${sentinel.port} to know the replica and its peers` },
        );
      } finally {
        admin.disconnect();
      }
    }
    const sentinelPorts = sentinels.map((s) => s.port);
    return {
      master,
      replica,
      sentinelPorts,
      name,
      sentinels: sentinelPorts.map((port) => `127.0.0.1:${port}`).join(','),
      password,
      async masterPort() {
        const admin = adminConnection(`redis://127.0.0.1:${sentinelPorts[0]}`, { password });
        try {
          const [, port] = (await admin.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as [string, string];
          return Number(port);
        } finally {
          admin.disconnect();
        }
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
