/**
 * A2A and AG-UI agents through a real berth node on the bwrap driver, reached by the protocols' own clients from npm:
 * @a2a-js/sdk's client reads the agent card at berth (its interface URL rewritten to berth's invocation route) and
 * sends messages and streams through `POST /runtimes/{name}/invocations`; the AWS SDK creates an A2A runtime through
 * AgentCore's control API, reads its card (GetAgentCard) and invokes it (InvokeAgentRuntime); @ag-ui/client's
 * HttpAgent runs an AG-UI agent over SSE, and a `ws` WebSocket runs it over `/ws` in the same session. Each session
 * keeps its own state; hostile input costs nothing else.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { type AgentCard, type Message, Role, type SendMessageRequest } from '@a2a-js/sdk';
import { ClientFactory, ClientFactoryOptions, createAuthenticatingFetchWithRetry, DefaultAgentCardResolver, JsonRpcTransportFactory } from '@a2a-js/sdk/client';
import { HttpAgent, type BaseEvent } from '@ag-ui/client';
import { BedrockAgentCoreClient, GetAgentCardCommand, InvokeAgentRuntimeCommand } from '@aws-sdk/client-bedrock-agentcore';
import { BedrockAgentCoreControlClient } from '@aws-sdk/client-bedrock-agentcore-control';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { deploy, SESSION_HEADER, startBerth, type BerthNode } from '../helpers/berth.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { AWS_ENV, AWS_KEYS, createCodeRuntime } from '../helpers/aws.ts';

/** A2A's version header, which the SDK's client sends and its server requires (absent, it means 0.3: refused). */
const A2A_VERSION = { 'A2A-Version': '1.0' };
const VERSION_NOT_SUPPORTED = -32009;
const INVALID_PARAMS = -32602;

/** A user message as the SDK's proto-generated types want it (every field present). */
function say(text: string): SendMessageRequest {
  const message: Message = {
    messageId: randomUUID(),
    contextId: '',
    taskId: '',
    role: Role.ROLE_USER,
    parts: [{ content: { $case: 'text', value: text }, metadata: undefined, filename: '', mediaType: 'text/plain' }],
    metadata: undefined,
    extensions: [],
    referenceTaskIds: [],
  };
  return { tenant: '', message, configuration: undefined, metadata: undefined };
}

function textOfParts(parts: readonly { content?: { $case: string; value: unknown } }[] | undefined): string {
  return (parts ?? []).map((part) => (part.content?.$case === 'text' ? String(part.content.value) : '')).join('');
}

/** A `SendMessage` JSON-RPC request as it goes on the wire (A2A 1.0's JSON form of the SDK's types). */
function sendMessageRpc(text: string, id: string | number = randomUUID()): Record<string, unknown> {
  return {
    jsonrpc: '2.0',
    id,
    method: 'SendMessage',
    params: { message: { messageId: randomUUID(), role: 'ROLE_USER', parts: [{ text, mediaType: 'text/plain' }] } },
  };
}

/** The text of a JSON-RPC `SendMessage` answer's message (A2A 1.0 JSON: `result.message.parts[].text`). */
function rpcText(answer: unknown): string {
  const result = (answer as { result?: { message?: { parts?: { text?: string }[] } } }).result;
  return (result?.message?.parts ?? []).map((part) => part.text ?? '').join('');
}

/** An AG-UI RunAgentInput with one user message. */
function runInput(text: string): Record<string, unknown> {
  return { threadId: randomUUID(), runId: randomUUID(), messages: [{ id: randomUUID(), role: 'user', content: text }], tools: [], context: [], state: {} };
}

function deltas(events: readonly BaseEvent[]): string {
  return events.map((event) => (event.type === 'TEXT_MESSAGE_CONTENT' ? String((event as BaseEvent & { delta: string }).delta) : '')).join('');
}

const AGUI_EVENTS = [
  'RUN_STARTED',
  'TEXT_MESSAGE_START',
  'TEXT_MESSAGE_CONTENT',
  'TEXT_MESSAGE_CONTENT',
  'TEXT_MESSAGE_CONTENT',
  'TEXT_MESSAGE_END',
  'RUN_FINISHED',
];

