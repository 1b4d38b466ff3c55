import type { Readable } from 'node:stream';

export interface ReadPaceOptions {
  /** What may be read at once after a quiet spell: one of the largest messages berth reads whole, say. */
  burstBytes: number;
  /** What may be read a second, sustained. */
  bytesPerSecond: number;
}

/**
 * Reads `stream` no faster than a bucket of `burstBytes` that refills at `bytesPerSecond`: past that, reading pauses
 * until the bucket has room again, and the writer waits on its full pipe. For a server read in berth's own process
 * (host.ts): whatever it writes is parsed on berth's CPU, which a server that floods its stdout must not take from
 * every other session. A message as large as the burst still arrives at once.
 */
export function paceReads(stream: Readable, { burstBytes, bytesPerSecond }: ReadPaceOptions): void {
  let tokens = burstBytes;
  let at = performance.now();
  let timer: NodeJS.Timeout | undefined;
  stream.on('data', (chunk: Buffer) => {
    const now = performance.now();
    tokens = Math.min(burstBytes, tokens + ((now - at) * bytesPerSecond) / 1000);
    at = now;
    tokens -= chunk.length;
    if (tokens >= 0 || timer !== undefined) return;
    stream.pause();
    timer = setTimeout(
      () => {
        timer = undefined;
        if (!stream.destroyed) stream.resume();
      },
      Math.ceil((-tokens * 1000) / bytesPerSecond),
    );
  });
  stream.once('close', () => clearTimeout(timer));
}
