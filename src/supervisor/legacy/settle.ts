import { readdirSync, readFileSync } from 'node:fs';

/** How long none of the server's threads may run, and none be ready to, for berth to count the server settled. */
const QUIET_WINDOW_MS = 5;
/** The longest berth waits: a server that keeps working (a poller, another call) is not waited out. */
const SETTLE_MAX_MS = 500;
/** Where the server's threads cannot be read (no /proc), a fixed pause stands in for watching them. */
const BLIND_PAUSE_MS = 50;

/**
 * Resolves once the server started as `pid` (with every process it started) has done what it does on its own: none of
 * its threads ran during a window of QUIET_WINDOW_MS and none is ready to run, or SETTLE_MAX_MS passed.
 *
 * MCP offers no way to learn that a server has finished acting on something it was sent: a server acts on an answer
 * to its own request, or on `notifications/initialized`, when it likes, and a `ping` it answers before. Its threads
 * say it: server-filesystem checks the roots it is given with file system calls before it uses them, so a call sent
 * right after the answer is refused for want of them (in a bwrap sandbox: 20 calls of 20 with no wait, 17 of 20 with
 * a `ping` between), and none is once the server has settled (0 of 20, and 0 of 30 with both cores busy; settling
 * took 6–43 ms, 12 typically).
 */
export async function settled(pid: number): Promise<void> {
  const deadline = Date.now() + SETTLE_MAX_MS;
  let before = snapshot(pid);
  if (before === undefined) {
    await pause(BLIND_PAUSE_MS);
    return;
  }
  while (Date.now() < deadline) {
    await pause(QUIET_WINDOW_MS);
    const now = snapshot(pid);
    if (now === undefined || quietBetween(before, now)) return;
    before = now;
  }
}

/** Each thread of the server's processes, by process and thread id: its state and how much it has run. */
type Snapshot = Map<string, { state: string; ran: string }>;

function quietBetween(before: Snapshot, now: Snapshot): boolean {
  if (before.size !== now.size) return false;
  for (const [task, seen] of now) {
    // R: running or ready to; D: in the kernel, waiting on a device.
    if (seen.state === 'R' || seen.state === 'D') return false;
    const earlier = before.get(task);
    if (earlier === undefined || earlier.ran !== seen.ran) return false;
  }
  return true;
}

function snapshot(pid: number): Snapshot | undefined {
  const processes = processTree(pid);
  if (processes === undefined) return undefined;
  const threads: Snapshot = new Map();
  for (const processId of processes) {
    for (const tid of listDir(`/proc/${processId}/task`) ?? []) {
      const stat = readText(`/proc/${processId}/task/${tid}/stat`);
      if (stat === undefined) continue;
      // The command name may hold spaces and parentheses; the fields after its closing parenthesis do not.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // schedstat counts run time in nanoseconds and times scheduled; utime and stime (ticks of 10 ms) are too coarse
      // to see a file system call, and stand in only where schedstat is missing.
      const ran = readText(`/proc/${processId}/task/${tid}/schedstat`)?.trim() ?? `${fields[11]} ${fields[12]}`;
      threads.set(`${processId}/${tid}`, { state: fields[0] ?? '?', ran });
    }
  }
  return threads;
}

/** `pid` and its descendants, or undefined when `pid` cannot be read. */
function processTree(pid: number): number[] | undefined {
  if (listDir(`/proc/${pid}/task`) === undefined) return undefined;
  const found = [pid];
  for (let i = 0; i < found.length; i++) {
    const parent = found[i] as number;
    for (const tid of listDir(`/proc/${parent}/task`) ?? []) {
      const children = readText(`/proc/${parent}/task/${tid}/children`);
      if (children === undefined) return byParent(pid);
      for (const child of children.trim().split(' ')) if (child !== '') found.push(Number(child));
    }
  }
  return found;
}

/** The tree by each process's parent, for kernels without the `children` files: every process is read once. */
function byParent(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of listDir('/proc') ?? []) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readText(`/proc/${entry}/stat`);
    if (stat === undefined) continue;
    const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    parents.set(parent, [...(parents.get(parent) ?? []), Number(entry)]);
  }
  const found = [pid];
  for (let i = 0; i < found.length; i++) found.push(...(parents.get(found[i] as number) ?? []));
  return found;
}

function listDir(path: string): string[] | undefined {
  try {
    return readdirSync(path);
  } catch {
    return undefined;
  }
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
