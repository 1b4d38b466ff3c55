import type { SupervisorStatus } from '../core/channel.ts';

/**
 * The sandbox's background work as the host sees it (calls waiting on their clients, an agent that says it is
 * busy), reported on every change and only then.
 */
export class ActivityReporter {
  readonly #report: (status: SupervisorStatus) => void;
  #waiting = 0;
  #busy = false;

  constructor(report: (status: SupervisorStatus) => void) {
    this.#report = report;
  }

  get busy(): boolean {
    return this.#busy;
  }

  setWaiting(waiting: number): void {
    if (waiting === this.#waiting) return;
    this.#waiting = waiting;
    this.#send();
  }

  setBusy(busy: boolean): void {
    if (busy === this.#busy) return;
    this.#busy = busy;
    this.#send();
  }

  #send(): void {
    this.#report({ type: 'activity', waiting: this.#waiting, busy: this.#busy });
  }
}
