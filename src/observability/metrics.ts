/**
 * Counters, gauges and histograms exposed at `GET /metrics` in Prometheus text format. Label sets are small and
 * fixed by the code that records them, so series never grow with user input: a label that comes from a request
 * (an MCP method) is one of a closed set before it gets here.
 */

export type Labels = Readonly<Record<string, string>>;

/** What a collected family reads at scrape time: one value, or one per label set. */
export type Collected = number | Iterable<readonly [Labels, number]>;

interface Series {
  labels: Labels;
  value: number;
}

interface HistogramSeries {
  labels: Labels;
  /** Observations per bucket (not cumulative; summed when rendered). */
  counts: number[];
  sum: number;
  count: number;
}

interface Family {
  type: 'counter' | 'gauge' | 'histogram';
  help: string;
  series: Map<string, Series>;
  histograms?: { buckets: readonly number[]; series: Map<string, HistogramSeries> };
  /** Read at scrape time. */
  collect?: () => Collected;
}

/** Seconds buckets for work from a warm call (a millisecond) to a slow cold start or a long tool call. */
export const SECONDS_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class Metrics {
  readonly #families = new Map<string, Family>();

  counter(name: string, help: string): (labels?: Labels, by?: number) => void {
    const family = this.#family(name, 'counter', help);
    return (labels = {}, by = 1) => {
      const series = seriesFor(family.series, labels, () => ({ labels, value: 0 }));
      series.value += by;
    };
  }

  /** Observations of a value (a duration in seconds), counted into `buckets` (upper bounds, ascending). */
  histogram(name: string, help: string, buckets: readonly number[] = SECONDS_BUCKETS): (labels: Labels, value: number) => void {
    const family = this.#family(name, 'histogram', help);
    const histograms = (family.histograms ??= { buckets, series: new Map() });
    return (labels, value) => {
      const series = seriesFor(histograms.series, labels, () => ({ labels, counts: new Array<number>(buckets.length + 1).fill(0), sum: 0, count: 0 }));
      let bucket = 0;
      while (bucket < buckets.length && value > (buckets[bucket] as number)) bucket++;
      series.counts[bucket] = (series.counts[bucket] ?? 0) + 1;
      series.sum += value;
      series.count++;
    };
  }

  /** A gauge whose value (or values, one per label set) is read from `collect` whenever metrics are rendered. */
  gauge(name: string, help: string, collect: () => Collected): void {
    const family = this.#family(name, 'gauge', help);
    family.collect = collect;
  }

  /** A counter kept by someone else (a count that only rises), read from `collect` whenever metrics are rendered. */
  counted(name: string, help: string, collect: () => Collected): void {
    const family = this.#family(name, 'counter', help);
    family.collect = collect;
  }

  render(): string {
    let out = '';
    for (const [name, family] of this.#families) {
      out += `# HELP ${name} ${family.help}\n# TYPE ${name} ${family.type}\n`;
      if (family.collect) {
        const collected = family.collect();
        if (typeof collected === 'number') out += `${name} ${collected}\n`;
        else for (const [labels, value] of collected) out += `${name}${renderLabels(labels)} ${value}\n`;
        continue;
      }
      if (family.histograms) {
        out += renderHistograms(name, family.histograms.buckets, family.histograms.series.values());
        continue;
      }
      for (const series of family.series.values()) out += `${name}${renderLabels(series.labels)} ${series.value}\n`;
    }
    return out;
  }

  #family(name: string, type: Family['type'], help: string): Family {
    const existing = this.#families.get(name);
    if (existing) return existing;
    const family: Family = { type, help, series: new Map() };
    this.#families.set(name, family);
    return family;
  }
}

function seriesFor<S>(series: Map<string, S>, labels: Labels, make: () => S): S {
  let key = '';
  for (const name in labels) key += `${name}\0${labels[name]}\0`;
  let found = series.get(key);
  if (!found) {
    found = make();
    series.set(key, found);
  }
  return found;
}

function renderHistograms(name: string, buckets: readonly number[], all: Iterable<HistogramSeries>): string {
  let out = '';
  for (const series of all) {
    let cumulative = 0;
    for (let i = 0; i <= buckets.length; i++) {
      cumulative += series.counts[i] ?? 0;
      const le = i < buckets.length ? String(buckets[i]) : '+Inf';
      out += `${name}_bucket${renderLabels({ ...series.labels, le })} ${cumulative}\n`;
    }
    out += `${name}_sum${renderLabels(series.labels)} ${series.sum}\n`;
    out += `${name}_count${renderLabels(series.labels)} ${series.count}\n`;
  }
  return out;
}

function renderLabels(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}
