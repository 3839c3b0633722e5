// The configuration section: what the service would run with, in a few lines a person can
// hold against what they meant to set (the auth method and where it goes, each TURN server
// with its URIs and the kind of its credential, Redis or the in-process limiter), or, when
// it does not load, each of its problems. No value of a secret, only where it comes from.

import type { Config } from '../../config/index.js';
import { check, type Check, type Section } from '../findings.js';
import { redisWhere } from './redis.js';

export const CONFIGURATION_SECTION_TITLE = 'Configuration';

export function configurationSection(config: Config, env: Readonly<Record<string, string | undefined>>): Section {
  const file = env.CONFIG_FILE?.trim();
  const checks: Check[] = [
    check('ok', 'the configuration loads', file ? `from the environment and CONFIG_FILE ${file}` : 'from the environment'),
    check('ok', `auth method: ${config.auth.method}`, authDetail(config.auth)),
    check('ok', `${count(config.turn.servers.length, 'TURN server')}`, turnDetail(config)),
    ...config.turn.servers.map((server) =>
      check(
        'ok',
        `TURN server "${server.name}"`,
        `${server.uris.join(', ')}; ${credentialDetail(server, config.turn.managedSecrets?.realm)}`,
      ),
    ),
    check(
      'ok',
      config.redis === undefined ? 'no Redis' : 'Redis',
      config.redis === undefined ? 'the rate limit is kept in this process (one replica)' : redisWhere(config.redis),
    ),
  ];
  return { title: CONFIGURATION_SECTION_TITLE, checks };
}

/** A configuration that does not load: each problem a failure, as loadConfig names it; nothing else is checked. */
export function unloadableConfigurationSection(problems: readonly string[]): Section {
  return {
    title: CONFIGURATION_SECTION_TITLE,
    checks: [
      ...problems.map((problem) => check('fail', problem)),
      check('skip', 'the other checks', 'not tried: the service would refuse to start with this configuration (exit 2)'),
    ],
  };
}

function authDetail(auth: Config['auth']): string {
  switch (auth.method) {
    case 'whoami':
      return `the homeserver ${auth.homeserverUrl!}`;
    case 'introspection':
      return `the OAuth server's ${auth.introspection!.url}, client authentication ${auth.introspection!.clientAuth}`;
    case 'jwt':
      return auth.jwt!.jwksUrl !== undefined ? `keys from ${auth.jwt!.jwksUrl}` : 'a static key (JWT_PUBLIC_KEY)';
    case 'appservice':
      return `users of ${auth.serverName!} named by the homeserver`;
  }
}

function turnDetail(config: Config): string {
  const { servers, selection, healthCheck } = config.turn;
  const checks =
    healthCheck.intervalSeconds === 0
      ? 'health checks off'
      : `health checks every ${healthCheck.intervalSeconds} s, each within ${healthCheck.timeoutMs} ms`;
  return servers.length === 1
    ? checks
    : `answers from ${selection === 'spread' ? 'one spread by user' : 'the first healthy one'}; ${checks}`;
}

function credentialDetail(server: Config['turn']['servers'][number], realm: string | undefined): string {
  const { credential, secretRotation } = server;
  if (secretRotation !== undefined) {
    const managed = `managed secrets, a new one every ${secretRotation.intervalSeconds} s in coturn's Redis (realm ${realm ?? '?'})`;
    return credential === undefined ? managed : `${managed}, beside a static shared secret`;
  }
  if (credential === undefined) return 'no credential (stun: only)';
  return credential.kind === 'shared-secret' ? 'a shared secret (coturn REST API)' : `the static user "${credential.username}"`;
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
