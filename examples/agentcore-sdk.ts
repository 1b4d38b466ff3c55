/**
 * The AWS SDK driving berth as it drives AgentCore Runtime, nothing changed but the endpoints, which come from the
 * environment as for any AWS service:
 *
 *   AWS_ENDPOINT_URL_BEDROCK_AGENTCORE_CONTROL=http://127.0.0.1:8787 AWS_ENDPOINT_URL_BEDROCK_AGENTCORE=http://127.0.0.1:8787 \
 *   AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… AWS_REGION=us-east-1 \
 *   node examples/agentcore-sdk.ts ARTIFACT_ID TOOL ENTRYPOINT [ARG]
 *
 * It creates an MCP runtime from the artifact `berth push DIR` printed (run as `node ENTRYPOINT [ARG]`, serving MCP
 * on port 8000 at /mcp), waits for it to be READY, calls TOOL twice in one session and once in another, stops both
 * sessions and deletes the runtime, printing each answer.
 */
import { randomUUID } from 'node:crypto';
import { BedrockAgentCoreClient, InvokeAgentRuntimeCommand, StopRuntimeSessionCommand } from '@aws-sdk/client-bedrock-agentcore';
import { BedrockAgentCoreControlClient, CreateAgentRuntimeCommand, DeleteAgentRuntimeCommand, GetAgentRuntimeCommand } from '@aws-sdk/client-bedrock-agentcore-control';

const [artifactId, tool, ...entryPoint] = process.argv.slice(2);
if (!artifactId || !tool || entryPoint.length === 0) {
  process.stderr.write('usage: node examples/agentcore-sdk.ts ARTIFACT_ID TOOL ENTRYPOINT [ARG]\n');
  process.exit(2);
}

const control = new BedrockAgentCoreControlClient({});
const data = new BedrockAgentCoreClient({});

const created = await control.send(
  new CreateAgentRuntimeCommand({
    agentRuntimeName: `example_${randomUUID().slice(0, 8)}`,
    agentRuntimeArtifact: { codeConfiguration: { code: { s3: { bucket: 'berth', prefix: artifactId } }, runtime: 'NODE_22', entryPoint } },
    roleArn: 'arn:aws:iam::000000000000:role/agent',
    networkConfiguration: { networkMode: 'PUBLIC' },
    protocolConfiguration: { serverProtocol: 'MCP' },
    lifecycleConfiguration: { idleRuntimeSessionTimeout: 300 },
  }),
);
const arn = created.agentRuntimeArn as string;
process.stdout.write(`created ${created.agentRuntimeId} (${created.status})\n`);
for (let status = created.status; status !== 'READY'; ) {
  await new Promise((resolve) => setTimeout(resolve, 200));
  status = (await control.send(new GetAgentRuntimeCommand({ agentRuntimeId: created.agentRuntimeId }))).status;
  if (status?.endsWith('FAILED')) throw new Error(`the runtime is ${status}`);
}
process.stdout.write('READY\n');

/** One 2026-07-28 tools/call: the JSON-RPC message is the payload; the MCP headers are the command's members. */
async function callTool(sessionId: string): Promise<string> {
  const message = {
    jsonrpc: '2.0',
    id: 1,
    method: 'tools/call',
    params: { name: tool, arguments: {}, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} } },
  };
  const answer = await data.send(
    new InvokeAgentRuntimeCommand({
      agentRuntimeArn: arn,
      runtimeSessionId: sessionId,
      payload: new TextEncoder().encode(JSON.stringify(message)),
      contentType: 'application/json',
      accept: 'application/json, text/event-stream',
      mcpProtocolVersion: '2026-07-28',
      mcpMethod: 'tools/call',
      mcpName: tool,
    }),
  );
  const text = (await answer.response?.transformToString()) ?? '';
  // A JSON answer, or an SSE stream whose last data line is the result.
  const json = answer.contentType?.includes('text/event-stream') ? (text.split('\n').filter((line) => line.startsWith('data:')).at(-1)?.slice(5) ?? '') : text;
  const result = (JSON.parse(json) as { result?: { content?: Array<{ text?: string }> } }).result;
  return result?.content?.[0]?.text ?? json;
}

// Session ids are 33 to 256 characters; each session gets its own sandbox, which keeps its state between calls.
const first = randomUUID();
const second = randomUUID();
for (const session of [first, first, second]) process.stdout.write(`session ${session.slice(0, 8)}: ${await callTool(session)}\n`);
for (const session of [first, second]) await data.send(new StopRuntimeSessionCommand({ agentRuntimeArn: arn, runtimeSessionId: session }));
await control.send(new DeleteAgentRuntimeCommand({ agentRuntimeId: created.agentRuntimeId }));
process.stdout.write('deleted\n');
