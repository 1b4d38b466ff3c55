import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** One sample of a scrape, as Prometheus' own client library parses the text format. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Scrape {
  /** Each family's name (without `_total`, as the parser names counters) and type. */
  families: Map<string, string>;
  samples: Sample[];
  /** The value of the sample `name` with exactly `labels`; 0 when there is none. */
  value(name: string, labels?: Record<string, string>): number;
}

const PYTHON = '/usr/bin/python3';
// The parser of Prometheus' official Python client (Debian's python3-prometheus-client), the same text-format rules.
const PARSE = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {"families": [], "samples": []}
for family in text_string_to_metric_families(sys.stdin.read()):
    out["families"].append([family.name, family.type])
    for s in family.samples:
        out["samples"].append({"name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps(out))
`;

/** Why the parser or promtool cannot run here, or undefined. CI installs both (python3-prometheus-client, prometheus). */
export function prometheusToolsMissing(): string | undefined {
  if (!existsSync('/usr/bin/promtool')) return 'promtool is not installed (apt-get install prometheus)';
  try {
    execFileSync(PYTHON, ['-c', 'import prometheus_client'], { stdio: 'ignore' });
  } catch {
    return "Prometheus' Python client is not installed (apt-get install python3-prometheus-client)";
  }
  return undefined;
}

export function parseMetrics(text: string): Scrape {
  const parsed = JSON.parse(execFileSync(PYTHON, ['-c', PARSE], { input: text, encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } })) as {
    families: Array<[string, string]>;
    samples: Sample[];
  };
  const same = (a: Record<string, string>, b: Record<string, string>): boolean =>
    Object.keys(a).length === Object.keys(b).length && Object.entries(b).every(([k, v]) => a[k] === v);
  return {
    families: new Map(parsed.families),
    samples: parsed.samples,
    value: (name, labels = {}) => parsed.samples.find((s) => s.name === name && same(s.labels, labels))?.value ?? 0,
  };
}

/** What `promtool check metrics` says of the text: nothing when it follows Prometheus' conventions. */
export function promtoolProblems(text: string): string {
  try {
    execFileSync('/usr/bin/promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
    return '';
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string };
    return `${failed.stdout ?? ''}${failed.stderr ?? ''}`.trim() || String(error);
  }
}
