import type { Agent } from 'node:http';
import { lazy } from './lazy-builtin.ts';

const PING_PATH = '/ping';
/** How often AgentCore asks an agent whether it is busy. */
const PING_INTERVAL_MS = 2_000;
const PING_TIMEOUT_MS = 1_000;
/** A ping answer is one small JSON object; an agent that sends more is not answering a ping. */
const MAX_PING_BODY = 16 * 1024;

export interface PingWatcherOptions {
  host: string;
  port: number;
  /** Hears every answer: whether the agent says it is at work in the background. */
  onBusy: (busy: boolean) => void;
}

/**
 * Polls an http agent's `GET /ping` (AgentCore's contract: `{"status": "Healthy" | "HealthyBusy", …}`). An answer
 * that is late, malformed or not 200 counts as not busy: only an agent that says it is busy keeps its session
 * from idling.
 */
export class PingWatcher {
  readonly #options: PingWatcherOptions;
  readonly #agent: Agent = new (lazy('node:http').Agent)({ keepAlive: true, maxSockets: 1 });
  #timer: NodeJS.Timeout | undefined;
  #polling = false;
  #again = false;
  #stopped = false;

  constructor(options: PingWatcherOptions) {
    this.#options = options;
  }

  start(): void {
    this.pollNow();
  }

  /**
   * Polls now rather than at the next tick. An invocation's end is when background work usually begins, and a
   * short idle timeout must not run out before the host hears of it.
   */
  pollNow(): void {
    if (this.#stopped) return;
    if (this.#polling) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#polling = true;
    void this.#ping().then((busy) => {
      this.#polling = false;
      if (this.#stopped) return;
      this.#options.onBusy(busy);
      if (this.#again) {
        this.#again = false;
        this.pollNow();
        return;
      }
      this.#timer = setTimeout(() => this.pollNow(), PING_INTERVAL_MS);
      this.#timer.unref();
    });
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#agent.destroy();
  }

  #ping(): Promise<boolean> {
    const { host, port } = this.#options;
    return new Promise((resolve) => {
      const ping = lazy('node:http').request({ host, port, path: PING_PATH, method: 'GET', agent: this.#agent, headers: { accept: 'application/json' } });
      // One deadline for all of it: connecting, the status, the body.
      const timer = setTimeout(() => ping.destroy(), PING_TIMEOUT_MS);
      const settle = (busy: boolean): void => {
        clearTimeout(timer);
        resolve(busy);
      };
      ping.on('error', () => settle(false));
      ping.on('response', (answer) => {
        if (answer.statusCode !== 200) {
          answer.resume();
          settle(false);
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        answer.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_PING_BODY) {
            ping.destroy();
            settle(false);
            return;
          }
          chunks.push(chunk);
        });
        answer.on('error', () => settle(false));
        answer.on('close', () => settle(false));
        answer.on('end', () => settle(saysBusy(Buffer.concat(chunks).toString('utf8'))));
      });
      ping.end();
    });
  }
}

function saysBusy(text: string): boolean {
  try {
    const value = JSON.parse(text) as { status?: unknown } | null;
    return value?.status === 'HealthyBusy';
  } catch {
    return false;
  }
}
