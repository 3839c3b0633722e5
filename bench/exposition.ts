// The bench reading a service's /metrics: the samples of some series of a Prometheus text
// exposition, each keyed by its name and labels as written (`name{label="value"}`).

/** Reads the samples of the named series (names matched whole, labels or none). */
export function seriesReader(names: readonly string[]): (exposition: string) => Map<string, number> {
  const sample = new RegExp(`^((?:${names.join('|')})(?:\\{[^}]*\\})?) (\\S+)$`);
  return (exposition) => {
    const samples = new Map<string, number>();
    for (const line of exposition.split('\n')) {
      const match = sample.exec(line);
      if (match) samples.set(match[1]!, Number(match[2]));
    }
    return samples;
  };
}
