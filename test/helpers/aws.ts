import { CreateAgentRuntimeCommand, type BedrockAgentCoreControlClient } from '@aws-sdk/client-bedrock-agentcore-control';
import { RuntimeClient } from 'bedrock-agentcore/runtime';
import { packDirectory } from '../../src/cli/pack.ts';
import type { BerthNode } from './berth.ts';
import { createHash, createHmac } from 'node:crypto';

/** The access key the AgentCore API tests sign with, and the berth settings that make a node accept it. */
export const AWS_KEYS = { accessKeyId: 'AKIDBERTHTEST0001', secretAccessKey: 'berth-test-secret-key' };
export const AWS_ENV = {
  BERTH_AWS_ACCESS_KEY_ID: AWS_KEYS.accessKeyId,
  BERTH_AWS_SECRET_ACCESS_KEY: AWS_KEYS.secretAccessKey,
  BERTH_AWS_ACCOUNT_ID: '123456789012',
  BERTH_AWS_REGION: 'us-west-2',
};

/** SHA-256 the way @smithy/signature-v4 wants it (a checksum constructor, optionally keyed for HMAC). */
export class Sha256 {
  readonly #hash: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.#hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.#hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return this.#hash.digest();
  }
  reset(): void {}
}

function bytes(data: string | ArrayBuffer | ArrayBufferView): string | Uint8Array {
  if (typeof data === 'string') return data;
  return ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
}

/**
 * Makes an AgentCore runtime of `dir`'s code through the AWS SDK's control client, as a user would: the code
 * uploaded to berth's artifact store, `node ENTRYPOINT` on berth's Node. Answers the runtime's ARN.
 */
export async function createCodeRuntime(
  node: BerthNode,
  control: BedrockAgentCoreControlClient,
  dir: string,
  name: string,
  entryPoint: string,
  serverProtocol: 'HTTP' | 'A2A' | 'AGUI' | 'MCP',
): Promise<string> {
  const { artifactId } = await node.api.uploadArtifact(packDirectory(dir));
  const created = await control.send(
    new CreateAgentRuntimeCommand({
      agentRuntimeName: name,
      agentRuntimeArtifact: { codeConfiguration: { code: { s3: { bucket: 'berth', prefix: artifactId } }, runtime: 'NODE_22', entryPoint: [entryPoint] } },
      roleArn: 'arn:aws:iam::123456789012:role/AgentRole',
      protocolConfiguration: { serverProtocol },
    }),
  );
  return created.agentRuntimeArn as string;
}

/** The `bedrock-agentcore` SDK's RuntimeClient pointed at `node`: it reads its endpoint and credentials from the environment, as on AWS. */
export function runtimeClientFor(node: BerthNode): RuntimeClient {
  process.env.BEDROCK_AGENTCORE_DATA_PLANE_ENDPOINT = node.url;
  process.env.AWS_ACCESS_KEY_ID = AWS_KEYS.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = AWS_KEYS.secretAccessKey;
  return new RuntimeClient({ region: 'us-west-2' });
}
