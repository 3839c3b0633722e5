// The benchmark (`npm run bench`, on demand, never in the test suite). In one run it starts
// the ceilings (bare node:http, Koa + @koa/router answering a fixed JSON body, the sketch of
// the service's irreducible work, one jose verification per request, one undici call per
// request to each stand-in) and the built service (dist/src/main.js) in each limiter mode
// and each way of checking a token, hot and cold, each in its own process, and loads each
// with autocannon from this process over thousands of distinct users. Ratios against the
// ceilings of the same run are what count: the machine is shared and noisy. Beside each
// target's throughput, the CPU time its process spent per request (from /proc), which the
// load generator on the same cores disturbs less. Then each ratio with a target is measured
// again paired: its two targets loaded back to back, in alternation, and the median of the
// pairs' own ratios (ratios.ts says why); the target is held to that.
//
//   npm run bench                                  every target, best of 2 interleaved rounds of 10 s, then 6 pairs of 3 s a ratio
//   npm run bench -- --targets=koa,sketch,redis,in-process
//   npm run bench -- --with-health-checks         the service's TURN health checks running against a real coturn
//   npm run bench -- --service-env=K=V,K=V        more environment for every service target
//   npm run bench -- --service-node-args="--cpu-prof --cpu-prof-dir=/tmp/prof"   node options for every measured target, ceilings too
//   npm run bench -- --ab=health [--rounds=5]     hot path with and without health checks, alternating: medians, ratio
//   npm run bench -- --ab=env --ab-env=K=V        hot path without and with that environment
//   npm run bench -- --ab=build --ab-root=<dir>   hot path of the build in <dir> (a checkout, built) and of this one
//   npm run bench -- --mode=scale                 1,000,000 distinct tokens cycling: RSS and throughput as the cache churns
//   options: --duration=10 --connections=64 --users=5000 --rounds=2 --pairs=6 (0: none) --pair-duration=3
//            --results=<dir> (default bench/results)

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { abLine, abSummary } from './ab-summary.js';
import { startCoturn, type BenchCoturn } from './coturn.js';
import { clean, type Figures } from './figures.js';
import { describeHealthChecks, healthChecksOf } from './health-check-figures.js';
import {
  measure,
  measureAlone,
  pinLoadGenerator,
  prime,
  startStack,
  startTarget,
  TURN_SECRET,
  type Bench,
  type Running,
} from './launch.js';
import { load } from './load.js';
import { describeEnv, parseOptions, type Options, type TargetId } from './options.js';
import { processGroup } from './processes.js';
import { procCpu } from './proc-cpu.js';
import { pairKey, RATIOS, ratios } from './ratios.js';
import { describeStory, storyCountersOf } from './round-story.js';
import { figuresTable, ratioTable } from './report.js';
import { formatted, provenance, writeResults } from './results.js';
import { targetsNamed, type Need, type Target } from './targets.js';
import { manyOpaqueTokenHeaders } from './tokens.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const WARM_UP_SECONDS = 2;

const progress = (line: string) => process.stderr.write(`${line}\n`);

const cpuText = (f: Figures) => (f.cpuUsPerRequest === undefined ? '' : `, ${f.cpuUsPerRequest.toFixed(1)} µs cpu/req`);
const failedText = (f: Figures) =>
  clean(f) ? '' : `; NOT CLEAN: ${f.errors} errors, answers by status ${JSON.stringify(f.statusCodes ?? {})}`;
/** A round that is not clean is never the best of a clean one, however fast. */
const better = (a: Figures, b: Figures) => (clean(a) !== clean(b) ? clean(a) : a.rps > b.rps);

// ---- modes --------------------------------------------------------------------------

/**
 * Best of `rounds` runs (a clean one before any with failures), the targets interleaved so
 * a noisy moment hurts them alike, in reverse order every other round; a warm-up before each
 * target's first.
 */
