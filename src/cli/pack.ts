import { Readable } from 'node:stream';
import { c as create } from 'tar';

/** A directory as a gzipped tar stream: symlinks stay links, ownership is dropped (berth owns artifacts). */
export function packDirectory(dir: string): Readable {
  // node-tar streams are minipass streams: async-iterable, but not stream.Readable.
  return Readable.from(create({ gzip: true, cwd: dir, portable: true, follow: false }, ['.']) as AsyncIterable<Buffer>);
}
