/**
 * Counters and gauges exposed at `GET /metrics` in Prometheus text format. Label sets are small and fixed by the
 * code that records them, so series never grow with user input.
 */

type Labels = Record<string, string>;

interface Series {
  labels: Labels;
  value: number;
}

interface Family {
  type: 'counter' | 'gauge';
  help: string;
  series: Map<string, Series>;
  /** Read at scrape time. */
  collect?: () => number;
}

export class Metrics {
  readonly #families = new Map<string, Family>();

  counter(name: string, help: string): (labels?: Labels, by?: number) => void {
    const family = this.#family(name, 'counter', help);
    return (labels = {}, by = 1) => {
      const series = seriesFor(family, labels);
      series.value += by;
    };
  }

  /** A gauge whose value is read from `collect` whenever metrics are rendered. */
  gauge(name: string, help: string, collect: () => number): void {
    const family = this.#family(name, 'gauge', help);
    family.collect = collect;
  }

  /** A counter kept by someone else (a count that only rises), read from `collect` whenever metrics are rendered. */
  counted(name: string, help: string, collect: () => number): void {
    const family = this.#family(name, 'counter', help);
    family.collect = collect;
  }

  render(): string {
    let out = '';
    for (const [name, family] of this.#families) {
      out += `# HELP ${name} ${family.help}\n# TYPE ${name} ${family.type}\n`;
      if (family.collect) {
        out += `${name} ${family.collect()}\n`;
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

function seriesFor(family: Family, labels: Labels): Series {
  let key = '';
  for (const name in labels) key += `${name}\0${labels[name]}\0`;
  let series = family.series.get(key);
  if (!series) {
    series = { labels, value: 0 };
    family.series.set(key, series);
  }
  return series;
}

function renderLabels(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}
