/**
 * Density (issue 17), on a node of its own with room for 1 300 sessions of the minimal stdio server:
 *   - new sessions a second while the node fills, measured over the 50 sessions before 100, 250 and 500 live
 *     (several start at once, as a busy node's clients would);
 *   - memory per live session at 100 and at 1 000 live (or as many as the node takes): berth's share (its bwrap
 *     processes and supervisor, and what berth's own process grew by) and the user's server's, as PSS;
 *   - idle CPU per sandbox at the most sessions reached, once every sandbox has been left alone 20 s: what berth's
 *     processes (its own included) and the servers used over a quiet spell, per sandbox and second;
 *   - how many live sessions the node holds (goal ≥ 1 200), and why it stopped short if it did;
 *   - the same creation, memory and idle figures for 50 gVisor sessions, where runsc runs here.
 * It prints figures; it never fails on them.
 */
import { randomUUID } from 'node:crypto';
import { Pool } from 'undici';
import { GvisorDriver } from '../src/sandbox/drivers/gvisor/driver.ts';
import { deploy, SESSION_HEADER, startBerth, type BerthNode } from '../test/helpers/berth.ts';
import { fixtureDir } from '../test/helpers/fixtures.ts';
import { CALL_BODY, CALL_HEADERS, rateBefore } from './common.ts';
import { bwrapNodeFloorRates } from './floor-start.ts';
import { bwrapSandbox, cpuMs, descendants, mb, pss, sumPss } from './processes.ts';

const PATH = '/runtimes/density/mcp';
/** How long every sandbox has been left alone before its idle CPU is measured. */
const IDLE_AFTER_MS = 20_000;
/** Sessions started at once while the node fills. */
const AT_ONCE = 8;

interface Options {
  quick: boolean;
}

/** A node filling with sessions: how many it holds, and when each came. */
class Filling {
  readonly #node: BerthNode;
  readonly #pool: Pool;
  readonly ids: string[] = [];
  readonly #arrivals: number[] = [];
  refused: string | undefined;

  constructor(node: BerthNode, pool: Pool) {
    this.#node = node;
    this.#pool = pool;
  }

