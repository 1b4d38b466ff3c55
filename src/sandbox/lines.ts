import type { Readable } from 'node:stream';

/**
 * Splits a stream a sandbox writes into lines without trusting it: a line longer than `maxBytes` is cut there
 * (the rest up to its newline is dropped), so a peer that never writes a newline costs at most `maxBytes` of memory.
 */
export function onLines(stream: Readable, maxBytes: number, onLine: (line: string, cut: boolean) => void): void {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let skipping = false;
  const take = (chunk: Buffer): void => {
    if (skipping || chunk.length === 0) return;
    const room = maxBytes - pendingBytes;
    if (chunk.length <= room) {
      pending.push(chunk);
      pendingBytes += chunk.length;
      return;
    }
    pending.push(chunk.subarray(0, room));
    pendingBytes += room;
    emit(true);
    skipping = true;
  };
  const emit = (cut: boolean): void => {
    const line = Buffer.concat(pending, pendingBytes).toString('utf8');
    pending = [];
    pendingBytes = 0;
    onLine(line.endsWith('\r') ? line.slice(0, -1) : line, cut);
  };
  stream.on('data', (chunk: Buffer) => {
    let start = 0;
    for (let newline = chunk.indexOf(10); newline !== -1; newline = chunk.indexOf(10, start)) {
      take(chunk.subarray(start, newline));
      if (skipping) skipping = false;
      else emit(false);
      start = newline + 1;
    }
    take(chunk.subarray(start));
  });
  stream.on('end', () => {
    if (pendingBytes > 0 && !skipping) emit(false);
  });
}
