import { randomUUID } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';

/** The channels of AgentCore's shell framing (Kubernetes' v5.channel.k8s.io), as the supervisor speaks them. */
const CHANNEL = { stdin: 0x00, stdout: 0x01, stderr: 0x02, status: 0x03, resize: 0x04, close: 0xff } as const;
/** The largest frame a shell takes. */
const MAX_FRAME = 64 * 1024;

/** A terminal's side of a shell: the process's own streams, or a test's. */
export interface ShellTerminal {
  stdin: Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  stdout: Writable;
  stderr: Writable;
  /** The terminal's size, when it has one. */
  size?: () => { columns: number; rows: number } | undefined;
  /** Hears each change of the terminal's size (SIGWINCH); returns how to stop hearing. */
  onResize?: (listener: () => void) => () => void;
}

/**
 * `berth shell SESSION`: a shell into a live session (`GET /v1/sessions/{id}/shell` with the admin key), wired to
 * the terminal: keystrokes in (raw, so Ctrl-C reaches the shell), output out, the terminal's size followed. Resolves
 * with the shell's exit status, or 1 when the connection ends without one (saying why on stderr). `shellId`
 * reattaches to a shell left open earlier, with what it printed meanwhile.
 */
export async function runShell(
  base: string,
  key: string | undefined,
  sessionId: string,
  terminal: ShellTerminal,
  shellId: string = randomUUID(),
): Promise<number> {
  const url = `${base.replace(/^http/, 'ws')}/v1/sessions/${encodeURIComponent(sessionId)}/shell?shellId=${encodeURIComponent(shellId)}`;
  const ws = new WebSocket(url, { headers: key === undefined ? {} : { authorization: `Bearer ${key}` } } as unknown as string[]);
  ws.binaryType = 'arraybuffer';
  const { stdin, stdout, stderr } = terminal;
  const raw = stdin.isTTY === true && typeof stdin.setRawMode === 'function';
  let exit: number | undefined;
  let stopResize = (): void => {};
  const send = (channel: number, payload: Uint8Array): void => {
    if (ws.readyState !== WebSocket.OPEN) return;
    for (let start = 0; start === 0 || start < payload.length; start += MAX_FRAME - 1) {
      const part = payload.subarray(start, start + MAX_FRAME - 1);
      const frame = new Uint8Array(part.length + 1);
      frame[0] = channel;
      frame.set(part, 1);
      ws.send(frame);
    }
  };
  const resize = (): void => {
    const size = terminal.size?.();
    if (size) send(CHANNEL.resize, Buffer.from(JSON.stringify({ width: size.columns, height: size.rows })));
  };
  const onInput = (chunk: Buffer): void => send(CHANNEL.stdin, chunk);
  return new Promise<number>((resolve) => {
    ws.addEventListener('open', () => {
      if (raw) stdin.setRawMode?.(true);
      stdin.on('data', onInput);
      stdin.resume();
      resize();
      stopResize = terminal.onResize?.(resize) ?? stopResize;
    });
    ws.addEventListener('message', (event: MessageEvent) => {
      const bytes = Buffer.from(event.data as ArrayBuffer);
      const payload = bytes.subarray(1);
      if (bytes[0] === CHANNEL.stdout) stdout.write(payload);
      else if (bytes[0] === CHANNEL.stderr) stderr.write(payload);
      else if (bytes[0] === CHANNEL.status) exit = exitOf(payload) ?? exit;
    });
    ws.addEventListener('error', () => {
      // The close that follows says what there is to say.
    });
    ws.addEventListener('close', (event: CloseEvent) => {
      stopResize();
      stdin.off('data', onInput);
      stdin.pause();
      if (raw) stdin.setRawMode?.(false);
      if (exit !== undefined) return resolve(exit);
      stderr.write(`berth shell: the connection ended (${event.code}${event.reason ? `: ${event.reason}` : ''}) before the shell did\n`);
      resolve(1);
    });
  });
}

/** The exit status a STATUS message carries; undefined for the one that says the shell is attached. */
function exitOf(payload: Buffer): number | undefined {
  let status: { metadata?: { shellId?: unknown }; status?: unknown; details?: { causes?: Array<{ reason?: unknown; message?: unknown }> } };
  try {
    status = JSON.parse(payload.toString('utf8')) as typeof status;
  } catch {
    return undefined;
  }
  if (status.metadata?.shellId !== undefined) return undefined;
  if (status.status === 'Success') return 0;
  const code = status.details?.causes?.find((cause) => cause.reason === 'ExitCode')?.message;
  return typeof code === 'string' && /^\d+$/.test(code) ? Number(code) : 1;
}