describe('A2A and AG-UI agents', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;
  let control: BedrockAgentCoreControlClient;
  let data: BedrockAgentCoreClient;
  /** The A2A runtime made through AgentCore's control API. */
  let arn: string;

  /** An @a2a-js/sdk client of the runtime `a2a` whose every request (card and JSON-RPC) names `session`. */
  const a2aClient = async (session: string) => {
    const fetchInSession = createAuthenticatingFetchWithRetry(fetch, {
      headers: async () => ({ [SESSION_HEADER]: session }),
      shouldRetryWithHeaders: async () => undefined,
    });
    const factory = new ClientFactory(
      ClientFactoryOptions.createFrom(ClientFactoryOptions.default, {
        transports: [new JsonRpcTransportFactory({ fetchImpl: fetchInSession })],
        cardResolver: new DefaultAgentCardResolver({ fetchImpl: fetchInSession }),
      }),
    );
    return factory.createFromUrl(`${node.url}/runtimes/a2a/invocations/.well-known/agent-card.json`, '');
  };

  /** The text of `client`'s SendMessage answer, which must be a Message. */
  const reply = async (client: Awaited<ReturnType<typeof a2aClient>>, text: string): Promise<string> => {
    const answer = await client.sendMessage(say(text));
    assert.ok('messageId' in answer, 'SendMessage answers a Message');
    return textOfParts(answer.parts);
  };

  /** The events of one @ag-ui/client HttpAgent run of the runtime `agui` in `session`. */
  const aguiRun = async (session: string, text: string): Promise<BaseEvent[]> => {
    const agent = new HttpAgent({ url: `${node.url}/runtimes/agui/invocations`, headers: { [SESSION_HEADER]: session } });
    agent.addMessage({ id: randomUUID(), role: 'user', content: text });
    const events: BaseEvent[] = [];
    await agent.runAgent({}, { onEvent: ({ event }) => void events.push(event) });
    return events;
  };

  /** A JSON-RPC request to the A2A runtime made through AgentCore's API, by InvokeAgentRuntime; its answer, parsed. */
  const invokeA2a = async (payload: unknown, session: string, headers: Record<string, string> = {}): Promise<unknown> => {
    const command = new InvokeAgentRuntimeCommand({
      agentRuntimeArn: arn,
      runtimeSessionId: session,
      contentType: 'application/json',
      accept: 'application/json, text/event-stream',
      payload: new TextEncoder().encode(JSON.stringify(payload)),
    });
    // The command has no member for other headers: added before signing, they are signed as any other.
    command.middlewareStack.add(
      (next) => async (args) => {
        Object.assign((args.request as { headers: Record<string, string> }).headers, headers);
        return next(args);
      },
      { step: 'build' },
    );
    const answer = await data.send(command);
    assert.equal(answer.runtimeSessionId, session);
    return JSON.parse((await answer.response?.transformToString()) ?? '');
  };

  const post = (runtime: string, body: string | Uint8Array, session: string, headers: Record<string, string> = {}) =>
    fetch(`${node.url}/runtimes/${runtime}/invocations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', [SESSION_HEADER]: session, ...headers },
      body,
    });

  before(async () => {
    node = await startBerth({ env: AWS_ENV });
    const clientConfig = { endpoint: node.url, region: 'us-west-2', credentials: AWS_KEYS, maxAttempts: 1 };
    control = new BedrockAgentCoreControlClient(clientConfig);
    data = new BedrockAgentCoreClient(clientConfig);
    await deploy(node, 'a2a', await fixtureDir('a2a-agent'), { protocol: 'a2a', transport: 'http', port: 9000, command: 'node server.js' });
    await deploy(node, 'agui', await fixtureDir('agui-agent'), { protocol: 'agui', transport: 'http', port: 8080, command: 'node server.js' });
    arn = await createCodeRuntime(node, control, await fixtureDir('a2a-agent'), 'a2a_agent', 'server.js', 'A2A');
  });
  after(async () => {
    control?.destroy();
    data?.destroy();
    await node?.stop();
  });

  test("berth's agent card route serves the session's card with its interface URL pointing at berth", async () => {
    const session = randomUUID();
    const response = await fetch(`${node.url}/runtimes/a2a/invocations/.well-known/agent-card.json`, { headers: { [SESSION_HEADER]: session } });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get(SESSION_HEADER), session);
    const card = (await response.json()) as AgentCard;
    assert.equal(card.name, 'berth a2a fixture');
    assert.deepEqual(
      card.supportedInterfaces.map((entry) => [entry.url, entry.protocolBinding]),
      [[`${node.url}/runtimes/a2a/invocations`, 'JSONRPC']],
    );
    const client = await a2aClient(session);
    assert.equal((await client.getAgentCard()).supportedInterfaces[0]?.url, `${node.url}/runtimes/a2a/invocations`);

    // The card is the version's: asked again naming no live session, it comes from what berth kept, and no sandbox starts.
    const before = (await node.api.sessions('a2a')).length;
    const kept = await fetch(`${node.url}/runtimes/a2a/invocations/.well-known/agent-card.json`);
    assert.equal(kept.status, 200);
    assert.equal(kept.headers.get(SESSION_HEADER), null);
    assert.deepEqual(((await kept.json()) as AgentCard).supportedInterfaces[0]?.url, `${node.url}/runtimes/a2a/invocations`);
    const fresh = await fetch(`${node.url}/runtimes/a2a/invocations/.well-known/agent-card.json`, { headers: { [SESSION_HEADER]: randomUUID() } });
    assert.equal(fresh.status, 200);
    assert.equal((await node.api.sessions('a2a')).length, before, 'no session was started for a card');
  });

  test("@a2a-js/sdk's client: messages count per session, and a stream arrives event by event", async () => {
    const a = randomUUID();
    const b = randomUUID();
    const clientA = await a2aClient(a);
    const clientB = await a2aClient(b);
    assert.equal(await reply(clientA, 'one'), 'count=1; you said: one');
    assert.equal(await reply(clientA, 'two'), 'count=2; you said: two');
    assert.equal(await reply(clientB, 'elsewhere'), 'count=1; you said: elsewhere', 'session B has its own agent');

    const kinds: string[] = [];
    const chunks: string[] = [];
    let finalText = '';
    for await (const event of clientA.sendMessageStream(say('streamed'))) {
      const payload = event.payload;
      kinds.push(payload?.$case ?? 'none');
      if (payload?.$case === 'artifactUpdate') chunks.push(textOfParts(payload.value.artifact?.parts));
      if (payload?.$case === 'statusUpdate' && payload.value.status?.message) finalText = textOfParts(payload.value.status.message.parts);
    }
    // Each event is its own iteration, in the order the agent sent them.
    assert.ok(kinds.length >= 5, kinds.join());
    assert.deepEqual(kinds, ['task', 'statusUpdate', 'artifactUpdate', 'artifactUpdate', 'artifactUpdate', 'statusUpdate']);
    assert.deepEqual(chunks, ['count=3; ', 'you said: ', 'streamed']);
    assert.equal(finalText, 'count=3; you said: streamed');
  });

  test('AgentCore API: an A2A runtime made with CreateAgentRuntime serves its card by GetAgentCard and its JSON-RPC by InvokeAgentRuntime', async () => {
    const session = randomUUID();
    const got = await data.send(new GetAgentCardCommand({ agentRuntimeArn: arn, runtimeSessionId: session }));
    assert.equal(got.runtimeSessionId, session);
    const card = got.agentCard as unknown as AgentCard;
    assert.equal(card.name, 'berth a2a fixture');
    assert.deepEqual(
      card.supportedInterfaces.map((entry) => entry.url),
      [`${node.url}/runtimes/${encodeURIComponent(arn)}/invocations`],
    );
    // InvokeAgentRuntime has no member for A2A-Version: a JSON-RPC request reaches the session's agent, which (the
    // official SDK's server) takes a caller naming no version for A2A 0.3 and answers the 1.0 method with -32009.
    const answer = (await invokeA2a(sendMessageRpc('via aws', 7), session)) as { jsonrpc: string; id: unknown; error?: { code: number } };
    assert.equal(answer.jsonrpc, '2.0');
    assert.equal(answer.id, 7);
    assert.equal(answer.error?.code, VERSION_NOT_SUPPORTED);
  });

  test('AgentCore API: InvokeAgentRuntime with A2A-Version added to its request reaches the A2A agent', async () => {
    const session = randomUUID();
    const first = await invokeA2a(sendMessageRpc('one'), session, A2A_VERSION);
    assert.equal(rpcText(first), 'count=1; you said: one', JSON.stringify(first));
    assert.equal(rpcText(await invokeA2a(sendMessageRpc('two'), session, A2A_VERSION)), 'count=2; you said: two');
  });

  test("@ag-ui/client's HttpAgent runs over SSE per session; a WebSocket to /ws continues the session's runs", async () => {
    const a = randomUUID();
    const b = randomUUID();
    const first = await aguiRun(a, 'hello');
    assert.deepEqual(
      first.map((event) => event.type),
      AGUI_EVENTS,
    );
    assert.equal(deltas(first), 'run 1: hello');
    assert.equal(deltas(await aguiRun(a, 'again')), 'run 2: again');
    assert.equal(deltas(await aguiRun(b, 'elsewhere')), 'run 1: elsewhere', 'session B has its own agent');

    const ws = new WebSocket(`${node.url.replace(/^http/, 'ws')}/runtimes/agui/ws`, { headers: { [SESSION_HEADER]: a } });
    await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
    const frames: BaseEvent[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.on('message', (message, binary) => {
        assert.equal(binary, false);
        const event = JSON.parse(message.toString()) as BaseEvent;
        frames.push(event);
        if (event.type === 'RUN_FINISHED' || event.type === 'RUN_ERROR') resolve();
      });
      ws.once('close', (code) => reject(new Error(`closed ${code}`)));
      ws.send(JSON.stringify(runInput('over ws')));
    });
    ws.close();
    assert.deepEqual(
      frames.map((event) => event.type),
      AGUI_EVENTS,
    );
    assert.equal(deltas(frames), 'run 3: over ws', "the WebSocket reaches the same session's agent as the HTTP runs");
  });

  test("hostile A2A: a body that is not JSON gets the agent's JSON-RPC parse error, and the session's next call works", async () => {
    const session = randomUUID();
    const garbage = await post('a2a', '{"jsonrpc": "2.0", "method": ', session, A2A_VERSION);
    assert.equal(garbage.status, 200);
    assert.equal(garbage.headers.get(SESSION_HEADER), session);
    const parsed = (await garbage.json()) as { id: unknown; error?: { code: number; message: string } };
    assert.equal(parsed.id, null);
    // The SDK's JSON-RPC handler answers a body it cannot parse with -32602 (invalid params), not JSON-RPC's -32700.
    assert.equal(parsed.error?.code, INVALID_PARAMS, JSON.stringify(parsed));
    assert.match(parsed.error?.message ?? '', /JSON/);
    assert.equal(await reply(await a2aClient(session), 'still here'), 'count=1; you said: still here');
  });

  test('hostile: the card of a non-A2A runtime is a 404 that says why; a 10 MB AG-UI body leaves the node healthy', async () => {
    const noCard = await fetch(`${node.url}/runtimes/agui/invocations/.well-known/agent-card.json`, { headers: { [SESSION_HEADER]: randomUUID() } });
    assert.equal(noCard.status, 404);
    const error = ((await noCard.json()) as { error: { code: string; message: string } }).error;
    assert.equal(error.code, 'not_found');
    assert.match(error.message, /"agui" speaks agui: only A2A agents have an agent card/);

    const session = randomUUID();
    const big = await post('agui', Buffer.alloc(10 * 1024 * 1024, 'x'), session);
    assert.equal(big.status, 413);
    assert.equal(((await big.json()) as { error: { code: string } }).error.code, 'body_too_large');
    assert.equal((await fetch(`${node.url}/healthz`)).status, 200);
    // The same session still runs (a first run: the refused body never reached an agent).
    assert.equal(deltas(await aguiRun(session, 'after')), 'run 1: after');
  });
});
