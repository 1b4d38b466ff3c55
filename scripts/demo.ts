/**
 * `npm run demo`: starts berth on its embedded store with the notes demo runtime deployed, and shows how to call it.
 * berth runs in the foreground; Ctrl-C stops it.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { adminKey } from '../src/cli/admin-key.ts';
import { ApiClient } from '../src/cli/api-client.ts';
import { packDirectory } from '../src/cli/pack.ts';
import { BwrapDriver } from '../src/sandbox/drivers/bwrap/driver.ts';

const port = process.env.BERTH_PORT ?? '8787';
const unsupported = BwrapDriver.unsupportedReason();
const driver = unsupported ? 'process' : 'bwrap';
if (unsupported) process.stderr.write(`demo: the bwrap driver cannot run here (${unsupported}); using the process driver, which does not isolate\n`);

const artifact = mkdtempSync(join(tmpdir(), 'berth-demo-'));
await build({
  entryPoints: [fileURLToPath(new URL('../examples/notes/server.ts', import.meta.url))],
  outfile: join(artifact, 'server.js'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node24',
  logLevel: 'silent',
});

const bin = fileURLToPath(new URL('../bin/berth', import.meta.url));
const berth = spawn(process.execPath, [bin, 'serve', '--port', port, '--driver', driver], { stdio: ['ignore', 'inherit', 'pipe'] });
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => berth.kill(signal));
berth.on('exit', (code) => process.exit(code ?? 0));

let logs = '';
berth.stderr.setEncoding('utf8');
berth.stderr.on('data', (chunk: string) => {
  process.stderr.write(chunk);
  if (!logs.includes('berth listening on')) {
    logs += chunk;
    const match = /berth listening on (http:\/\/\S+)/.exec(logs);
    if (match) void deployDemo(match[1] as string);
  }
});

async function deployDemo(url: string): Promise<void> {
  const api = new ApiClient(url, adminKey(process.env));
  const { artifactId } = await api.uploadArtifact(packDirectory(artifact));
  const { version } = await api.deploy('notes', { artifactId, command: 'node server.js', transport: 'stdio' });
  const session = randomUUID();
  process.stdout.write(`
The demo runtime "notes" (v${version}) is deployed. Each session gets its own sandbox; try:

  curl -s ${url}/runtimes/notes/mcp \\
    -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \\
    -H 'mcp-protocol-version: 2026-07-28' -H 'mcp-method: tools/call' -H 'mcp-name: add_note' \\
    -H 'x-amzn-bedrock-agentcore-runtime-session-id: ${session}' \\
    -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add_note","arguments":{"text":"hello"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}'

then the same with "list_notes" (and the same session id: the note is there; another id: it is not).
  npx berth sessions     lists live sessions      npx berth stop ${session}   ends one
Ctrl-C stops berth.
`);
}
