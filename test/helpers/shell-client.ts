/**
 * A shell client on a plain WebSocket speaking AgentCore's channel framing itself (one channel byte, then the
 * payload): what the shell printed so far, its STATUS messages, and how the connection closed.
 */
import assert from 'node:assert/strict';
import WebSocket from 'ws';

export const STDIN = 0x00;
const STDOUT = 0x01;
const STATUS = 0x03;

/** A shell client on a plain WebSocket: what it printed so far, its status messages, and how it closed. */
export class RawShell {
  readonly ws: WebSocket;
  output = '';
  statuses: Array<Record<string, unknown>> = [];
  closedWith: { code: number; reason: string } | undefined;
  readonly closed: Promise<void>;

  constructor(url: string, headers: Record<string, string>) {
    this.ws = new WebSocket(url, { headers });
    this.ws.on('message', (data: Buffer) => {
      if (data[0] === STDOUT) this.output += data.subarray(1).toString('utf8');
      if (data[0] === STATUS) this.statuses.push(JSON.parse(data.subarray(1).toString('utf8')) as Record<string, unknown>);
    });
    this.closed = new Promise((resolve) =>
      this.ws.once('close', (code, reason) => {
        this.closedWith = { code, reason: reason.toString() };
        resolve();
      }),
    );
  }

  /** Resolves once the shell said it is attached (its first STATUS message). */
  async opened(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    for (let i = 0; i < 400 && this.statuses.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 25));
    assert.ok(this.statuses.length > 0, 'the shell said it is attached');
  }

  type(text: string): void {
    this.ws.send(Buffer.concat([Buffer.from([STDIN]), Buffer.from(text)]));
  }

  async waitFor(text: string): Promise<void> {
    for (let i = 0; i < 400 && !this.output.includes(text); i++) await new Promise((resolve) => setTimeout(resolve, 25));
    assert.ok(this.output.includes(text), `the shell printed ${JSON.stringify(text)}; it printed ${JSON.stringify(this.output.slice(-500))}`);
  }
}
