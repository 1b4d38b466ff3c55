/**
 * Interactive shells in a session's sandbox (AgentCore's InvokeAgentRuntimeCommandShell) through a real berth node:
 * the `bedrock-agentcore` SDK's own ShellSession over SigV4, and a plain WebSocket client speaking the channel
 * framing itself: a PTY as the sandbox's user in the agent's own sandbox, resize, exit status, reattaching to a
 * shell with its output kept, another client taking it over, the limit of 10, and a client that never reads.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import type { RuntimeClient } from 'bedrock-agentcore/runtime';
import { ShellChannel } from 'bedrock-agentcore/runtime';
import { BedrockAgentCoreClient, InvokeAgentRuntimeCommand } from '@aws-sdk/client-bedrock-agentcore';
import { BedrockAgentCoreControlClient } from '@aws-sdk/client-bedrock-agentcore-control';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { deploy, SESSION_HEADER, startBerth, type BerthNode } from '../helpers/berth.ts';
import { connectSession } from '../helpers/mcp.ts';
import { RawShell, STDIN } from '../helpers/shell-client.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { AWS_ENV, AWS_KEYS, createCodeRuntime, runtimeClientFor } from '../helpers/aws.ts';

describe('shells', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;
  let arn: string;
  let control: BedrockAgentCoreControlClient;
  let data: BedrockAgentCoreClient;
  let runtimes: RuntimeClient;

  const signed = async (shellId: string, sessionId: string): Promise<{ url: string; headers: Record<string, string> }> =>
    runtimes.connectShellSigV4({ runtimeArn: arn, shellId, sessionId });

  before(async () => {
    node = await startBerth({ env: AWS_ENV });
    const clientConfig = { endpoint: node.url, region: 'us-west-2', credentials: AWS_KEYS, maxAttempts: 1 };
    control = new BedrockAgentCoreControlClient(clientConfig);
    data = new BedrockAgentCoreClient(clientConfig);
    arn = await createCodeRuntime(node, control, await fixtureDir('http-agent'), 'shell_agent', 'server.js', 'HTTP');
    runtimes = runtimeClientFor(node);
  });
  after(async () => {
    control?.destroy();
    data?.destroy();
    await node?.stop();
  });

  test("the SDK's ShellSession: a PTY in the agent's own sandbox, as its user, resized, with its exit status", async () => {
    const sessionId = randomUUID();
    // The agent writes a file in its workspace; the shell, in the same sandbox, reads it.
    const wrote = await data.send(
      new InvokeAgentRuntimeCommand({
        agentRuntimeArn: arn,
        runtimeSessionId: sessionId,
        payload: new TextEncoder().encode(JSON.stringify({ action: 'write_file', name: 'note.txt', content: 'from-the-agent' })),
        contentType: 'application/json',
      }),
    );
    assert.equal(wrote.statusCode, 200);
    const shell = await runtimes.openShell({ runtimeArn: arn, sessionId, keepaliveIntervalMs: 0 });
    assert.equal(shell.sessionId, sessionId);
    let out = '';
    const reading = (async () => {
      for await (const frame of shell) if (frame.channel === ShellChannel.STDOUT) out += frame.text;
    })();
    const until = async (text: string): Promise<void> => {
      for (let i = 0; i < 400 && !out.includes(text); i++) await new Promise((resolve) => setTimeout(resolve, 25));
      assert.ok(out.includes(text), `the shell printed ${JSON.stringify(text)}; it printed ${JSON.stringify(out.slice(-400))}`);
    };
    await shell.send('echo marker-$((6*7)) uid=$(id -u) tty=$(tty) home=$HOME note=$(cat $HOME/note.txt)\n');
    await until('marker-42 uid=1000 tty=/dev/pts/');
    await until('note=from-the-agent');
    assert.match(out, /home=\/workspace/);
    await shell.resize(123, 45);
    await shell.send('stty size\n');
    await until('45 123');
    await shell.send('exit 3\n');
    await reading;
    assert.equal(shell.exitCode, 3);
    await shell.close();
  });

  test('a plain WebSocket client with the channel framing: reattach with the output kept, a takeover, and the limit of 10', async () => {
    const sessionId = randomUUID();
    const opening = await signed('keep', sessionId);
    const first = new RawShell(opening.url, opening.headers);
    await first.opened();
    assert.deepEqual(first.statuses[0]?.metadata, { shellId: 'keep', reconnected: false });
    first.type('(sleep 0.5; echo printed-while-away) &\n');
    first.ws.close();
    await first.closed;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const again = await signed('keep', sessionId);
    const second = new RawShell(again.url, again.headers);
    await second.opened();
    await second.waitFor('printed-while-away');
    assert.equal((second.statuses[0]?.metadata as Record<string, unknown>).reconnected, true);
    // A third client takes the shell: the second is closed with AgentCore's 4000.
    const taking = await signed('keep', sessionId);
    const third = new RawShell(taking.url, taking.headers);
    await third.opened();
    await second.closed;
    assert.equal(second.closedWith?.code, 4000);
    third.type('echo still-the-same-$((1+1))\n');
    await third.waitFor('still-the-same-2');

    const others: RawShell[] = [];
    for (let i = 0; i < 9; i++) {
      const connection = await signed(`shell-${i}`, sessionId);
      const shell = new RawShell(connection.url, connection.headers);
      await shell.opened();
      others.push(shell);
    }
    const eleventh = await signed('one-too-many', sessionId);
    const refused = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(eleventh.url, {
        headers: {
          ...eleventh.headers,
          connection: 'Upgrade',
          upgrade: 'websocket',
          'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
          'sec-websocket-version': '13',
        },
      });
      req.once('response', (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.once('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.once('upgrade', () => reject(new Error('an eleventh shell was opened')));
      req.once('error', reject);
      req.end();
    });
    assert.equal(refused.status, 429, refused.body);
    assert.match(refused.body, /at most 10 shells/);
    // Closing a shell (the CLOSE channel) frees its place.
    others[0]?.ws.send(Buffer.from([0xff]));
    await others[0]?.closed;
    const now = await signed('one-too-many', sessionId);
    const tenth = new RawShell(now.url, now.headers);
    await tenth.opened();
    for (const shell of [third, tenth, ...others.slice(1)]) shell.ws.close();
  });

  test("a stdio MCP server's session, which berth supervises from outside its sandbox, has shells inside it too", async () => {
    await deploy(node, 'stdio-counter', await fixtureDir('counter-server'), { transport: 'stdio' });
    const session = await connectSession(node.url, 'stdio-counter');
    try {
      await session.call('increment');
      const shell = new RawShell(`${node.url.replace('http:', 'ws:')}/runtimes/stdio-counter/ws/shells?shellId=inside`, {
        [SESSION_HEADER]: session.sessionId,
      });
      await shell.opened();
      shell.type('echo inside-$(id -u) $(hostname); exit\n');
      await shell.waitFor('inside-1000 sandbox');
      await shell.closed;
      assert.equal(shell.statuses.at(-1)?.status, 'Success');

      // A client that names no shell (AgentCore's CLI, at first) gets a new one, its id in the 101 and the status;
      // coming back with that id reattaches, even with nothing printed meanwhile.
      const base = `${node.url.replace('http:', 'ws:')}/runtimes/stdio-counter/ws/shells`;
      const unnamed = new RawShell(base, { [SESSION_HEADER]: session.sessionId });
      const header = new Promise<string | undefined>((resolve) =>
        unnamed.ws.once('upgrade', (res) => resolve(res.headers['x-amzn-bedrock-agentcore-shell-id'] as string)),
      );
      await unnamed.opened();
      const minted = await header;
      assert.match(minted ?? '', /^[0-9a-f-]{36}$/);
      assert.deepEqual(unnamed.statuses[0]?.metadata, { shellId: minted, reconnected: false });
      unnamed.ws.close();
      await unnamed.closed;
      const back = new RawShell(`${base}?shellId=${minted}`, { [SESSION_HEADER]: session.sessionId });
      await back.opened();
      assert.deepEqual(back.statuses[0]?.metadata, { shellId: minted, reconnected: true });
      back.ws.close();
    } finally {
      await session.close();
    }
  });

  test('a client that floods and never reads costs its own shell only: the agent and other sessions go on', async () => {
    const sessionId = randomUUID();
    const connection = await signed('flood', sessionId);
    const greedy = new WebSocket(connection.url, { headers: connection.headers });
    await new Promise((resolve) => greedy.once('open', resolve));
    // The client stops reading; the shell prints without end.
    (greedy as unknown as { _socket: { pause(): void } })._socket.pause();
    greedy.send(Buffer.concat([Buffer.from([STDIN]), Buffer.from('yes flood-flood-flood-flood-flood\n')]));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const other = await signed('calm', randomUUID());
    const calm = new RawShell(other.url, other.headers);
    await calm.opened();
    calm.type('echo calm-$((2+3))\n');
    await calm.waitFor('calm-5');
    calm.ws.close();
    const health = await fetch(`${node.url}/healthz`);
    assert.equal(health.status, 200);
    greedy.terminate();

    // A frame over the shell's 64 KB closes that connection with 1009; the shell stays for a client that behaves.
    const big = await signed('big', sessionId);
    const oversized = new RawShell(big.url, big.headers);
    await oversized.opened();
    oversized.ws.send(Buffer.concat([Buffer.from([STDIN]), Buffer.alloc(70 * 1024, 0x61)]));
    await oversized.closed;
    assert.equal(oversized.closedWith?.code, 1009);
    const again = await signed('big', sessionId);
    const behaved = new RawShell(again.url, again.headers);
    await behaved.opened();
    behaved.type('echo still-here\n');
    await behaved.waitFor('still-here');
    behaved.ws.close();
  });
});
