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