async function bestOf(running: readonly Running[], bench: Bench): Promise<Figures[]> {
  const { rounds, durationSeconds } = bench.opts;
  const best = new Map<Running, Figures>();
  for (let round = 0; round < rounds; round += 1) {
    // Every other round in reverse: a target loaded late in one round is loaded early in the
    // next (in a full run the same build measured 10-30 % dearer late in a round).
    for (const r of round % 2 === 0 ? running : [...running].reverse()) {
      // Not with health checks: a probe stopped midway would time out and mark its server down.
      const loadOnce = (seconds: number) =>
        bench.opts.withHealthChecks ? measure(r, bench, seconds) : measureAlone(r, running, bench, seconds);
      if (round === 0) await loadOnce(WARM_UP_SECONDS);
      const before = r.metricsUrl === undefined ? undefined : await storyCountersOf(r.metricsUrl);
      const figures = await loadOnce(durationSeconds);
      progress(
        `round ${round + 1}/${rounds}  ${r.name}: ${figures.rps} req/s, p99 ${figures.p99Ms} ms${cpuText(figures)}${failedText(figures)}`,
      );
      if (!clean(figures) && before !== undefined) {
        progress(`  during that round, ${r.name} counted: ${describeStory(before, await storyCountersOf(r.metricsUrl!))}`);
      }
      const previous = best.get(r);
      if (!previous || better(figures, previous)) best.set(r, figures);
    }
  }
  return running.map((r) => best.get(r)!);
}

/**
 * For each ratio with a target whose two targets run: `--pairs` loads of each, back to back
 * (of then over, then over then of, …), `--pair-duration` seconds each. What ratios() takes
 * the paired medians from.
 */
async function pairLoads(running: readonly Running[], bench: Bench): Promise<Map<string, { of: Figures[]; over: Figures[] }>> {
  const { pairs, pairSeconds } = bench.opts;
  const loads = new Map<string, { of: Figures[]; over: Figures[] }>();
  const byId = new Map(running.map((r) => [r.target.id, r]));
  for (const spec of RATIOS) {
    const of = byId.get(spec.of);
    const over = byId.get(spec.over);
    if (spec.atLeast === undefined || of === undefined || over === undefined) continue;
    // The two of a pair run throughout their pairs, every other target is stopped: a load
    // never starts on a process just resumed, whose timers would be catching up.
    const partners = [of, over];
    const loadOnce = (r: Running) =>
      bench.opts.withHealthChecks ? measure(r, bench, pairSeconds) : measureAlone(r, running, bench, pairSeconds, partners);
    const found = { of: [] as Figures[], over: [] as Figures[] };
    for (let n = 0; n < pairs; n += 1) {
      if (n % 2 === 0) {
        found.of.push(await loadOnce(of));
        found.over.push(await loadOnce(over));
      } else {
        found.over.push(await loadOnce(over));
        found.of.push(await loadOnce(of));
      }
    }
    const ratiosSeen = found.of.map((f, i) => (f.rps / found.over[i]!.rps).toFixed(3)).join(' ');
    progress(`paired  ${of.name} / ${over.name}: ${ratiosSeen}`);
    loads.set(pairKey(spec), found);
  }
  return loads;
}

function needsOf(targets: readonly Target[]): Set<Need> {
  return new Set(targets.flatMap((t) => t.needs));
}

async function hot(bench: Bench): Promise<void> {
  const { opts } = bench;
  const targets = targetsNamed(opts.targets);
  const stack = await startStack(needsOf(targets), bench);
  const coturn =
    opts.withHealthChecks && targets.some((t) => t.kind === 'service') ? await startCoturn(bench.processes, TURN_SECRET) : undefined;
  const serviceEnv = { ...coturn?.env(true), ...opts.serviceEnv };
  const running: Running[] = [];
  try {
    for (const target of targets) running.push(await startTarget(target, stack, bench, serviceEnv));
    for (const r of running) if (r.target.primed) await prime(r, bench);
    const figures = await bestOf(running, bench);
    const found = ratios(new Map(figures.map((f) => [f.id, f])), RATIOS, await pairLoads(running, bench));
    console.log(figuresTable(figures));
    console.log('');
    console.log(ratioTable(found, new Map(targets.map((t) => [t.id, t.name]))));
    if (coturn !== undefined) await printHealthChecks(running);
    const record = { ...provenance(root), options: recordedOptions(opts), targets: figures, ratios: found };
    const written = await writeResults(opts.resultsDir ?? join(root, 'bench', 'results'), record);
    console.log(`\nwritten: ${written.json}, ${written.svg}`);
  } finally {
    for (const r of running) await bench.processes.stop(r.child);
    await coturn?.stop();
    await stack.stop();
  }
}

