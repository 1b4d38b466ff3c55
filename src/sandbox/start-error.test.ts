import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startHint } from './start-error.ts';

const stdio = { command: 'node server.js', transport: 'stdio' as const };
const http = { command: 'node server.js', transport: 'http' as const };

test('the usual mistakes behind a failed start are recognized, and what to do is said', () => {
  assert.match(
    startHint(stdio, 'failed', ["Error [ERR_MODULE_NOT_FOUND]: Cannot find package 'fastmcp' imported from /app/server.js"]) ?? '',
    /cannot find "fastmcp"/,
  );
  assert.match(startHint(stdio, 'failed', ["Error: Cannot find module 'zod'"]) ?? '', /cannot find "zod"/);
  assert.match(startHint(stdio, 'failed', ["ModuleNotFoundError: No module named 'mcp'"]) ?? '', /cannot find "mcp"/);
  assert.match(startHint(stdio, 'failed', ['code: MODULE_NOT_FOUND']) ?? '', /cannot find a module it imports/);
  assert.match(startHint({ ...stdio, command: 'npx -y @modelcontextprotocol/server-memory' }, 'timed out', []) ?? '', /no network/);
  assert.match(startHint(stdio, 'failed', ['npm error network request to https://registry.npmjs.org/x failed']) ?? '', /no network/);
  assert.match(startHint(stdio, 'failed', ['getaddrinfo EAI_AGAIN api.example.com']) ?? '', /no network/);
  assert.match(startHint(stdio, 'timed out', ['Server listening on http://localhost:3000']) ?? '', /--transport http/);
  assert.match(startHint(stdio, 'timed out', ['MCP server running on port 8080']) ?? '', /--transport http/);
  assert.match(startHint(http, 'did not listen on port 8000', ['Secure MCP Filesystem Server running on stdio']) ?? '', /--transport stdio/);
});

test('no hint where nothing is recognized, or where the runtime may reach the network', () => {
  assert.equal(startHint(stdio, 'failed', ['exits-at-start: cannot find my configuration']), undefined);
  assert.equal(startHint(stdio, 'failed', []), undefined);
  assert.equal(startHint({ ...stdio, command: 'npx -y pkg', network: { mode: 'host' } }, 'failed', []), undefined);
  assert.equal(startHint(http, 'did not listen on port 8000', ['listening on port 9000']), undefined, 'an HTTP server on the wrong port is its own story');
});
