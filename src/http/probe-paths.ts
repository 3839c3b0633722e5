// kubelet's probes: the routes serve them, and the access log writes their lines at debug,
// as they are asked every few seconds.

export const PROBE_PATHS = { liveness: '/healthz', readiness: '/readyz' } as const;