/** What each service's health checks did during the run: none at all would mean the run measured nothing new. */
async function printHealthChecks(running: readonly Running[]): Promise<void> {
  console.log('');
  for (const r of running) {
    if (r.metricsUrl !== undefined) console.log(`${r.name}: ${describeHealthChecks(await healthChecksOf(r.metricsUrl))}`);
  }
}

function recordedOptions(opts: Options): Record<string, unknown> {
  return { ...opts, serviceEnv: describeEnv(opts.serviceEnv), abEnv: describeEnv(opts.abEnv) };
}

/**
 * Side A and side B of each hot target, loaded alternately (A B, then B A, …) for `rounds`
 * rounds; the medians of each side and B/A. Health: B runs the TURN health checks every
 * second against a real coturn, A points at the same coturn with the checks off. Env: B
 * adds --ab-env. Build: A is the service built in --ab-root, B this checkout's.
 */
async function ab(bench: Bench): Promise<void> {
  const { opts } = bench;
  const ids: readonly TargetId[] = opts.targetsChosen
    ? opts.targets.filter((id) => targetsNamed([id])[0]!.kind === 'service')
    : ['redis', 'in-process'];
  if (ids.length === 0) throw new Error('--ab compares service targets: name some with --targets');
  const targets = targetsNamed(ids);
  const stack = await startStack(needsOf(targets), bench);
  let coturn: BenchCoturn | undefined;
  const sides: { label: string; env: Record<string, string>; root?: string }[] = [];
  if (opts.ab === 'health') {
    coturn = await startCoturn(bench.processes, TURN_SECRET);
    sides.push({ label: 'without health checks', env: { ...opts.serviceEnv, ...coturn.env(false) } });
    sides.push({ label: 'with health checks', env: { ...opts.serviceEnv, ...coturn.env(true) } });
  } else if (opts.ab === 'build') {
    sides.push(
      { label: `A (${opts.abRoot!})`, env: { ...opts.serviceEnv }, root: opts.abRoot! },
      { label: 'B (this checkout)', env: { ...opts.serviceEnv } },
    );
  } else {
    sides.push(
      { label: 'A', env: { ...opts.serviceEnv } },
      { label: `B (${Object.keys(opts.abEnv).join(', ')})`, env: { ...opts.serviceEnv, ...opts.abEnv } },
    );
  }
  const pairs: [Running, Running][] = [];
  try {
    for (const target of targets) {
      const [a, b] = sides;
      const start = (side: typeof a) => startTarget(target, stack, bench, side!.env, `${target.name} ${side!.label}`, side!.root);
      pairs.push([await start(a), await start(b)]);
    }
    for (const pair of pairs) for (const r of pair) if (r.target.primed) await prime(r, bench);
    // Both sides stay running throughout: side B's background work (health checks, rotation)
    // is what is measured, and a probe stopped midway would time out and mark its server down.
    for (const r of pairs.flat()) await measure(r, bench, WARM_UP_SECONDS);
    const seen = new Map<Running, Figures[]>();
    for (let round = 0; round < opts.rounds; round += 1) {
      for (const pair of pairs) {
        for (const r of round % 2 === 0 ? pair : [pair[1], pair[0]]) {
          const figures = await measure(r, bench, opts.durationSeconds);
          progress(`round ${round + 1}/${opts.rounds}  ${r.name}: ${figures.rps} req/s, p99 ${figures.p99Ms} ms${cpuText(figures)}`);
          seen.set(r, [...(seen.get(r) ?? []), figures]);
        }
      }
    }
    const summary = pairs.map(([a, b]) => abSummary(a.target.id, seen.get(a)!, seen.get(b)!));
    console.log(figuresTable(pairs.flatMap((pair) => pair.flatMap((r) => seen.get(r)!))));
    console.log('');
    for (const s of summary) console.log(abLine(s));
    if (coturn !== undefined) await printHealthChecks(pairs.flat());
    const dir = opts.resultsDir ?? join(root, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `ab-${opts.ab}.json`);
    const record = {
      ...provenance(root),
      options: recordedOptions(opts),
      sides: sides.map((s) => s.label),
      summary,
      rounds: [...seen].map(([r, f]) => ({ name: r.name, figures: f })),
    };
    writeFileSync(file, await formatted(file, JSON.stringify(record, null, 2)));
    console.log(`\nwritten: ${file}`);
  } finally {
    for (const pair of pairs) for (const r of pair) await bench.processes.stop(r.child);
    await coturn?.stop();
    await stack.stop();
  }
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
}

