/**
 * A stdio server berth reads in its own process (a hosted server, decision 13) that floods its stdout: with lines
 * that are not JSON-RPC, with notifications nobody listens to, and with one message larger than any berth reads.
 * berth reads it at a bounded pace and within a bounded budget, so the node answers, a bystander keeps its state,
 * and the flooding session itself goes on answering.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { BwrapDriver } from '../../../src/sandbox/drivers/bwrap/driver.ts';
import { deploy, startBerth, type BerthNode } from '../../helpers/berth.ts';
import { fixtureDir } from '../../helpers/fixtures.ts';
import { waitFor } from '../../helpers/wait.ts';
import { rawCall, toolText } from '../../helpers/mcp.ts';

/**
 * Speaks 2026-07-28 on stdio; `flood` starts writing, as fast as its stdout takes it and until the sandbox ends,
 * lines of 64 KiB of text, log notifications, and every 64 MiB one line of 20 MiB with no end in sight for a while.
 */
const FLOODER = String.raw`
let count = 0;
let flooding = false;
const serverInfo = { name: 'flooder', version: '1.0.0' };
const done = (id, value) => JSON.stringify({ jsonrpc: '2.0', id, result: { content: [{ type: 'text', text: JSON.stringify(value) }], resultType: 'complete' } });
const junk = 'x'.repeat(64 * 1024) + '\n';
const note = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'y'.repeat(32 * 1024) } }) + '\n';
const huge = '{"jsonrpc":"2.0","method":"notifications/message","params":{"data":"' + 'z'.repeat(20 * 1024 * 1024) + '"}}\n';
function flood() {
  let written = 0;
  const more = () => {
    for (;;) {
      const chunk = written % (64 * 1024 * 1024) < junk.length ? huge : written % 2 ? note : junk;
      written += chunk.length;
      if (!process.stdout.write(chunk)) return void process.stdout.once('drain', more);
    }
  };
  more();
}
let buffered = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffered += chunk;
  for (let end = buffered.indexOf('\n'); end !== -1; end = buffered.indexOf('\n')) {
    const message = JSON.parse(buffered.slice(0, end));
    buffered = buffered.slice(end + 1);
    if (message.id === undefined) continue;
    let out;
    if (message.method === 'server/discover') out = JSON.stringify({ jsonrpc: '2.0', id: message.id, result: { supportedVersions: ['2026-07-28'], capabilities: { tools: {} }, serverInfo, resultType: 'complete' } });
    else if (message.params?.name === 'increment') out = done(message.id, { count: ++count });
    else if (message.params?.name === 'flood') {
      out = done(message.id, 'flooding');
      if (!flooding) setImmediate(flood);
      flooding = true;
    } else out = JSON.stringify({ jsonrpc: '2.0', id: message.id, error: { code: -32601, message: 'no ' + message.method } });
    process.stdout.write(out + '\n');
  }
});
`;

const FLOODER_DIR = join(tmpdir(), `berth-flooder-${process.pid}`);

describe("a hosted server that floods its stdout costs berth a bounded share, and nobody's state", { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;

  before(async () => {
    mkdirSync(FLOODER_DIR, { recursive: true });
    writeFileSync(join(FLOODER_DIR, 'server.js'), FLOODER);
    node = await startBerth();
    await deploy(node, 'counter', await fixtureDir('counter-server'), { transport: 'stdio' });
    await deploy(node, 'flooder', FLOODER_DIR, { transport: 'stdio', command: 'node server.js' });
  });
  after(async () => {
    await node?.stop();
    rmSync(FLOODER_DIR, { recursive: true, force: true });
  });

  const increment = async (runtime: string, sessionId: string): Promise<number> =>
    (toolText(await rawCall(node.url, runtime, 'tools/call', 'increment', {}, { sessionId })) as { count: number }).count;

  test('while one session floods, the node answers, a bystander counts on, and the flooder itself still answers', async () => {
    const bystander = randomUUID();
    const flooder = randomUUID();
    assert.equal(await increment('counter', bystander), 1);
    assert.equal(await increment('flooder', flooder), 1);
    const sandbox = (await node.api.sessions('flooder')).find((s) => s.id === flooder)?.sandboxId;
    assert.equal(toolText(await rawCall(node.url, 'flooder', 'tools/call', 'flood', {}, { sessionId: flooder })), 'flooding');
    for (let i = 2; i <= 20; i++) {
      assert.equal((await fetch(`${node.url}/healthz`)).status, 200);
      assert.equal(await increment('counter', bystander), i, 'the bystander kept its state');
    }
    assert.equal(await increment('flooder', flooder), 2, 'the flooding session kept its state and still answers');
    assert.equal((await node.api.sessions('flooder')).find((s) => s.id === flooder)?.sandboxId, sandbox, 'in the same sandbox');
    await waitFor(
      async () =>
        /the server sent a message of \d+ bytes, over the 16777216 berth reads whole/.test(await (await node.admin(`/v1/sessions/${flooder}/logs`)).text()),
      'the message too large to be dropped, and said so in its log',
    );
    assert.equal((await node.admin(`/v1/sessions/${flooder}`, { method: 'DELETE' })).status < 300, true);
    assert.equal(await increment('counter', bystander), 21);
  });
});
