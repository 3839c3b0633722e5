// The TURN section of the doctor: one section per URI of every configured server, each
// step of the way a check of its own (the name resolves, the port answers, a Binding gives
// a reflexive address, and for turn:/turns: an Allocate with a credential minted for the
// probe user exactly as clients get theirs, then its release). One probe per URI (the real
// STUN/TURN probe, probe/probe-uri.ts) tells how far it got: the steps before the one that
// failed passed, that one failed with its likely cause, the rest were not tried.
// A server's URIs are probed at once; servers one after the other. A provider entry has
// no URIs of its own: its API is asked once for the probe user's credential, and the
// section says what came back (how many URIs, the TTL) or why nothing did. A server with
// managed secrets first has coturn's set read once; its Allocates are then signed with the
// newest managed secret, so one that passes proves coturn reads the set.

import { turnServersOptions } from '../../app.js';
import type { Clock, Timers } from '../../clock.js';
import { FLAT_TURN_SERVER_NAME, type Config } from '../../config/index.js';
import type { Logger } from '../../logger.js';
import type { Metrics } from '../../metrics.js';
import { sharedSecretMinter } from '../../turn/credentials.js';
import { createMinter, type BuiltMinter } from '../../turn/index.js';
import { coturnKeys, readCoturnSet } from '../../turn/managed-secrets/index.js';
import type { ProbeOptions, ProbeResult, TransportAddress } from '../../turn/probe/probe-uri.js';
import { parseTurnUri, type TurnUri } from '../../turn/probe/turn-uri.js';
import { createProviderServer, providerKeySetting, type ProviderOptions } from '../../turn/providers/index.js';
import { ProviderFailure } from '../../turn/providers/provider.js';
import { probeUser, type TurnServerOptions } from '../../turn/servers.js';
import { addressKind, unreachableFromOutside } from '../addresses.js';
import { redisWhere } from './redis.js';
import { credentialSettings, missingExternalIpCause, turnFailureCause, type CredentialSettings } from '../causes.js';
import { check, type Check, type Section } from '../findings.js';

export type Probe = (uri: string, options: ProbeOptions) => Promise<ProbeResult>;