async function scale(bench: Bench): Promise<void> {
  const { opts } = bench;
  const [target] = targetsNamed(['redis']);
  const stack = await startStack(needsOf([target!]), bench);
  // The default cache TTL, as an operator runs it, not the hot targets' day.
  const service = await startTarget(target!, stack, bench, { ...opts.serviceEnv, TOKEN_CACHE_TTL: '60' });
  const total = 1_000_000;
  const headers = manyOpaqueTokenHeaders(total);
  const rows: (Figures & { rssMiB: number })[] = [];
  const pid = service.child.pid!;
  try {
    console.log(`service RSS at start: ${rssMiB(pid)} MiB (TOKEN_CACHE_SIZE default 100000)`);
    let served = 0;
    const step = async (name: string, amount: number, start: number) => {
      const figures = await load({ url: service.url, pid, connections: opts.connections, amount, headers, start }, bench.cpu);
      rows.push({ id: 'redis', name, kind: 'service', ...figures, rssMiB: rssMiB(pid) });
    };
    for (const upTo of [10_000, 100_000, 1_000_000]) {
      await step(`users ${served + 1}..${upTo}`, upTo - served, served);
      served = upTo;
    }
    // Back over the first users: their entries were evicted long ago, so this is the churn.
    await step('users 1..100000 again', 100_000, 0);
    console.log(figuresTable(rows));
    console.log('');
    for (const row of rows) console.log(`RSS after ${row.name.padEnd(24)} ${row.rssMiB} MiB`);
  } finally {
    await bench.processes.stop(service.child);
    await stack.stop();
  }
}

async function main(bench: Bench): Promise<void> {
  const { opts } = bench;
  const { machine } = provenance(root);
  console.log(`matrix-turn-credentials benchmark — node ${machine.node}, ${machine.cpuCount} × ${machine.cpuModel}`);
  const env = Object.entries(describeEnv(opts.serviceEnv)).map(([k, v]) => `${k}=${v}`);
  console.log(
    `mode ${opts.mode}${opts.ab ? ` (${opts.ab})` : ''}, ${opts.connections} connections, ${opts.durationSeconds}s per run, ` +
      `${opts.mode === 'ab' ? 'medians of' : 'best of'} ${opts.rounds}, ${opts.users} users` +
      `${opts.withHealthChecks ? ', with health checks' : ''}${env.length > 0 ? `, service env ${env.join(' ')}` : ''}\n`,
  );
  if (opts.mode === 'hot') await hot(bench);
  else if (opts.mode === 'ab') await ab(bench);
  else await scale(bench);
}

const processes = processGroup();
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.once(signal, () => {
    processes.killAll();
    process.exit(code);
  });
}
let opts: Options;
try {
  opts = parseOptions(process.argv.slice(2));
} catch (error) {
  console.error((error as Error).message);
  process.exit(2);
}
pinLoadGenerator(opts);
main({ opts, processes, cpu: procCpu() }).then(
  () => processes.killAll(),
  (error: unknown) => {
    processes.killAll();
    console.error(error);
    process.exit(1);
  },
);
