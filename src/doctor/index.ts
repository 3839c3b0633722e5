// The doctor (`matrix-turn-credentials doctor [--token TOKEN] [--json]`): reads the same
// configuration as the service and checks the whole chain once, with the service's own
// parts (its verifier and upstream, its Redis client, its minter, the health checks'
// STUN/TURN probe): the configuration, token verification, Redis, and every TURN URI.
// The sections that reach out run at once; the report keeps their order. Exit code 0
// when nothing failed, 1 otherwise (a configuration that does not load included).
// What it prints holds no secret: neither the configuration's nor the token given.

import { Registry } from 'prom-client';
import { systemClock, systemTimers, type Clock, type Timers } from '../clock.js';
import { ConfigError, loadConfig, type Config, type LoadOptions } from '../config/index.js';
import { createLogger } from '../logger.js';
import { createMetrics } from '../metrics.js';
import { probeUri } from '../turn/probe/probe-uri.js';
import { SERVICE_VERSION } from '../version.js';
import { configurationSection, unloadableConfigurationSection } from './checks/configuration.js';
import { redisSection } from './checks/redis.js';
import { tokenSection } from './checks/tokens.js';
import { turnSections, type Probe } from './checks/turn.js';
import { findings, type Findings } from './findings.js';
import { renderJson, renderText } from './report.js';

export interface DoctorArgs {
  /** An access token to verify end to end; its user id is printed, the token never. */
  readonly token?: string;
  /** Print the findings as JSON instead of text. */
  readonly json: boolean;
}

export interface DoctorDeps {
  /** The STUN/TURN probe, default the health checks' own. */
  readonly probe?: Probe;
  readonly clock?: Clock;
  /** What every timeout runs on, default Node's. */
  readonly timers?: Timers;
  readonly readFile?: LoadOptions['readFile'];
}

export interface DoctorOutcome {
  readonly text: string;
  readonly exitCode: 0 | 1;
  readonly findings: Findings;
}

export async function runDoctor(
  env: Readonly<Record<string, string | undefined>>,
  args: DoctorArgs,
  deps: DoctorDeps = {},
): Promise<DoctorOutcome> {
  const found = await examine(env, args, deps);
  const text = args.json ? renderJson(found) : renderText(found, `matrix-turn-credentials ${SERVICE_VERSION}: doctor`);
  return { text, exitCode: found.ok ? 0 : 1, findings: found };
}

async function examine(env: Readonly<Record<string, string | undefined>>, args: DoctorArgs, deps: DoctorDeps): Promise<Findings> {
  let config: Config;
  try {
    config = loadConfig(env, deps.readFile === undefined ? {} : { readFile: deps.readFile });
  } catch (error) {
    if (error instanceof ConfigError) return findings([unloadableConfigurationSection(error.problems)]);
    throw error;
  }
  // The parts log nothing: what they would say is in the report, and a log line between its lines would only confuse.
  const parts = {
    logger: createLogger('silent'),
    metrics: createMetrics(new Registry(), { defaultMetrics: false, redis: config.redis !== undefined }),
    clock: deps.clock ?? systemClock,
    timers: deps.timers ?? systemTimers,
  };
  const [tokens, redis, turn] = await Promise.all([
    tokenSection(config, args.token, parts),
    redisSection(config, parts),
    turnSections(config, { ...parts, probe: deps.probe ?? probeUri }),
  ]);
  return findings([configurationSection(config, env), tokens, redis, ...turn]);
}
