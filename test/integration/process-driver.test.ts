/**
 * The development driver end to end: it says loudly that it does not isolate, and sessions still keep their own
 * state (each has its own server process and HOME).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { PROCESS_DRIVER_WARNING } from '../../src/sandbox/drivers/process/driver.ts';
import { deploy, startBerth, type BerthNode } from '../helpers/berth.ts';
import { runCommand } from '../helpers/commands.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { connectSession } from '../helpers/mcp.ts';

describe('the process driver', () => {
  let node: BerthNode;
  before(async () => {
    node = await startBerth({ driver: 'process' });
    const dir = await fixtureDir('counter-server');
    await deploy(node, 'dev-stdio', dir, { transport: 'stdio' });
    await deploy(node, 'dev-http', dir, { transport: 'http' });
    await deploy(node, 'dev-egress', dir, { transport: 'stdio', network: { mode: 'egress', allow: ['api.example.com'] } });
  });
  after(async () => {
    await node?.stop();
  });

  test('warns at start that it does not isolate', () => {
    assert.ok(node.logs().includes(PROCESS_DRIVER_WARNING), node.logs());
  });

  test('says an egress allowlist is not enforced, and sends no client to a proxy that is not there', async () => {
    const env = await runCommand(node.url, 'dev-egress', randomUUID(), 'echo "proxy=${HTTP_PROXY:-none}"');
    assert.equal(env.stdout, 'proxy=none\n');
    assert.match(node.logs(), /the process driver does not enforce the runtime's egress allowlist/);
  });

  for (const runtime of ['dev-stdio', 'dev-http']) {
    test(`${runtime}: sessions keep separate state`, async () => {
      const a = await connectSession(node.url, runtime);
      const b = await connectSession(node.url, runtime);
      try {
        await a.call('increment');
        assert.deepEqual(await a.call('increment'), { count: 2 });
        assert.deepEqual(await b.call('increment'), { count: 1 });
        await a.call('write_file', { name: 'a.txt', content: 'a' });
        assert.deepEqual(await b.call('list_files'), { ok: true, value: [] });
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });
  }
});
