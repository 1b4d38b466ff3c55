import { BerthError } from '../../core/errors.ts';
import type { Logger } from '../../observability/logger.ts';
import type { Sandbox, SandboxDriver, SandboxSpec } from '../driver.ts';

/**
 * A node's drivers: its default, which makes every sandbox whose runtime names none, and the isolating drivers a
 * runtime may ask for, each made on first use. A driver that cannot run on this node fails those starts with the
 * reason, and only those.
 */
export class DriverChoice implements SandboxDriver {
  readonly name: string;
  readonly isolated: boolean;
  readonly #default: SandboxDriver;
  readonly #makers: ReadonlyMap<string, () => Promise<SandboxDriver>>;
  readonly #made = new Map<string, Promise<SandboxDriver>>();
  readonly #logger: Logger;

  constructor(defaultDriver: SandboxDriver, makers: ReadonlyMap<string, () => Promise<SandboxDriver>>, logger: Logger) {
    this.#default = defaultDriver;
    this.#makers = makers;
    this.#logger = logger;
    this.name = defaultDriver.name;
    this.isolated = defaultDriver.isolated;
  }

  async start(spec: SandboxSpec): Promise<Sandbox> {
    if (spec.network?.mode === 'host') {
      this.#logger.warn(
        "a sandbox gets the host's network, unfiltered (the runtime's network mode is host): it can reach this machine's and its network's services",
        { runtime: spec.runtime, sandbox: spec.id },
      );
    }
    return (await this.#driverFor(spec)).start(spec);
  }

  async close(): Promise<void> {
    const others = await Promise.all([...this.#made.values()].map((made) => made.catch(() => undefined)));
    await Promise.all([this.#default, ...others].map((driver) => driver?.close()));
  }

  /**
   * Makes a driver now rather than on first use: one that an earlier run of berth used may have left sandboxes
   * behind, which it removes when made. One that cannot run here is said once, and its runtimes fail as usual.
   */
  async prepare(name: string): Promise<void> {
    if (name === this.#default.name) return;
    await this.#driverNamed(name).catch((error: unknown) => this.#logger.warn(`the ${name} driver cannot run on this node: ${(error as Error).message}`));
  }

  #driverNamed(name: string): Promise<SandboxDriver> {
    let made = this.#made.get(name);
    if (!made) {
      const maker = this.#makers.get(name);
      made = maker ? maker() : Promise.reject(new Error(`berth has no driver "${name}"`));
      this.#made.set(name, made);
    }
    return made;
  }

  #driverFor(spec: SandboxSpec): Promise<SandboxDriver> {
    const name = spec.driver;
    if (name === undefined || name === this.#default.name) return Promise.resolve(this.#default);
    return this.#driverNamed(name).catch((error: unknown) => {
      throw new BerthError('sandbox_failed', `runtime "${spec.runtime}" needs the ${name} driver, which cannot run on this node: ${(error as Error).message}`, {
        details: { runtime: spec.runtime },
      });
    });
  }
}
