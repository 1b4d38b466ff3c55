/**
 * AgentCore Runtime's data plane through the official AWS SDK clients, endpoint pointed at a real berth node: the
 * whole lifecycle of an MCP runtime (create, invoke in two sessions, stop a session, update, pin an endpoint,
 * delete), an HTTP agent's streamed answer, a command run in a session, and the errors the SDK must see typed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import {
  AccessDeniedException,
  BedrockAgentCoreClient,
  InvokeAgentRuntimeCommand,
  InvokeAgentRuntimeCommandCommand,
  ResourceNotFoundException,
  RuntimeClientError,
  StopRuntimeSessionCommand,
  ThrottlingException,
  ValidationException,
} from '@aws-sdk/client-bedrock-agentcore';
import {
  BedrockAgentCoreControlClient,
  CreateAgentRuntimeCommand,
  CreateAgentRuntimeEndpointCommand,
  DeleteAgentRuntimeCommand,
  GetAgentRuntimeCommand,
  UpdateAgentRuntimeCommand,
  type CreateAgentRuntimeCommandInput,
} from '@aws-sdk/client-bedrock-agentcore-control';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { packDirectory } from '../../src/cli/pack.ts';
import { BIN, startBerth, type BerthNode } from '../helpers/berth.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { AWS_ENV, AWS_KEYS } from '../helpers/aws.ts';
import { rawCall } from '../helpers/mcp.ts';

const MCP_HEADERS = { contentType: 'application/json', accept: 'application/json, text/event-stream', mcpProtocolVersion: '2026-07-28' };

/** A 2026-07-28 tools/call as InvokeAgentRuntime carries it: the JSON-RPC message is the payload, the MCP headers are members. */
function toolCall(arn: string, sessionId: string, name: string, args: Record<string, unknown> = {}, qualifier?: string): InvokeAgentRuntimeCommand {
  const message = {
    jsonrpc: '2.0',
    id: randomUUID(),
    method: 'tools/call',
    params: { name, arguments: args, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} } },
  };
  return new InvokeAgentRuntimeCommand({
    agentRuntimeArn: arn,
    runtimeSessionId: sessionId,
    payload: new TextEncoder().encode(JSON.stringify(message)),
    mcpMethod: 'tools/call',
    mcpName: name,
    ...MCP_HEADERS,
    ...(qualifier === undefined ? {} : { qualifier }),
  });
}

/** The tool result's JSON text, from a JSON or SSE answer. */
async function toolResult(response: { response?: { transformToString(): Promise<string> }; contentType?: string }): Promise<unknown> {
  const text = (await response.response?.transformToString()) ?? '';
  const json = response.contentType?.includes('text/event-stream')
    ? text
        .split(/\n\n/)
        .map((block) =>
          block
            .split('\n')
            .filter((line) => line.startsWith('data:'))
            .map((line) => line.slice(5).trim())
            .join(''),
        )
        .filter(Boolean)
        .map((data) => JSON.parse(data) as { result?: unknown })
        .find((message) => message.result !== undefined)
    : (JSON.parse(text) as { result?: unknown });
  const content = (json as { result?: { content?: Array<{ text: string }> } })?.result?.content;
  return JSON.parse(content?.[0]?.text ?? 'null');
}

