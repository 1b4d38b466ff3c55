/**
 * The stateful bridge: 2026-07-28 clients calling a server written for 2025-11-25 (legacy-counter, SDK 1.x), over
 * stdio and over Streamable HTTP inside the sandbox. Server questions become input_required rounds; progress and
 * logs stream on the call's answer; cancellation, listen streams, discovery, capability refusals and calls whose
 * client never answers behave as DESIGN.md's "MCP across revisions" says.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { deploy, SESSION_HEADER, startBerth, type BerthNode } from '../helpers/berth.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { rawCall, toolText } from '../helpers/mcp.ts';
import { waitFor } from '../helpers/wait.ts';

const ELICIT = { elicitation: { form: {} } };

async function modernClient(node: BerthNode, runtime: string, sessionId: string, capabilities: Record<string, unknown>): Promise<Client> {
  const client = new Client({ name: 'bridge-test', version: '1.0.0' }, { capabilities, versionNegotiation: { mode: { pin: '2026-07-28' } } });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${node.url}/runtimes/${runtime}/mcp`), { requestInit: { headers: { [SESSION_HEADER]: sessionId } } }),
  );
  return client;
}

function parsed(result: { content?: unknown }): unknown {
  return JSON.parse((result.content as Array<{ text: string }>)[0]?.text ?? 'null');
}

describe('modern clients, legacy servers', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;
  before(async () => {
    node = await startBerth({ env: { BERTH_INPUT_TIMEOUT_MS: '1500' } });
    const dir = await fixtureDir('legacy-counter-server');
    await deploy(node, 'legacy-stdio', dir, { transport: 'stdio' });
    await deploy(node, 'legacy-http', dir, { transport: 'http' });
    await deploy(node, 'legacy-idle', dir, { transport: 'stdio', idleTimeoutSeconds: 1 });
  });
  after(async () => {
    await node?.stop();
  });

  for (const runtime of ['legacy-stdio', 'legacy-http']) {
    test(`${runtime}: server/discover comes from the server's initialize result, with cache hints`, async () => {
      const answer = await rawCall(node.url, runtime, 'server/discover', undefined, undefined, { sessionId: randomUUID() });
      assert.equal(answer.status, 200);
      const result = answer.response.result ?? {};
      assert.deepEqual(result.supportedVersions, ['2026-07-28']);
      assert.equal(result.resultType, 'complete');
      assert.ok((result.capabilities as Record<string, unknown>).tools);
      assert.deepEqual((result._meta as Record<string, unknown>)['io.modelcontextprotocol/serverInfo'], { name: 'legacy-counter', version: '1.0.0' });
      assert.equal(typeof result.ttlMs, 'number');
      assert.ok(['public', 'private'].includes(result.cacheScope as string));
      const tools = await rawCall(node.url, runtime, 'tools/list', undefined, undefined, { sessionId: randomUUID() });
      assert.equal(tools.response.result?.resultType, 'complete');
      assert.equal(typeof tools.response.result?.ttlMs, 'number');
    });

    test(`${runtime}: elicitation, sampling and roots reach the client; state is the server's own`, async () => {
      const client = await modernClient(node, runtime, randomUUID(), { ...ELICIT, sampling: {}, roots: {} });
      try {
        client.setRequestHandler('elicitation/create', async () => ({ action: 'accept', content: { name: 'Ada' } }));
        client.setRequestHandler('sampling/createMessage', async () => ({
          role: 'assistant',
          content: { type: 'text', text: 'hi!' },
          model: 'test',
          stopReason: 'endTurn',
        }));
        client.setRequestHandler('roots/list', async () => ({ roots: [{ uri: 'file:///project', name: 'project' }] }));
        assert.deepEqual(parsed(await client.callTool({ name: 'ask_name', arguments: {} })), { action: 'accept', name: 'Ada' });
        assert.deepEqual(parsed(await client.callTool({ name: 'ask_sample', arguments: {} })), { sampled: 'hi!' });
        assert.deepEqual(parsed(await client.callTool({ name: 'ask_roots', arguments: {} })), { roots: ['file:///project'] });
        assert.deepEqual(parsed(await client.callTool({ name: 'increment', arguments: {} })), { count: 1 });
        assert.deepEqual(parsed(await client.callTool({ name: 'increment', arguments: {} })), { count: 2 });
      } finally {
        await client.close();
      }
    });

    test(`${runtime}: several rounds in one call, each with its own sealed state, good for one retry`, async () => {
      const sessionId = randomUUID();
      const first = await rawCall(node.url, runtime, 'tools/call', 'ask_twice', {}, { sessionId, capabilities: ELICIT });
      assert.equal(first.response.result?.resultType, 'input_required');
      const [key1] = Object.keys(first.response.result?.inputRequests as object);
      const second = await rawCall(
        node.url,
        runtime,
        'tools/call',
        'ask_twice',
        {},
        {
          capabilities: ELICIT,
          params: { inputResponses: { [key1 as string]: { action: 'accept', content: { a: 'one' } } }, requestState: first.response.result?.requestState },
        },
      );
      assert.equal(second.response.result?.resultType, 'input_required', JSON.stringify(second.response));
      assert.notEqual(second.response.result?.requestState, first.response.result?.requestState);
      assert.equal(second.headers.get(SESSION_HEADER), sessionId, 'the retry found its session by its requestState alone');
      const replayed = await rawCall(
        node.url,
        runtime,
        'tools/call',
        'ask_twice',
        {},
        {
          capabilities: ELICIT,
          params: { inputResponses: { [key1 as string]: { action: 'accept', content: { a: 'again' } } }, requestState: first.response.result?.requestState },
        },
      );
      assert.equal(replayed.status, 400, 'a requestState continues its call once');
      assert.equal(replayed.response.error?.data?.code, 'request_state_expired');
      const [key2] = Object.keys(second.response.result?.inputRequests as object);
      const done = await rawCall(
        node.url,
        runtime,
        'tools/call',
        'ask_twice',
        {},
        {
          capabilities: ELICIT,
          params: { inputResponses: { [key2 as string]: { action: 'accept', content: { b: 'two' } } }, requestState: second.response.result?.requestState },
        },
      );
      assert.deepEqual(toolText(done), { a: 'one', b: 'two' });
    });

    test(`${runtime}: URL-mode elicitation reaches a client that declared it, and -32021 one that declared only forms`, async () => {
      const sessionId = randomUUID();
      const URL_ELICIT = { elicitation: { form: {}, url: {} } };
      const asked = await rawCall(node.url, runtime, 'tools/call', 'ask_url', {}, { sessionId, capabilities: URL_ELICIT });
      assert.equal(asked.response.result?.resultType, 'input_required', JSON.stringify(asked.response));
      const [[key, question]] = Object.entries(asked.response.result?.inputRequests as Record<string, { method: string; params: Record<string, unknown> }>) as [
        [string, { method: string; params: Record<string, unknown> }],
      ];
      assert.equal(question.method, 'elicitation/create');
      assert.equal(question.params.mode, 'url');
      assert.equal(question.params.url, 'https://example.com/sign-in');
      const done = await rawCall(
        node.url,
        runtime,
        'tools/call',
        'ask_url',
        {},
        {
          capabilities: URL_ELICIT,
          params: { inputResponses: { [key]: { action: 'accept' } }, requestState: asked.response.result?.requestState },
        },
      );
      assert.deepEqual(toolText(done), { action: 'accept' });
      const formOnly = await rawCall(node.url, runtime, 'tools/call', 'ask_url', {}, { sessionId: randomUUID(), capabilities: ELICIT });
      assert.equal(formOnly.response.error?.code, -32021);
      assert.deepEqual(formOnly.response.error?.data?.requiredCapabilities, { elicitation: { url: {} } });
    });

    test(`${runtime}: a client without the capability gets -32021 naming it`, async () => {
      const answer = await rawCall(node.url, runtime, 'tools/call', 'ask_sample', {}, { sessionId: randomUUID(), capabilities: ELICIT });
      assert.equal(answer.status, 400);
      assert.equal(answer.response.error?.code, -32021);
      assert.deepEqual(answer.response.error?.data?.requiredCapabilities, { sampling: {} });
    });

    test(`${runtime}: progress and logs stream before the result; logs only for a request that set a level`, async () => {
      const sessionId = randomUUID();
      const quiet = await rawCall(node.url, runtime, 'tools/call', 'slow', { steps: 3 }, { sessionId, meta: { progressToken: 'p-1' } });
      assert.deepEqual(
        quiet.notifications.map((n) => n.method),
        ['notifications/progress', 'notifications/progress', 'notifications/progress'],
      );
      assert.deepEqual(
        quiet.notifications.map((n) => n.params?.progressToken),
        ['p-1', 'p-1', 'p-1'],
      );
      const chatty = await rawCall(
        node.url,
        runtime,
        'tools/call',
        'slow',
        { steps: 2 },
        { sessionId, meta: { progressToken: 7, 'io.modelcontextprotocol/logLevel': 'info' } },
      );
      const methods = chatty.notifications.map((n) => n.method);
      assert.equal(methods.filter((m) => m === 'notifications/message').length, 2, methods.join(','));
      assert.equal(methods.filter((m) => m === 'notifications/progress').length, 2);
      assert.deepEqual(toolText(chatty), { steps: 2 });
    });

    test(`${runtime}: closing the answer stream cancels the call in the legacy server`, async () => {
      const sessionId = randomUUID();
      const client = await modernClient(node, runtime, sessionId, {});
      try {
        const controller = new AbortController();
        const call = client.callTool({ name: 'wait', arguments: { ms: 60_000 } }, { signal: controller.signal });
        await waitFor(
          async () => (await node.api.sessions(runtime)).some((s) => s.id === sessionId && (s as { inFlight?: number }).inFlight === 1),
          'the call to be in flight',
        );
        controller.abort();
        await assert.rejects(call);
        await waitFor(
          async () => (parsed(await client.callTool({ name: 'stats', arguments: {} })) as { cancellations: number }).cancellations === 1,
          'the server to see notifications/cancelled',
        );
      } finally {
        await client.close();
      }
    });

    test(`${runtime}: subscriptions/listen hears the server's list changes and resource updates, subscribing on the client's behalf`, async () => {
      const sessionId = randomUUID();
      const controller = new AbortController();
      const response = await fetch(`${node.url}/runtimes/${runtime}/mcp`, {
        method: 'POST',
        signal: controller.signal,
        headers: {
          'content-type': 'application/json',
          accept: 'text/event-stream',
          'mcp-protocol-version': '2026-07-28',
          'mcp-method': 'subscriptions/listen',
          [SESSION_HEADER]: sessionId,
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 'listen-1',
          method: 'subscriptions/listen',
          params: {
            _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} },
            notifications: { toolsListChanged: true, promptsListChanged: true, resourceSubscriptions: ['counter://value'] },
          },
        }),
      });
      const reader = response.body!.getReader();
      const events: Array<{ method: string; params: Record<string, unknown> }> = [];
      let buffer = '';
      const next = async (): Promise<{ method: string; params: Record<string, unknown> }> => {
        for (;;) {
          const boundary = buffer.indexOf('\n\n');
          if (boundary !== -1) {
            const block = buffer.slice(0, boundary);
            buffer = buffer.slice(boundary + 2);
            const data = block.split('\n').find((line) => line.startsWith('data:'));
            if (data) return JSON.parse(data.slice(5)) as { method: string; params: Record<string, unknown> };
            continue;
          }
          const { value, done } = await reader.read();
          if (done) throw new Error('the listen stream ended');
          buffer += new TextDecoder().decode(value);
        }
      };
      try {
        const ack = await next();
        assert.equal(ack.method, 'notifications/subscriptions/acknowledged');
        assert.deepEqual(ack.params.notifications, { toolsListChanged: true, resourceSubscriptions: ['counter://value'] }, 'only what the server can deliver');
        assert.equal((ack.params._meta as Record<string, unknown>)['io.modelcontextprotocol/subscriptionId'], 'listen-1');
        await waitFor(
          async () =>
            (toolText(await rawCall(node.url, runtime, 'tools/call', 'stats', {}, { sessionId })) as { subscribed: string[] }).subscribed.includes(
              'counter://value',
            ),
          "resources/subscribe on the listener's behalf",
        );
        await rawCall(node.url, runtime, 'tools/call', 'change_tools', {}, { sessionId });
        events.push(await next());
        await rawCall(node.url, runtime, 'tools/call', 'touch', { uri: 'counter://value' }, { sessionId });
        events.push(await next());
        assert.deepEqual(
          events.map((e) => e.method),
          ['notifications/tools/list_changed', 'notifications/resources/updated'],
        );
        assert.equal(events[1]?.params.uri, 'counter://value');
        for (const event of events) assert.equal((event.params._meta as Record<string, unknown>)['io.modelcontextprotocol/subscriptionId'], 'listen-1');
      } finally {
        controller.abort();
      }
      await waitFor(
        async () => (toolText(await rawCall(node.url, runtime, 'tools/call', 'stats', {}, { sessionId })) as { subscribed: string[] }).subscribed.length === 0,
        'the subscription to end with the stream',
      );
    });

    test(`${runtime}: concurrent calls in one session each get their own answers`, async () => {
      const sessionId = randomUUID();
      // A long call runs while a second call asks its client something; the question belongs to the second.
      const long = rawCall(node.url, runtime, 'tools/call', 'wait', { ms: 1500 }, { sessionId });
      await waitFor(
        async () => (await node.api.sessions(runtime)).some((s) => s.id === sessionId && (s as { inFlight?: number }).inFlight === 1),
        'the long call to run',
      );
      const asking = await rawCall(node.url, runtime, 'tools/call', 'ask_name', {}, { sessionId, capabilities: ELICIT });
      assert.equal(asking.response.result?.resultType, 'input_required', JSON.stringify(asking.response));
      const [key] = Object.keys(asking.response.result?.inputRequests as object);
      const answered = await rawCall(
        node.url,
        runtime,
        'tools/call',
        'ask_name',
        {},
        {
          capabilities: ELICIT,
          params: { inputResponses: { [key as string]: { action: 'accept', content: { name: 'Grace' } } }, requestState: asking.response.result?.requestState },
        },
      );
      assert.deepEqual(toolText(answered), { action: 'accept', name: 'Grace' });
      assert.deepEqual(toolText(await long), { waited: 1500, cancelled: false });
    });

    test(`${runtime}: a server that dies mid-call gives a clear error, and the next request a fresh legacy session`, async () => {
      const sessionId = randomUUID();
      assert.deepEqual(toolText(await rawCall(node.url, runtime, 'tools/call', 'increment', {}, { sessionId })), { count: 1 });
      const crashed = await rawCall(node.url, runtime, 'tools/call', 'crash', {}, { sessionId });
      assert.equal(crashed.status, 502);
      assert.equal(crashed.response.error?.data?.code, 'server_crashed');
      assert.match(crashed.response.error?.message ?? '', /exit code 3/);
      await waitFor(async () => !(await node.api.sessions(runtime)).some((s) => s.id === sessionId), 'the dead sandbox to go');
      assert.deepEqual(toolText(await rawCall(node.url, runtime, 'tools/call', 'increment', {}, { sessionId })), { count: 1 }, 'initialized afresh');
    });

    test(`${runtime}: a call whose client never answers is cancelled in bounded time and leaves nothing waiting`, async () => {
      const sessionId = randomUUID();
      const asked = await rawCall(node.url, runtime, 'tools/call', 'ask_name', {}, { sessionId, capabilities: ELICIT });
      assert.equal(asked.response.result?.resultType, 'input_required');
      await waitFor(async () => (await node.api.sessions(runtime)).find((s) => s.id === sessionId)?.waitingForInput === 1, 'the call to wait for its client');
      await waitFor(async () => (await node.api.sessions(runtime)).find((s) => s.id === sessionId)?.waitingForInput === 0, 'berth to give up on the answer');
      const late = await rawCall(
        node.url,
        runtime,
        'tools/call',
        'ask_name',
        {},
        {
          capabilities: ELICIT,
          params: { inputResponses: { x: { action: 'accept', content: { name: 'Late' } } }, requestState: asked.response.result?.requestState },
        },
      );
      assert.equal(late.status, 400);
      assert.equal(late.response.error?.data?.code, 'request_state_expired');
    });
  }

  test('legacy-http: a server that forgets its session gets one new session, however many requests find out at once', async () => {
    const sessionId = randomUUID();
    assert.deepEqual(toolText(await rawCall(node.url, 'legacy-http', 'tools/call', 'increment', {}, { sessionId })), { count: 1 });
    const before = toolText(await rawCall(node.url, 'legacy-http', 'tools/call', 'stats', {}, { sessionId })) as { initializations: number };
    assert.equal((await rawCall(node.url, 'legacy-http', 'tools/call', 'forget_sessions', {}, { sessionId })).status, 200);
    const told = await Promise.all([1, 2, 3, 4, 5].map(() => rawCall(node.url, 'legacy-http', 'tools/call', 'stats', {}, { sessionId })));
    for (const answer of told) {
      if (answer.status === 200) continue;
      assert.equal(answer.status, 503);
      assert.match(answer.response.error?.message ?? '', /forgot its session|being re-established/);
    }
    let after: { count: number; initializations: number } | undefined;
    await waitFor(async () => {
      const answer = await rawCall(node.url, 'legacy-http', 'tools/call', 'stats', {}, { sessionId });
      if (answer.status === 200) after = toolText(answer) as typeof after;
      return after !== undefined;
    }, 'the new legacy session');
    assert.equal(after?.initializations, before.initializations + 1, 'exactly one new session');
    assert.equal(after?.count, 1, 'the server process (and what it keeps outside sessions) is the same');
  });

  test('a call waiting on its client keeps the session from idling out', async () => {
    const sessionId = randomUUID();
    await rawCall(node.url, 'legacy-idle', 'tools/call', 'increment', {}, { sessionId });
    const asked = await rawCall(node.url, 'legacy-idle', 'tools/call', 'ask_name', {}, { sessionId, capabilities: ELICIT });
    const [key] = Object.keys(asked.response.result?.inputRequests as object);
    // Longer than the 1 s idle timeout, shorter than the 1.5 s input timeout.
    await new Promise((resolve) => setTimeout(resolve, 1200));
    assert.ok(
      (await node.api.sessions('legacy-idle')).some((s) => s.id === sessionId),
      'the session is still there',
    );
    const answered = await rawCall(
      node.url,
      'legacy-idle',
      'tools/call',
      'ask_name',
      {},
      {
        capabilities: ELICIT,
        params: { inputResponses: { [key as string]: { action: 'accept', content: { name: 'Kept' } } }, requestState: asked.response.result?.requestState },
      },
    );
    assert.deepEqual(toolText(answered), { action: 'accept', name: 'Kept' });
    assert.deepEqual(toolText(await rawCall(node.url, 'legacy-idle', 'tools/call', 'increment', {}, { sessionId })), { count: 2 });
  });
});
