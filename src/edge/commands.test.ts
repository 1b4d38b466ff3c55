/**
 * runCommand against a fake sandbox: a channel on a Unix socket that answers what a hostile or broken supervisor
 * might. Whatever it sends, the host gets events of the three shapes or a BerthError, never more memory than one
 * bounded line.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { COMMAND_EVENT_MAX_BYTES, type CommandEvent } from '../core/channel-commands.ts';
import { isBerthError } from '../core/errors.ts';
import type { Sandbox } from '../sandbox/driver.ts';
import type { Lease } from '../sessions/manager.ts';
import { runCommand } from './commands.ts';

type Reply = (req: IncomingMessage, res: ServerResponse) => void;

let dir: string;
let server: Server;
let reply: Reply = (_req, res) => res.end();
let lease: Lease;
let ended: () => void;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-commands-test-'));
  const socketPath = join(dir, 'c.sock');
  server = createServer((req, res) => reply(req, res));
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  const exited = new Promise<never>((resolve) => (ended = resolve as () => void));
  // SAFETY: runCommand reaches the sandbox only through its channel and, when the channel fails, asks how the sandbox
  // is going (never closing here: it merely stopped answering); these members are all it touches.
  const sandbox = {
    channel: { socketPath },
    exited,
    closing: new Promise<never>(() => {}),
    limitReached: () => undefined,
    using: () => () => {},
    retire: () => {},
  } as unknown as Sandbox;
  lease = { sessionId: 's'.repeat(36), sandbox, principal: { key: 'anonymous', userId: 'anonymous' }, created: false, release: () => {} };
});
after(() => {
  ended();
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

const ndjson = (res: ServerResponse): ServerResponse => res.writeHead(200, { 'content-type': 'application/x-ndjson' });

async function collect(signal = new AbortController().signal): Promise<CommandEvent[]> {
  const events: CommandEvent[] = [];
  for await (const event of await runCommand(lease, { command: 'echo hi', timeoutSeconds: 5 }, signal)) events.push(event);
  return events;
}

const failsWith = (code: string) => (error: unknown) => isBerthError(error) && error.code === code;

test('events arrive as the sandbox sends them, lines split anywhere, and end at the exit', async () => {
  let body = '';
  reply = (req, res) => {
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      ndjson(res);
      res.write('{"stdout":"h');
      res.write('i\\n"}\n{"stderr":"oops"}\n{"exit":{"exitCode":2,');
      // Anything after the exit is not read.
      res.end('"status":"COMPLETED"}}\n{"stdout":"late"}\n');
    });
  };
  assert.deepEqual(await collect(), [{ stdout: 'hi\n' }, { stderr: 'oops' }, { exit: { exitCode: 2, status: 'COMPLETED' } }]);
  assert.deepEqual(JSON.parse(body), { command: 'echo hi', timeoutSeconds: 5 });
});

test('a line that is not an event fails the command', async () => {
  reply = (_req, res) => ndjson(res).end('{"stdout":"ok"}\n{"stdout":"a","rm":"-rf"}\n');
  await assert.rejects(collect(), failsWith('sandbox_failed'));
});

test('a line past the bound fails the command without reading on', async () => {
  reply = (_req, res) => {
    ndjson(res);
    res.write('{"stdout":"');
    res.end(`${'x'.repeat(COMMAND_EVENT_MAX_BYTES)}"}\n`);
  };
  await assert.rejects(collect(), failsWith('sandbox_failed'));
});

test('output that ends without an exit is the sandbox stopping', async () => {
  reply = (_req, res) => ndjson(res).end('{"stdout":"partial"}\n');
  await assert.rejects(collect(), failsWith('sandbox_unavailable'));
  reply = (_req, res) => {
    ndjson(res).write('{"stdout":"partial"}\n');
    setTimeout(() => res.destroy(), 20);
  };
  await assert.rejects(collect(), failsWith('sandbox_unavailable'));
});

test('an answer that is not NDJSON output is the sandbox failing', async () => {
  reply = (_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('hello');
  await assert.rejects(collect(), failsWith('sandbox_failed'));
});

test('an error the supervisor reports is thrown as its own', async () => {
  reply = (_req, res) =>
    res
      .writeHead(400, { 'content-type': 'application/json', 'x-berth-error': 'validation_failed' })
      .end('{"error":{"code":"validation_failed","message":"nope"}}');
  await assert.rejects(collect(), (error) => isBerthError(error) && error.code === 'validation_failed' && error.message === 'nope');
});

test('a command request is checked before it reaches the sandbox', async () => {
  let reached = false;
  reply = (_req, res) => {
    reached = true;
    res.end();
  };
  await assert.rejects(runCommand(lease, { command: '', timeoutSeconds: 5 }, new AbortController().signal), failsWith('validation_failed'));
  assert.equal(reached, false);
});

test("stopping the iteration early closes the command's channel request", async () => {
  let closed: () => void = () => {};
  const channelClosed = new Promise<void>((resolve) => (closed = resolve));
  reply = (_req, res) => {
    ndjson(res).write('{"stdout":"first"}\n');
    res.once('close', closed);
  };
  for await (const event of await runCommand(lease, { command: 'yes', timeoutSeconds: 5 }, new AbortController().signal)) {
    assert.deepEqual(event, { stdout: 'first' });
    break;
  }
  await channelClosed;
});
