/**
 * The baseline a user would otherwise pick for a stdio server: supergateway (stdio → Streamable HTTP, stateful, one
 * child process per MCP session, no isolation), run on the same fixture server with the same cleared environment
 * as berth's sandboxes. It speaks the 2025-11-25 revision, so its session opens with `initialize`.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import type { Pool } from 'undici';

const require = createRequire(import.meta.url);

export interface Gateway {
  url: string;
  stop(): void;
}

const LEGACY_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' };

function entry(): string {
  const manifest = require.resolve('supergateway/package.json');
  const { bin } = require(manifest) as { bin: string | Record<string, string> };
  return join(dirname(manifest), typeof bin === 'string' ? bin : (bin.supergateway as string));
}

/** Starts supergateway in front of `command` (run in `dir`) on `port`, and resolves once it answers. */
export async function startSupergateway(dir: string, command: string, port: number): Promise<Gateway> {
  const child = spawn(
    process.execPath,
    [entry(), '--stdio', command, '--outputTransport', 'streamableHttp', '--stateful', '--port', String(port), '--logLevel', 'none'],
    {
      cwd: dir,
      env: { PATH: `${dirname(process.execPath)}:/usr/bin:/bin` },
      stdio: 'ignore',
    },
  );
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 500; i++) {
    if (await accepts(port)) return { url, stop: () => child.kill('SIGKILL') };
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  child.kill('SIGKILL');
  throw new Error('supergateway did not start');
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Opens an MCP session through the gateway (`initialize`, then `notifications/initialized`); its session id. */
export async function openGatewaySession(pool: Pool): Promise<string> {
  const init = {
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'berth-bench', version: '1' } },
  };
  const opened = await pool.request({ path: '/mcp', method: 'POST', headers: LEGACY_HEADERS, body: JSON.stringify(init) });
  await opened.body.text();
  const session = opened.headers['mcp-session-id'];
  if (typeof session !== 'string') throw new Error(`supergateway opened no session (${opened.statusCode})`);
  const initialized = await pool.request({
    path: '/mcp',
    method: 'POST',
    headers: { ...LEGACY_HEADERS, 'mcp-session-id': session },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  });
  await initialized.body.text();
  return session;
}

let nextId = 1;

/** One legacy `tools/call` of the fixture's `increment` in the gateway's session (ids differ: the gateway keys calls by them). */
export async function gatewayCall(pool: Pool, session: string): Promise<void> {
  const body = JSON.stringify({ jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name: 'increment', arguments: {} } });
  const { statusCode, body: answer } = await pool.request({ path: '/mcp', method: 'POST', headers: { ...LEGACY_HEADERS, 'mcp-session-id': session }, body });
  const text = await answer.text();
  if (statusCode !== 200 || !text.includes('count')) throw new Error(`supergateway call failed (${statusCode}): ${text.slice(0, 300)}`);
}
