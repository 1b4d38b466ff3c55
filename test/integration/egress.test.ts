/**
 * Network policy per runtime: `none` reaches nothing; `egress` reaches what its allowlist names, through berth's
 * egress proxy, and never loopback, link-local or private addresses (even behind a listed name) unless a listed range
 * covers them, nor berth's own port; each refusal lands in the session's log. Run on every isolating driver here.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { networkInterfaces } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { GvisorDriver } from '../../src/sandbox/drivers/gvisor/driver.ts';
import { deploy, startBerth, type BerthNode } from '../helpers/berth.ts';
import { runCommand } from '../helpers/commands.ts';
import { fixtureDir } from '../helpers/fixtures.ts';

function hostIp(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const address of list ?? []) if (address.family === 'IPv4' && !address.internal) return address.address;
  }
  return undefined;
}

/** A one-line Node program, run in the sandbox, that asks the egress proxy for a tunnel and prints its status line. */
function tunnel(target: string): string {
  const script = `const s=require("net").connect(3128,"127.0.0.1",()=>s.write("CONNECT ${target} HTTP/1.1\\r\\nhost: ${target}\\r\\n\\r\\n"));s.on("data",d=>{console.log(String(d).split("\\r\\n")[0]+" | "+String(d).split("\\r\\n\\r\\n")[1]);s.destroy()});s.on("error",e=>console.log("error "+e.code))`;
  return `node -e '${script}'`;
}

const FETCH = (url: string): string =>
  `node -e 'fetch("${url}").then(r=>r.text()).then(t=>console.log("got "+t.trim()),e=>console.log("failed "+(e.cause?.code??e.message)))'`;

const ip = hostIp();
const DRIVERS = [
  { name: 'bwrap', skip: BwrapDriver.unsupportedReason() ?? false },
  { name: 'gvisor', skip: GvisorDriver.unsupportedReason() ?? false },
] as const;

for (const driver of DRIVERS) {
  describe(`network policy on the ${driver.name} driver`, { skip: driver.skip || (ip ? false : 'this machine has no non-loopback IPv4 address') }, () => {
    let node: BerthNode;
    let outside: Server;
    let outsidePort: number;

    before(async () => {
      outside = createServer((_req, res) => res.end('hello from outside\n'));
      await new Promise<void>((resolve) => outside.listen(0, '0.0.0.0', resolve));
      outsidePort = (outside.address() as { port: number }).port;
      node = await startBerth({ driver: driver.name });
      const dir = await fixtureDir('counter-server');
      await deploy(node, 'open', dir, { transport: 'stdio', network: { mode: 'egress', allow: [`${ip}/32`, 'localhost', '*.example.org'] } });
      await deploy(node, 'closed', dir, { transport: 'stdio' });
      await deploy(node, 'hostnet', dir, { transport: 'stdio', network: { mode: 'host' } });
    });
    after(async () => {
      await node?.stop();
      outside?.close();
    });

    test('egress reaches what the allowlist names, through the proxy, and nothing else', async () => {
      const session = randomUUID();
      const berthPort = new URL(node.url).port;
      const fetched = await runCommand(node.url, 'open', session, FETCH(`http://${ip}:${outsidePort}/`));
      assert.equal(fetched.stdout, 'got hello from outside\n');
      const allowed = await runCommand(node.url, 'open', session, tunnel(`${ip}:${outsidePort}`));
      assert.match(allowed.stdout, /^HTTP\/1.1 200 /);
      for (const [target, why] of [
        [`127.0.0.1:${berthPort}`, /not in a range on this runtime's egress allowlist/],
        [`localhost:${berthPort}`, /loopback address/],
        ['169.254.169.254:80', /not in a range/],
        ['registry.npmjs.org:443', /not on this runtime's egress allowlist/],
        [`${ip}:${berthPort}`, /berth's own/],
      ] as const) {
        const refused = await runCommand(node.url, 'open', session, tunnel(target));
        assert.match(refused.stdout, /^HTTP\/1.1 403 /, `${target}: ${refused.stdout}`);
        assert.match(refused.stdout, why, target);
      }
      const logs = (await node.admin(`/v1/sessions/${session}/logs`).then((r) => r.json())) as { lines: Array<{ line: string }> };
      assert.ok(
        logs.lines.some((line) => /egress to localhost:\d+ refused: localhost resolves to/.test(line.line)),
        'refusals are in the session log',
      );
    });

    test('none reaches nothing, and has no proxy', async () => {
      const session = randomUUID();
      const direct = await runCommand(node.url, 'closed', session, FETCH(`http://${ip}:${outsidePort}/`));
      assert.match(direct.stdout, /^failed /);
      const proxy = await runCommand(node.url, 'closed', session, tunnel(`${ip}:${outsidePort}`));
      assert.match(proxy.stdout, /^error ECONNREFUSED/);
    });

    test("host reaches the host's network directly, without a proxy, and berth warns at each start", async () => {
      const session = randomUUID();
      const direct = await runCommand(node.url, 'hostnet', session, FETCH(`http://127.0.0.1:${outsidePort}/`));
      assert.equal(direct.stdout, 'got hello from outside\n', "the host's loopback is the sandbox's");
      const env = await runCommand(node.url, 'hostnet', session, 'echo "proxy=${HTTP_PROXY:-none}"');
      assert.equal(env.stdout, 'proxy=none\n');
      assert.match(node.logs(), /a sandbox gets the host's network, unfiltered/);
    });

    test('a bad allowlist is refused at deploy, naming the entry', async () => {
      const response = await node.admin(`/v1/runtimes/bad`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ artifactId: 'art_aaaa', command: 'node server.js', network: { mode: 'egress', allow: ['exa mple.com'] } }),
      });
      assert.equal(response.status, 400);
      assert.match(((await response.json()) as { error: { message: string } }).error.message, /"exa mple.com" is neither a host name/);
    });
  });
}