export interface TurnCheckDeps {
  readonly probe: Probe;
  readonly clock: Clock;
  readonly timers: Timers;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

export async function turnSections(config: Config, deps: TurnCheckDeps): Promise<Section[]> {
  const options = turnServersOptions(config);
  const flat = config.turn.servers.length === 1 && config.turn.servers[0]!.name === FLAT_TURN_SERVER_NAME;
  const timeoutMs = config.turn.healthCheck.timeoutMs;
  const sections: Section[] = [];
  for (const server of options.servers) {
    if (server.provider !== undefined) {
      sections.push(await providerSection(server, server.provider, options.probeUserId, deps));
      continue;
    }
    const managed = server.managedSecrets !== undefined ? await managedSecretSection(server, config, deps) : undefined;
    if (managed !== undefined) sections.push(managed.section);
    const built = managed?.built ?? createMinter(server, deps);
    const { minter } = built;
    const credential = managed?.credential ?? credentialSettings(server.credentials?.kind, server.name, flat);
    try {
      // One probe user per URI, as the health checks: the URIs of a server are checked at once,
      // and coturn's user-quota counts allocations by user.
      const contextOf = (index: number): ServerContext => {
        const probeUserId = probeUser(options.probeUserId, index);
        const mint = () => {
          const { username, password } = minter.mint(probeUserId);
          return { username, password };
        };
        return { server, credential, timeoutMs, probeUserId, mint, ...(managed && { unauthorizedCause: managed.unauthorizedCause }) };
      };
      sections.push(...(await Promise.all(server.uris.map((uri, index) => uriSection(uri, contextOf(index), deps)))));
    } finally {
      built.close();
    }
  }
  return sections;
}

async function providerSection(
  server: TurnServerOptions,
  provider: ProviderOptions,
  probeUserId: string,
  deps: TurnCheckDeps,
): Promise<Section> {
  const title = `TURN provider "${server.name}" (${provider.api.kind}): ${provider.api.apiUrl}`;
  const what = `the provider issues a credential for ${probeUserId}`;
  const built = createProviderServer({ name: server.name, ttlSeconds: server.ttlSeconds, provider }, deps);
  try {
    const { uris, ttl } = await built.minter.mint(probeUserId);
    return { title, checks: [check('ok', what, `${uris.length} URIs (${uris.join(', ')}), TTL ${ttl} s`)] };
  } catch (error) {
    const failure = ProviderFailure.of(error);
    return { title, checks: [check('fail', what, failure.message, providerFailureCause(failure, provider))] };
  } finally {
    await built.close();
  }
}

function providerFailureCause(failure: ProviderFailure, provider: ProviderOptions): string {
  const { apiUrl } = provider.api;
  switch (failure.reason) {
    case 'refused':
      return `the provider refused our key: ${providerKeySetting(provider)} is revoked, mistyped, or of another account`;
    case 'timeout':
      return (
        `no answer within UPSTREAM_TIMEOUT_MS (${provider.upstream.timeoutMs} ms): ` +
        `can this host reach ${apiUrl} (else set api_url to an egress proxy)?`
      );
    case 'unavailable':
      return `${apiUrl} could not be reached or answered with an error: check api_url, the network, and the provider's status page`;
    case 'bad_answer':
      return `the answer is not a credential: is api_url the provider's API (or a proxy that passes its answers on unchanged)?`;
  }
}

/**
 * coturn's set read once: the section saying what it holds, and a minter signing as a
 * replica would (the newest managed secret, else the static one, else none).
 */
async function managedSecretSection(
  server: TurnServerOptions,
  config: Config,
  deps: TurnCheckDeps,
): Promise<{ section: Section; built: BuiltMinter; credential: CredentialSettings; unauthorizedCause: string }> {
  const { redis, realm } = config.turn.managedSecrets!;
  const set = coturnKeys(realm).set;
  const what = `coturn's Redis holds a managed secret (${set})`;
  const read = await readCoturnSet(redis, realm, deps);
  const newest = 'contents' in read ? read.contents.ours.at(-1) : undefined;
  const fallback = server.credentials?.kind === 'shared-secret' ? server.credentials.sharedSecrets.value : undefined;
  const signing = newest?.value ?? fallback;
  const onStatic = fallback !== undefined ? ': the static shared secret signs until there is one' : '';
  const found =
    'error' in read
      ? check(
          'fail',
          what,
          read.error,
          `cannot read COTURN_REDIS_URL (${redisWhere(redis)}): is it reachable from here, its password right?`,
        )
      : newest === undefined
        ? check(
            'fail',
            what,
            `none of its ${read.contents.others} members is the service's`,
            `no replica has added one yet (is one running with these settings?)${onStatic}`,
          )
        : check(
            'ok',
            what,
            `${read.contents.ours.length} of the service's (and ${read.contents.others} others), the newest created ` +
              `${Math.round((deps.clock.nowMs() - newest.createdMs) / 1000)} s ago: the Allocates below are signed with it`,
          );
  const minter = sharedSecretMinter({
    uris: server.uris,
    ttlSeconds: server.ttlSeconds,
    sharedSecrets: { current: () => signing ?? '' },
    clock: deps.clock,
  });
  return {
    section: { title: `TURN server "${server.name}": managed secrets`, checks: [found] },
    built: { minter, close: () => {} },
    credential: signing === undefined ? { kind: 'none' } : { kind: 'shared-secret', secret: 'the newest managed secret' },
    unauthorizedCause:
      newest !== undefined
        ? `coturn refused a credential signed with the newest secret of ${set}: coturn does not read that set (its redis-userdb ` +
          'names another Redis or database than COTURN_REDIS_URL, its realm is not COTURN_REALM, or use-auth-secret is off), ' +
          'or the clocks differ by more than the TTL'
        : signing !== undefined
          ? 'coturn refused the credential signed with the static shared secret (no managed secret could be read, above): ' +
            'it is not its static-auth-secret'
          : 'no credential to try: no managed secret could be read (above), and no static shared secret is set',
  };
}

interface ServerContext {
  readonly server: TurnServerOptions;
  readonly credential: CredentialSettings;
  /** Replaces the cause of a refused credential, for managed secrets (causes.ts speaks of static-auth-secret). */
  readonly unauthorizedCause?: string;
  readonly timeoutMs: number;
  readonly probeUserId: string;
  /** A credential as a client of this server gets one, minted now. */
  mint(): { username: string; password: string };
}

type Step = 'dns' | 'port' | 'binding' | 'allocate' | 'refresh';

async function uriSection(uri: string, context: ServerContext, deps: TurnCheckDeps): Promise<Section> {
  const title = `TURN server "${context.server.name}": ${uri}`;
  let parsed: TurnUri;
  try {
    parsed = parseTurnUri(uri);
  } catch (error) {
    return { title, checks: [check('fail', 'the URI can be checked', (error as Error).message)] };
  }
  const relays = parsed.scheme === 'turn' || parsed.scheme === 'turns';
  let result: ProbeResult;
  try {
    result = await deps.probe(uri, {
      timeoutMs: context.timeoutMs,
      timers: deps.timers,
      binding: true,
      ...(relays && context.credential.kind !== 'none' && { credential: context.mint() }),
    });
  } catch (error) {
    // The probe promises never to throw; should it, that is the doctor's fault, said as such.
    return { title, checks: [check('fail', 'the probe ran', `the probe itself failed: ${(error as Error).message}`)] };
  }
  const steps: Step[] = relays ? ['dns', 'port', 'binding', 'allocate', 'refresh'] : ['dns', 'port', 'binding'];
  const failedAt = result.ok ? undefined : failedStep(result.step, result.reason, parsed);
  const checks: Check[] = [];
  let failed = false;
  for (const step of steps) {
    const what = describeStep(step, context.probeUserId);
    if (failed) checks.push(check('skip', what, 'not tried: an earlier step failed'));
    else if (step === failedAt && !result.ok) {
      failed = true;
      const failure = { reason: result.reason, step: result.step, ...(result.stunError && { stunError: result.stunError }) };
      const address = result.resolved?.address;
      const cause =
        failure.reason === 'unauthorized' && context.unauthorizedCause !== undefined
          ? context.unauthorizedCause
          : turnFailureCause(failure, { uri: parsed, timeoutMs: context.timeoutMs, credential: context.credential, address });
      checks.push(check('fail', what, result.detail, cause));
    } else checks.push(passed(step, what, parsed, result));
  }
  return { title, checks };
}

/**
 * Which of the doctor's steps a probe failure belongs to. Over UDP nothing is connected:
 * the port answers when the first STUN answer comes, so a Binding that times out or meets
 * a port unreachable means the port does not answer.
 */
function failedStep(step: string, reason: string, uri: TurnUri): Step {
  switch (step) {
    case 'dns':
      return 'dns';
    case 'connect':
      return 'port';
    case 'binding':
      return uri.transport === 'udp' && (reason === 'timeout' || reason === 'refused') ? 'port' : 'binding';
    case 'allocate':
      return 'allocate';
    default:
      return 'refresh';
  }
}

function describeStep(step: Step, probeUserId: string): string {
  switch (step) {
    case 'dns':
      return 'the name resolves';
    case 'port':
      return 'the port answers';
    case 'binding':
      return 'a Binding gives a reflexive address';
    case 'allocate':
      return `an Allocate succeeds with a credential minted for ${probeUserId}`;
    case 'refresh':
      return 'the allocation is released (Refresh with lifetime 0)';
  }
}

/** A step that passed, with what it found; only the relayed address may turn it into a warning. */
function passed(step: Step, what: string, uri: TurnUri, result: ProbeResult): Check {
  const resolved = result.resolved;
  switch (step) {
    case 'dns':
      if (resolved === undefined) return check('ok', what);
      return check(
        'ok',
        what,
        resolved.address === uri.host ? `${uri.host} (an address, nothing to look up)` : `${uri.host} is ${resolved.address}`,
      );
    case 'port':
      return check('ok', what, resolved === undefined ? undefined : portAnswer(uri, resolved));
    case 'binding':
      return result.reflexive === undefined
        ? check('skip', what, 'the answer carried no reflexive address')
        : check('ok', what, hostPort(result.reflexive));
    case 'allocate':
      return allocated(what, result);
    case 'refresh':
      return check('ok', what);
  }
}

function portAnswer(uri: TurnUri, at: TransportAddress): string {
  switch (uri.transport) {
    case 'udp':
      return `a STUN answer over UDP from ${hostPort(at)}`;
    case 'tcp':
      return `connected over TCP to ${hostPort(at)}`;
    case 'tls':
      return `TLS handshake completed with ${hostPort(at)}`;
  }
}

function allocated(what: string, result: ProbeResult): Check {
  const relayed = result.ok ? result.relayed : undefined;
  if (relayed === undefined) return check('ok', what);
  const lifetime = result.ok && result.lifetimeSeconds !== undefined ? `, lifetime ${result.lifetimeSeconds} s` : '';
  const detail = `relayed address ${hostPort(relayed)}${lifetime}`;
  // The URI names a public host when the address it gave, or its name resolved to, is public.
  const named = result.resolved?.address;
  if (named !== undefined && addressKind(named) === 'public' && unreachableFromOutside(relayed.address)) {
    return check('warn', what, `${detail} (${addressKind(relayed.address)})`, missingExternalIpCause(named, relayed.address));
  }
  return check('ok', what, detail);
}

function hostPort(at: TransportAddress): string {
  return at.family === 6 ? `[${at.address}]:${at.port}` : `${at.address}:${at.port}`;
}
