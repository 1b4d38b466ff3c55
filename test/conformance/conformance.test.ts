/**
 * The official MCP conformance suite (@modelcontextprotocol/conformance 0.2.0-alpha.12) against berth's edge, for a
 * modern fixture server and a legacy one bridged by berth, each over stdio and HTTP inside its sandbox, at both
 * revisions: `--requirements 2026-07-28` (the stateless wire) and `--requirements 2025-11-25` (the stateful wire,
 * served by berth's legacy facade). Every scored scenario must pass, and so must every unscored one (extension,
 * pending) but those test/conformance/expected-failures.json lists with its reason; the summary is printed.
 *
 * The runner takes only a URL (no custom headers), so the session travels in the URL path; one fixed session per
 * run keeps a listen stream and the tool call that triggers it in one sandbox, as the suite expects.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { deploy, startBerth, type BerthNode } from '../helpers/berth.ts';
import { fixtureDir } from '../helpers/fixtures.ts';

const RUNNER = createRequire(import.meta.url).resolve('@modelcontextprotocol/conformance/dist/index.js');
const EXPECTED_FAILURES = (JSON.parse(readFileSync(new URL('./expected-failures.json', import.meta.url), 'utf8')) as { scenarios: Record<string, string> })
  .scenarios;

/** The unscored scenarios that failed and are not expected to: those after "Not scored for …" marked ✗. */
function unexpectedUnscoredFailures(output: string): string[] {
  const start = output.lastIndexOf('Not scored for');
  if (start === -1) return [];
  const failed = [...output.slice(start).matchAll(/^\s+✗ (\S+) \(/gm)].map((match) => match[1] as string);
  return failed.filter((scenario) => EXPECTED_FAILURES[scenario] === undefined);
}

function runConformance(url: string, revision: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [RUNNER, 'server', '--url', url, '--requirements', revision], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('close', (code) => resolve({ code, output }));
  });
}

/** The runner's closing summary: one line per scenario, the totals, and what was not scored. */
function summary(output: string): string {
  const start = output.lastIndexOf('=== SUMMARY ===');
  return start === -1 ? output.slice(-4000) : output.slice(start);
}

const RUNTIMES = [
  { name: 'modern-http', fixture: 'conformance-modern', transport: 'http' },
  { name: 'modern-stdio', fixture: 'conformance-modern', transport: 'stdio' },
  { name: 'legacy-http', fixture: 'conformance-legacy', transport: 'http' },
  { name: 'legacy-stdio', fixture: 'conformance-legacy', transport: 'stdio' },
] as const;

describe('MCP conformance suite through berth', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;
  before(async () => {
    node = await startBerth();
    for (const runtime of RUNTIMES) {
      await deploy(node, runtime.name, await fixtureDir(runtime.fixture), { transport: runtime.transport, command: `node server.js ${runtime.transport}` });
    }
  });
  after(async () => {
    await node?.stop();
  });

  for (const runtime of RUNTIMES) {
    for (const revision of ['2026-07-28', '2025-11-25']) {
      test(`${runtime.name} (${runtime.fixture}, ${runtime.transport}) at ${revision}: every scored scenario passes, and every unscored one not excused`, async (t) => {
        const session = `conformance-${runtime.name}-${revision}-000000000000`;
        const { code, output } = await runConformance(`${node.url}/runtimes/${runtime.name}/sessions/${session}/mcp`, revision);
        t.diagnostic(summary(output));
        assert.equal(code, 0, `conformance failed:\n${summary(output)}`);
        assert.deepEqual(unexpectedUnscoredFailures(output), [], `unscored scenarios failed that expected-failures.json does not excuse:\n${summary(output)}`);
      });
    }
  }
});
