// A ceiling leaves on SIGTERM through process.exit, not by the signal's default: only then
// does Node write what --cpu-prof (--service-node-args) collected.

export function exitOnSigterm(): void {
  process.once('SIGTERM', () => process.exit(0));
}
