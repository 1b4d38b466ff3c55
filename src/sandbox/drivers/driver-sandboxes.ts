import { BerthError } from '../../core/errors.ts';
import type { Sandbox } from '../driver.ts';

/**
 * The sandboxes of one isolating driver, starting and live, so that its close ends every one of them, and waits
 * until each is cleaned up, before it removes what they share (cgroup parents): a sandbox that ended on its own, or
 * one whose start was still under way when the node stopped, would otherwise leave those behind.
 */
export class DriverSandboxes {
  readonly #starting = new Set<Promise<unknown>>();
  readonly #live = new Set<Sandbox>();
  #closing = false;

  /** Runs a start; refused once the driver is closing. */
  async start<T>(start: () => Promise<T>): Promise<T> {
    if (this.#closing) throw new BerthError('shutting_down', 'berth is stopping and starts no more sandboxes');
    const started = start();
    this.#starting.add(started);
    try {
      return await started;
    } finally {
      this.#starting.delete(started);
    }
  }

  /** A launched sandbox, live until it has ended and been cleaned up; one launched while closing is stopped. */
  launched(sandbox: Sandbox): void {
    this.#live.add(sandbox);
    const forget = (): boolean => this.#live.delete(sandbox);
    void sandbox.exited.then(forget, forget);
    // Its end is awaited (and any failure of it heard) by the close under way.
    if (this.#closing) sandbox.stop().catch(() => {});
  }

  /** Stops every sandbox, those whose start is under way included, and resolves once all are cleaned up. */
  async close(): Promise<void> {
    this.#closing = true;
    const stopping = [...this.#live].map((sandbox) => sandbox.stop());
    await Promise.allSettled([...this.#starting]);
    await Promise.all([...stopping, ...[...this.#live].map((sandbox) => sandbox.stop())]);
  }
}
