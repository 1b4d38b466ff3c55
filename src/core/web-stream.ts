import type { Readable } from 'node:stream';

/**
 * A web stream over `source` that touches it only when someone reads, so a Node consumer may take `source` instead.
 * Cancelling it destroys `source`, unless `keepOnCancel` (a request body, whose rest the Node adapter reads and
 * throws away once the answer is out: destroying it would reset the connection under the answer).
 */
export function lazyWebStream(source: Readable, keepOnCancel = false): ReadableStream<Uint8Array> {
  let wired = false;
  // Once the web stream is closed, errored or cancelled, nothing of `source` may reach its controller again: a
  // body the handler gave up on is still read to its end (and thrown away) by the Node adapter, and an `end` then
  // would close a closed controller, which throws outside any handler and takes the process down.
  let settled = false;
  let detach = (): void => {};
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (wired) {
          source.resume();
          return;
        }
        wired = true;
        const onData = (chunk: Buffer): void => {
          controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
          if ((controller.desiredSize ?? 0) <= 0) source.pause();
        };
        const onEnd = (): void => {
          settled = true;
          detach();
          controller.close();
        };
        const onError = (error: Error): void => {
          settled = true;
          detach();
          controller.error(error);
        };
        detach = () => {
          source.off('data', onData);
          source.off('end', onEnd);
          source.off('error', onError);
        };
        if (settled) return;
        source.on('data', onData);
        source.once('end', onEnd);
        source.once('error', onError);
      },
      cancel() {
        settled = true;
        detach();
        if (!keepOnCancel) source.destroy();
        else source.pause();
      },
    },
    { highWaterMark: 0 },
  );
}