describe('AgentCore data plane through the AWS SDK', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;
  let control: BedrockAgentCoreControlClient;
  let data: BedrockAgentCoreClient;
  let counterArtifact: string;
  let agentArtifact: string;
  const mcpRuntime = (name: string, env: Record<string, string> = {}): CreateAgentRuntimeCommandInput => ({
    agentRuntimeName: name,
    agentRuntimeArtifact: {
      codeConfiguration: { code: { s3: { bucket: 'berth', prefix: counterArtifact } }, runtime: 'NODE_22', entryPoint: ['server.js', 'http'] },
    },
    roleArn: 'arn:aws:iam::123456789012:role/AgentRole',
    protocolConfiguration: { serverProtocol: 'MCP' },
    environmentVariables: env,
  });

  before(async () => {
    node = await startBerth({ env: { ...AWS_ENV, BERTH_MAX_SESSIONS: '6' } });
    const clientConfig = { endpoint: node.url, region: 'us-west-2', credentials: AWS_KEYS, maxAttempts: 1 };
    control = new BedrockAgentCoreControlClient(clientConfig);
    data = new BedrockAgentCoreClient(clientConfig);
    counterArtifact = (await node.api.uploadArtifact(packDirectory(await fixtureDir('counter-server')))).artifactId;
    agentArtifact = (await node.api.uploadArtifact(packDirectory(await fixtureDir('http-agent')))).artifactId;
  });
  after(async () => {
    control?.destroy();
    data?.destroy();
    await node?.stop();
  });

  test('an MCP runtime from create to delete: sessions keep their own state, stop, update, endpoint pinning', async () => {
    const created = await control.send(new CreateAgentRuntimeCommand(mcpRuntime('counter_mcp', { GREETING: 'v1' })));
    const arn = created.agentRuntimeArn as string;
    assert.equal((await control.send(new GetAgentRuntimeCommand({ agentRuntimeId: created.agentRuntimeId }))).status, 'READY');
    const a = randomUUID();
    const b = randomUUID();
    assert.deepEqual(await toolResult(await data.send(toolCall(arn, a, 'increment'))), { count: 1 });
    assert.deepEqual(await toolResult(await data.send(toolCall(arn, a, 'increment'))), { count: 2 });
    const inB = await data.send(toolCall(arn, b, 'increment'));
    assert.equal(inB.runtimeSessionId, b);
    assert.equal(inB.statusCode, 200);
    assert.deepEqual(await toolResult(inB), { count: 1 }, 'session b has its own sandbox');
    // Made without an authorizerConfiguration, the runtime takes only SigV4, as on AgentCore: berth's own routes
    // do not open it to an unsigned caller, even one who knows a session id.
    const unsigned = await rawCall(node.url, 'counter_mcp', 'tools/call', 'increment', {}, { sessionId: a });
    assert.equal(unsigned.status, 401);
    assert.match(unsigned.response.error?.message ?? '', /takes only requests signed with berth's AWS keys/);

    const stopped = await data.send(new StopRuntimeSessionCommand({ agentRuntimeArn: arn, runtimeSessionId: a }));
    assert.equal(stopped.runtimeSessionId, a);
    assert.deepEqual(await toolResult(await data.send(toolCall(arn, a, 'increment'))), { count: 1 }, 'a stopped session starts fresh');
    assert.deepEqual(await toolResult(await data.send(toolCall(arn, b, 'increment'))), { count: 2 }, 'and the other kept its state');

    // The runtime id works as well as the ARN, with the account beside it.
    const byId = await data.send(
      new InvokeAgentRuntimeCommand({ ...toolCall(arn, b, 'get_count').input, agentRuntimeArn: created.agentRuntimeId, accountId: '123456789012' }),
    );
    assert.deepEqual(await toolResult(byId), { count: 2 });

    await control.send(new CreateAgentRuntimeEndpointCommand({ agentRuntimeId: created.agentRuntimeId, name: 'stable', agentRuntimeVersion: '1' }));
    const { agentRuntimeArtifact, roleArn, protocolConfiguration } = mcpRuntime('x');
    const updated = await control.send(
      new UpdateAgentRuntimeCommand({
        agentRuntimeId: created.agentRuntimeId,
        agentRuntimeArtifact,
        roleArn,
        protocolConfiguration,
        environmentVariables: { GREETING: 'v2' },
      }),
    );
    assert.equal(updated.agentRuntimeVersion, '2');
    const greeting = async (qualifier?: string): Promise<unknown> =>
      ((await toolResult(await data.send(toolCall(arn, randomUUID(), 'whoami', {}, qualifier)))) as { env: Record<string, string> }).env.GREETING;
    assert.equal(await greeting(), 'v2', 'DEFAULT follows the latest version');
    assert.equal(await greeting('DEFAULT'), 'v2');
    assert.equal(await greeting('stable'), 'v1', 'a named endpoint stays pinned');

    await control.send(new DeleteAgentRuntimeCommand({ agentRuntimeId: created.agentRuntimeId }));
    await assert.rejects(data.send(toolCall(arn, b, 'increment')), ResourceNotFoundException);
  });

  test('an HTTP agent: its answer streams to the SDK as the agent sends it', async () => {
    const created = await control.send(
      new CreateAgentRuntimeCommand({
        agentRuntimeName: 'streaming_agent',
        agentRuntimeArtifact: {
          codeConfiguration: { code: { s3: { bucket: 'berth', prefix: agentArtifact } }, runtime: 'NODE_22', entryPoint: ['server.js'] },
        },
        roleArn: 'arn:aws:iam::123456789012:role/AgentRole',
        protocolConfiguration: { serverProtocol: 'HTTP' },
      }),
    );
    const arn = created.agentRuntimeArn as string;
    const session = randomUUID();
    const invoke = (payload: unknown) =>
      data.send(
        new InvokeAgentRuntimeCommand({
          agentRuntimeArn: arn,
          runtimeSessionId: session,
          contentType: 'application/json',
          accept: 'text/event-stream',
          payload: new TextEncoder().encode(JSON.stringify(payload)),
        }),
      );
    const answer = await invoke({ action: 'stream', events: 3, gate: 'g1' });
    assert.equal(answer.contentType, 'text/event-stream');
    assert.equal(answer.runtimeSessionId, session);
    const reader = (answer.response as unknown as ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>)[Symbol.asyncIterator]
      ? (answer.response as unknown as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]()
      : undefined;
    assert.ok(reader, 'the answer is a stream');
    const first = await reader.next();
    assert.match(Buffer.from(first.value as Uint8Array).toString(), /data: \{"i":1\}/, 'the first event arrived while the agent still held the rest');
    // The agent sends the rest only once the gate opens, which another invocation of the same session does.
    const opened = await invoke({ action: 'open', gate: 'g1' });
    await opened.response?.transformToString();
    let rest = '';
    for (let next = await reader.next(); !next.done; next = await reader.next()) rest += Buffer.from(next.value).toString();
    assert.match(rest, /"i":3/);
    const count = await invoke({ action: 'increment' });
    assert.deepEqual(JSON.parse((await count.response?.transformToString()) ?? ''), { count: 1 });
  });

  test("InvokeAgentRuntimeCommand runs in the session's sandbox and streams stdout, stderr and the exit code", async () => {
    const created = await control.send(new CreateAgentRuntimeCommand(mcpRuntime('command_mcp', { SECRET_WORD: 'swordfish' })));
    const arn = created.agentRuntimeArn as string;
    const session = randomUUID();
    await data.send(toolCall(arn, session, 'write_file', { name: 'note.txt', content: 'from the server' }));
    const run = await data.send(
      new InvokeAgentRuntimeCommandCommand({
        agentRuntimeArn: arn,
        runtimeSessionId: session,
        body: { command: 'cat "$HOME/note.txt"; echo; echo "$SECRET_WORD" >&2; exit 3', timeout: 30 },
      }),
    );
    assert.equal(run.runtimeSessionId, session);
    const events: unknown[] = [];
    for await (const event of run.stream ?? []) events.push(event.chunk);
    assert.deepEqual(events[0], { contentStart: {} });
    const stdout = events.map((e) => (e as { contentDelta?: { stdout?: string } }).contentDelta?.stdout ?? '').join('');
    const stderr = events.map((e) => (e as { contentDelta?: { stderr?: string } }).contentDelta?.stderr ?? '').join('');
    assert.equal(stdout, 'from the server\n', "the command sees the session server's workspace");
    assert.equal(stderr, 'swordfish\n', "and the runtime's environment");
    assert.deepEqual(events.at(-1), { contentStop: { exitCode: 3, status: 'COMPLETED' } });
  });

  test("the README's walkthrough: berth push, then the SDK with its endpoints from AWS_ENDPOINT_URL_BEDROCK_AGENTCORE[_CONTROL]", async () => {
    const run = (args: string[], env: Record<string, string>): Promise<string> =>
      new Promise((resolve, reject) =>
        execFile(process.execPath, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env } }, (error, stdout, stderr) =>
          error ? reject(new Error(`${args.join(' ')} failed: ${stderr}`)) : resolve(stdout),
        ),
      );
    const artifact = (await run([BIN, 'push', await fixtureDir('counter-server'), '--url', node.url], { BERTH_HOME: node.home })).trim();
    assert.match(artifact, /^art_[a-z2-7]+$/);
    const out = await run([fileURLToPath(new URL('../../examples/agentcore-sdk.ts', import.meta.url)), artifact, 'increment', 'server.js', 'http'], {
      AWS_ENDPOINT_URL_BEDROCK_AGENTCORE: node.url,
      AWS_ENDPOINT_URL_BEDROCK_AGENTCORE_CONTROL: node.url,
      AWS_ACCESS_KEY_ID: AWS_KEYS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: AWS_KEYS.secretAccessKey,
      AWS_REGION: 'eu-central-1',
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    });
    const lines = out.trim().split('\n');
    assert.match(lines[0] ?? '', /^created example_[0-9a-f]{8}-[A-Za-z0-9]{10} \(CREATING\)$/);
    assert.deepEqual(
      lines.slice(1).map((line) => line.replace(/^session [0-9a-f]{8}/, 'session')),
      ['READY', 'session: {"count":1}', 'session: {"count":2}', 'session: {"count":1}', 'deleted'],
    );
  });

  test('errors arrive typed: not found, validation, access denied, runtime client error, throttling', async () => {
    const created = await control.send(new CreateAgentRuntimeCommand(mcpRuntime('errors_mcp')));
    const arn = created.agentRuntimeArn as string;
    await assert.rejects(data.send(toolCall(arn.replace(/runtime\/.*/, 'runtime/nothing-AAAAAAAAAA'), randomUUID(), 'increment')), ResourceNotFoundException);
    await assert.rejects(data.send(toolCall(arn, 'too-short', 'increment')), (error) => error instanceof ValidationException && /33/.test(error.message));
    const wrongKey = new BedrockAgentCoreClient({
      endpoint: node.url,
      region: 'us-west-2',
      credentials: { ...AWS_KEYS, secretAccessKey: 'not-the-secret' },
      maxAttempts: 1,
    });
    await assert.rejects(wrongKey.send(toolCall(arn, randomUUID(), 'increment')), AccessDeniedException);
    wrongKey.destroy();
    await assert.rejects(
      data.send(toolCall(arn, randomUUID(), 'crash', { code: 3 })),
      (error) => error instanceof RuntimeClientError && /exit code 3/.test(error.message),
    );
    await assert.rejects(
      data.send(new StopRuntimeSessionCommand({ agentRuntimeArn: arn, runtimeSessionId: randomUUID() })),
      (error) => error instanceof ResourceNotFoundException && /no live session/.test(error.message),
    );
    // The node holds at most 6 sessions: fill it, and the next new session is throttled.
    const live = (await node.api.sessions()).length;
    for (let i = live; i < 6; i++) await data.send(toolCall(arn, randomUUID(), 'get_count'));
    await assert.rejects(
      data.send(toolCall(arn, randomUUID(), 'get_count')),
      (error) => error instanceof ThrottlingException && /maximum of 6 live sessions/.test(error.message),
    );
  });
});
