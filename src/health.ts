// Readiness as a set of components (Redis, ...) plus the draining flag set on SIGTERM, so
// load balancers stop sending before the listener closes.

export interface ComponentStatus {
  /** false only when the service cannot serve at all. */
  readonly ready: boolean;
  /** true when serving in a degraded mode (e.g. Redis down, fallback limiter). */
  readonly degraded: boolean;
  readonly detail: string;
  /** What else a component reports (the TURN servers and their URIs, say): shown in /readyz as it is, so never a secret. */
  readonly [more: string]: unknown;
}

export interface Health {
  register(name: string, check: () => ComponentStatus): void;
  startDraining(): void;
  readonly draining: boolean;
  report(): { ready: boolean; status: 'ready' | 'degraded' | 'draining' | 'unavailable'; components: Record<string, ComponentStatus> };
}

export function createHealth(): Health {
  const checks = new Map<string, () => ComponentStatus>();
  let draining = false;
  return {
    register: (name, check) => void checks.set(name, check),
    startDraining: () => {
      draining = true;
    },
    get draining() {
      return draining;
    },
    report() {
      const components: Record<string, ComponentStatus> = {};
      for (const [name, check] of checks) components[name] = check();
      const all = Object.values(components);
      const ready = !draining && all.every((c) => c.ready);
      const status = draining ? 'draining' : !ready ? 'unavailable' : all.some((c) => c.degraded) ? 'degraded' : 'ready';
      return { ready, status, components };
    },
  };
}
