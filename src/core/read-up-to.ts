import type { Readable } from 'node:stream';

/**
 * Reads a Node stream to its end if that comes within `limit` bytes: its bytes whole; past the limit, the chunks
 * read so far with the stream paused where it stopped (the rest still to read); or the error it failed with (a
 * stream that closes before its end fails). Events rather than an async iterator: on the hot path the iterator's
 * promise per chunk costs more than the read.
 */
export function readUpTo(stream: Readable, limit: number): Promise<Buffer | Buffer[] | Error> {
  // A stream already over (its client gone before anyone read it) sends no more events to wait for.
  if (stream.errored) return Promise.resolve(stream.errored);
  if (stream.destroyed || stream.readableEnded) return Promise.resolve(new Error('the stream closed before its end'));
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      if (size <= limit) return;
      settle();
      stream.pause();
      resolve(chunks);
    };
    const onEnd = (): void => {
      settle();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    };
    const onError = (error: Error): void => {
      settle();
      resolve(error);
    };
    const onClose = (): void => onError(new Error('the stream closed before its end'));
    const settle = (): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
    };
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
    stream.once('close', onClose);
  });
}
