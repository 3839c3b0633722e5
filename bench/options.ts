// The bench's command line, read into one typed object: each option with its default, and
// every mistake (an unknown target, a number that is not one) refused with the choices, so
// a five-minute run does not start on a typo.

export const TARGET_IDS = [
  'bare',
  'koa',
  'sketch',
  'jwt-ceiling',
  'whoami-ceiling',
  'introspection-ceiling',
  'redis',
  'in-process',
  'whoami-cold',
  'jwt-hot',
  'jwt-cold',
  'introspection-hot',
  'introspection-cold',
  'appservice',
  'provider-hot',
] as const;
export type TargetId = (typeof TARGET_IDS)[number];

/**
 * What an A/B run compares: the health checks on and off, the service without and with
 * --ab-env, or another build of it (--ab-root, side A: before) against this checkout's (side B).
 */
export type AbComparison = 'health' | 'env' | 'build';

export interface Options {
  mode: 'hot' | 'scale' | 'ab';
  /** Seconds of each measured load. */
  durationSeconds: number;
  connections: number;
  /** Distinct users (tokens) each load cycles through. */
  users: number;
  /** Hot: best of this many interleaved rounds. A/B: rounds of alternation, medians taken. */
  rounds: number;
  targets: readonly TargetId[];
  /** Hot: loads of each ratio's two targets back to back, for its paired figure; 0: none. */
  pairs: number;
  /** Seconds of each of those loads. */
  pairSeconds: number;
  /** Whether --targets named them (an A/B run compares the whoami hot targets unless told otherwise). */
  targetsChosen: boolean;
  /** A real coturn, TURN_URIS pointing at it, TURN_HEALTH_CHECK_INTERVAL=1, for every service target. */
  withHealthChecks: boolean;
  /** More environment for every service target (after the bench's own, so it wins). */
  serviceEnv: Readonly<Record<string, string>>;
  /** Node options for every service target's process, before its script: --cpu-prof, --perf-basic-prof (not allowed in NODE_OPTIONS). */
  serviceNodeArgs: readonly string[];
  ab?: AbComparison;
  /** A/B env: what side B adds to the service's environment. */
  abEnv: Readonly<Record<string, string>>;
  /** A/B build: the checkout whose dist/src/main.js is side A. */
  abRoot?: string;
  /** Where latest.json and latest.svg go; undefined: the repository's bench/results. */
  resultsDir?: string;
  /**
   * Each measured target on the last CPU, the load generator and the stand-ins on the others
   * (taskset): without it the scheduler puts them where it likes, and one process's rounds
   * differ by up to 2x from the next's.
   */
  pin: boolean;
}

const KNOWN = new Set([
  'mode',
  'duration',
  'connections',
  'users',
  'rounds',
  'targets',
  'pairs',
  'pair-duration',
  'with-health-checks',
  'service-env',
  'service-node-args',
  'ab',
  'ab-env',
  'ab-root',
  'results',
  'pin',
]);

export function parseOptions(argv: readonly string[]): Options {
  const given = new Map<string, string>();
  for (const arg of argv) {
    const match = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg);
    if (!match || !KNOWN.has(match[1]!)) throw new Error(`unknown option ${arg}; known: ${[...KNOWN].map((k) => `--${k}`).join(' ')}`);
    given.set(match[1]!, match[2] ?? 'true');
  }
  const ab = given.get('ab');
  if (ab !== undefined && ab !== 'health' && ab !== 'env' && ab !== 'build')
    throw new Error(`--ab must be health, env or build, not ${ab}`);
  const mode = ab !== undefined ? 'ab' : (given.get('mode') ?? 'hot');
  if (mode !== 'hot' && mode !== 'scale' && mode !== 'ab') throw new Error(`--mode must be hot or scale, not ${mode}`);
  const abEnv = parseEnvList(given.get('ab-env') ?? '', '--ab-env');
  if (ab === 'env' && Object.keys(abEnv).length === 0) throw new Error('--ab=env needs --ab-env=K=V,... (what side B adds)');
  const abRoot = given.get('ab-root');
  if (ab === 'build' && abRoot === undefined) throw new Error('--ab=build needs --ab-root=<checkout> (its built dist/ is side A)');
  const resultsDir = given.get('results');
  return {
    mode,
    durationSeconds: positive(given, 'duration', 10),
    connections: positive(given, 'connections', 64),
    users: positive(given, 'users', 5000),
    // Medians need more rounds than a best-of.
    rounds: positive(given, 'rounds', mode === 'ab' ? 5 : 2),
    targets: parseTargets(given.get('targets')),
    pairs: wholeNumber(given, 'pairs', 6, 0),
    pairSeconds: positive(given, 'pair-duration', 3),
    targetsChosen: given.has('targets'),
    withHealthChecks: given.has('with-health-checks') && given.get('with-health-checks') !== 'false',
    serviceEnv: parseEnvList(given.get('service-env') ?? '', '--service-env'),
    serviceNodeArgs: (given.get('service-node-args') ?? '').split(/\s+/).filter((a) => a !== ''),
    ...(ab !== undefined && { ab }),
    abEnv,
    ...(abRoot !== undefined && { abRoot }),
    ...(resultsDir !== undefined && { resultsDir }),
    pin: given.has('pin') && given.get('pin') !== 'false',
  };
}

function positive(given: Map<string, string>, name: string, fallback: number): number {
  return wholeNumber(given, name, fallback, 1);
}

function wholeNumber(given: Map<string, string>, name: string, fallback: number, least: number): number {
  const text = given.get(name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < least) throw new Error(`--${name} must be a whole number of at least ${least}, not ${text}`);
  return value;
}

function parseTargets(text: string | undefined): readonly TargetId[] {
  if (text === undefined || text === 'all') return TARGET_IDS;
  const wanted = text.split(',').filter((t) => t !== '');
  const unknown = wanted.filter((t) => !(TARGET_IDS as readonly string[]).includes(t));
  if (unknown.length > 0) throw new Error(`unknown target ${unknown.join(', ')}; targets: ${TARGET_IDS.join(',')}`);
  // In the catalogue's order, so the table reads the same whatever order they were named in.
  return TARGET_IDS.filter((id) => wanted.includes(id));
}

/**
 * "K=V,K=V" into an object. A comma starts a new pair only where a NAME= follows it, so a
 * value may hold commas itself (TURN_URIS=turn:a,turn:b).
 */
export function parseEnvList(text: string, option: string): Record<string, string> {
  const env: Record<string, string> = {};
  if (text === '') return env;
  for (const pair of text.split(/,(?=[A-Za-z_][A-Za-z0-9_]*=)/)) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(pair);
    if (!match) throw new Error(`${option}: "${pair}" is not NAME=value`);
    env[match[1]!] = match[2]!;
  }
  return env;
}

/** The env as the results show it: a value whose name says it is a secret is masked. */
export function describeEnv(env: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).map(([name, value]) => [name, /SECRET|TOKEN|PASSWORD|KEY/i.test(name) ? '***' : value]));
}