  /** Starts sessions, AT_ONCE at a time, until `target` live or the node refuses one. */
  async to(target: number): Promise<void> {
    while (this.ids.length < target && this.refused === undefined) {
      const batch = Array.from({ length: Math.min(AT_ONCE, target - this.ids.length) }, () => randomUUID());
      await Promise.all(batch.map((id) => this.#open(id)));
    }
  }

  async #open(id: string): Promise<void> {
    const { statusCode, body } = await this.#pool.request({ path: PATH, method: 'POST', headers: { ...CALL_HEADERS, [SESSION_HEADER]: id }, body: CALL_BODY });
    const text = await body.text();
    if (statusCode === 200 && text.includes('count')) {
      this.ids.push(id);
      this.#arrivals.push(performance.now());
      return;
    }
    this.refused ??= `${statusCode} ${/"message":"([^"]{0,240})/.exec(text)?.[1] ?? text.slice(0, 240)}`;
  }

  /** Sessions a second over the `span` sessions that brought the node to `live`; undefined if it never got there. */
  rateBefore(live: number, span?: number): number | undefined {
    return rateBefore(this.#arrivals, live, span);
  }

  async outerPids(runtime: string): Promise<number[]> {
    const live = new Set(this.ids);
    return (await this.#node.api.sessions(runtime)).filter((s) => live.has(s.id) && typeof s.pid === 'number').map((s) => s.pid as number);
  }
}

/** CPU over `seconds` of quiet, per sandbox and second, for each group of processes. */
async function idleCpu(seconds: number, sandboxes: number, groups: Record<string, () => number[]>): Promise<Record<string, number>> {
  // Idle means idle a while: past the last starts' work and the one limit reading that trails a sandbox's last use
  // by 15 s (core/sampling-pace.ts), which is not a cost of idling.
  await new Promise((resolve) => setTimeout(resolve, IDLE_AFTER_MS));
  const pids = Object.fromEntries(Object.entries(groups).map(([name, list]) => [name, list()]));
  const before = Object.fromEntries(Object.entries(pids).map(([name, list]) => [name, cpuMs(list)]));
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  return Object.fromEntries(Object.entries(pids).map(([name, list]) => [name, (cpuMs(list) - (before[name] ?? 0)) / sandboxes / seconds]));
}

/** Above the ranges test/helpers/berth.ts hands out (300 000 up to 10 300 000). */
const DENSITY_UID_BASE = 20_000_000;

export async function densityBench(out: (line?: string) => void, { quick }: Options): Promise<void> {
  const most = quick ? 120 : 1300;
  const checkpoints = quick ? [20, 50, 100] : [100, 250, 500];
  const memoryAt = quick ? [20, 100] : [100, 1000];
  const quietSeconds = quick ? 5 : 20;
  const minimal = await fixtureDir('minimal-server');
  out();
  out(`density: sessions of the minimal stdio server on one node, ${AT_ONCE} started at once (issue 17)`);
  // The floor first, on a quiet machine, and gone before berth's node fills it again.
  const floorRates = await bwrapNodeFloorRates(minimal, checkpoints, AT_ONCE);
  // More sessions than the uids the test helper claims for a node: a range of its own, above every test's.
  const node = await startBerth({
    env: {
      BERTH_LOG_LEVEL: 'error',
      BERTH_MAX_SESSIONS: String(most),
      BERTH_SANDBOX_UID_BASE: String(DENSITY_UID_BASE),
      BERTH_SANDBOX_UID_COUNT: String(most + 100),
    },
  });
  const pool = new Pool(node.url, { connections: AT_ONCE * 2 });
  try {
    await deploy(node, 'density', minimal, { transport: 'stdio' });
    const filling = new Filling(node, pool);
    const berthPid = node.process.pid as number;
    const berthBefore = pss(berthPid);
    const memoryLine = async (): Promise<void> => {
      const outers = await filling.outerPids('density');
      const sandboxes = outers.map(bwrapSandbox);
      const berthShare = sandboxes.reduce((sum, s) => sum + sumPss(s.berth), 0) / outers.length;
      const bookkeeping = Math.max(0, pss(berthPid) - berthBefore) / outers.length;
      const server = sandboxes.reduce((sum, s) => sum + sumPss(s.server), 0) / outers.length;
      out(
        `  memory at ${String(outers.length).padStart(4)} live: berth's share ${mb(berthShare + bookkeeping)} PSS a session (sandbox processes ${mb(berthShare)}, berth's own process ${mb(bookkeeping)}; goal ≤ 5 MB)   the server's ${mb(server)}`,
      );
    };
    for (const target of [...new Set([...checkpoints, ...memoryAt])].sort((a, b) => a - b)) {
      await filling.to(target);
      if (filling.ids.length < target) break;
      if (checkpoints.includes(target)) {
        out(
          `  creation rate up to ${String(target).padStart(4)} live: ${(filling.rateBefore(target) ?? Number.NaN).toFixed(1)} new sessions/s (goal ≥ 25)   floor (bare bwrap + Node, no berth) ${(floorRates.get(target) ?? Number.NaN).toFixed(1)}/s`,
        );
      }
      if (memoryAt.includes(target)) await memoryLine();
    }
    await filling.to(most);
    if (!memoryAt.includes(filling.ids.length)) await memoryLine();
    out(
      `  live sessions held: ${filling.ids.length} of ${most} asked (goal ≥ 1 200)${filling.refused ? `; the node refused the next: ${filling.refused}` : ''}`,
    );
    const outers = await filling.outerPids('density');
    const cpu = await idleCpu(quietSeconds, outers.length, {
      berth: () => [berthPid, ...outers.flatMap((outer) => bwrapSandbox(outer).berth)],
      server: () => outers.flatMap((outer) => bwrapSandbox(outer).server),
    });
    out(
      `  idle CPU with ${outers.length} live, over ${quietSeconds} s: berth ${(cpu.berth ?? 0).toFixed(3)} ms a second per sandbox (goal ≤ 0.05)   the servers ${(cpu.server ?? 0).toFixed(3)}`,
    );
  } finally {
    await pool.close();
    await node.stop();
  }
  await gvisorDensity(out, minimal, quick);
}

async function gvisorDensity(out: (line?: string) => void, minimal: string, quick: boolean): Promise<void> {
  const unsupported = GvisorDriver.unsupportedReason();
  if (unsupported) {
    out(`density, gVisor: not measured (${unsupported})`);
    return;
  }
  const count = quick ? 10 : 50;
  out(`density, gVisor: ${count} sessions of the minimal stdio server`);
  const node = await startBerth({ env: { BERTH_LOG_LEVEL: 'error', BERTH_MAX_SESSIONS: String(count + 10) } });
  const pool = new Pool(node.url, { connections: AT_ONCE * 2 });
  try {
    await deploy(node, 'density', minimal, { transport: 'stdio', driver: 'gvisor' });
    const filling = new Filling(node, pool);
    await filling.to(count);
    out(`  creation rate: ${(filling.rateBefore(filling.ids.length, filling.ids.length - 1) ?? Number.NaN).toFixed(1)} new sessions/s`);
    const outers = await filling.outerPids('density');
    const trees = outers.map(descendants);
    out(
      `  memory: ${mb(trees.reduce((sum, tree) => sum + sumPss(tree), 0) / outers.length)} PSS a session, berth's and the server's together (runsc holds both)`,
    );
    const cpu = await idleCpu(quick ? 5 : 20, outers.length, { all: () => outers.flatMap(descendants) });
    out(`  idle CPU: ${(cpu.all ?? 0).toFixed(3)} ms a second per sandbox, runsc and the server together`);
    if (filling.refused) out(`  the node refused a session: ${filling.refused}`);
  } finally {
    await pool.close();
    await node.stop();
  }
}
