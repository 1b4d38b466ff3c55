/**
 * What the overview charts, read from `/metrics` (the Prometheus text berth serves): the families it needs, summed
 * over their labels as the overview shows them. A small reader for berth's own output, not a general parser.
 */
export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function readMetrics(text: string): MetricSample[] {
  const out: MetricSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1] as string] = (pair[2] as string).replace(/\\(.)/g, (_all, c: string) => (c === 'n' ? '\n' : c));
    }
    out.push({ name: match[1] as string, labels, value: Number(match[4]) });
  }
  return out;
}

/** The sum of a family's samples whose labels include `where`. */
export function total(samples: MetricSample[], name: string, where: Record<string, string> = {}): number {
  let sum = 0;
  for (const sample of samples) {
    if (sample.name !== name) continue;
    if (Object.entries(where).every(([k, v]) => sample.labels[k] === v)) sum += sample.value;
  }
  return sum;
}

/** The values of one label across a family, with each one's sum. */
export function byLabel(samples: MetricSample[], name: string, label: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const sample of samples) {
    if (sample.name !== name) continue;
    const key = sample.labels[label] ?? '';
    out.set(key, (out.get(key) ?? 0) + sample.value);
  }
  return out;
}
