// A plain ioredis connection for a test to inspect and provoke Redis (INFO, CLIENT PAUSE,
// SCRIPT FLUSH, reading keys) outside the code under test. It does not hold the process
// open after disconnect(), also when the server it talked to was killed.

import { Redis, type RedisOptions } from 'ioredis';

export function adminConnection(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, { disconnectTimeout: 50, maxRetriesPerRequest: 1, ...options });
}

/** How many times Redis ran a command since the last CONFIG RESETSTAT. */
export async function commandCalls(admin: Redis, command: string): Promise<number> {
  const info = await admin.info('commandstats');
  const match = new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info);
  return match ? Number(match[1]) : 0;
}

/** Runs `use` with an admin connection to `url`, closed afterwards. */
export async function withAdmin<T>(url: string, use: (admin: Redis) => Promise<T>): Promise<T> {
  const admin = adminConnection(url);
  try {
    return await use(admin);
  } finally {
    admin.disconnect();
  }
}

/** A rate-limit bucket as Redis holds it ("<count> <start>", src/ratelimit/redis.ts); undefined when there is none. */
export async function storedBucket(admin: Redis, key: string): Promise<{ actionCount: number; timeStartS: number } | undefined> {
  const value = await admin.get(key);
  if (value === null) return undefined;
  const [count, start] = value.split(' ');
  return { actionCount: Number(count), timeStartS: Number(start) };
}
