import { crc32 } from 'node:zlib';

/**
 * AWS event-stream framing (`application/vnd.amazon.eventstream`), which InvokeAgentRuntimeCommand answers in:
 * each message is a prelude (total length, headers length, their CRC32), string headers, the payload and a CRC32 of
 * all that came before.
 */
export const EVENT_STREAM_CONTENT_TYPE = 'application/vnd.amazon.eventstream';

const STRING_HEADER = 7;

export function encodeEventMessage(headers: Record<string, string>, payload: Uint8Array): Buffer {
  const encodedHeaders = Buffer.concat(
    Object.entries(headers).map(([name, value]) => {
      const nameBytes = Buffer.from(name, 'utf8');
      const valueBytes = Buffer.from(value, 'utf8');
      const header = Buffer.alloc(1 + nameBytes.length + 1 + 2 + valueBytes.length);
      let offset = header.writeUInt8(nameBytes.length, 0);
      offset += nameBytes.copy(header, offset);
      offset = header.writeUInt8(STRING_HEADER, offset);
      offset = header.writeUInt16BE(valueBytes.length, offset);
      valueBytes.copy(header, offset);
      return header;
    }),
  );
  const total = 12 + encodedHeaders.length + payload.length + 4;
  const message = Buffer.alloc(total);
  message.writeUInt32BE(total, 0);
  message.writeUInt32BE(encodedHeaders.length, 4);
  message.writeUInt32BE(crc32(message.subarray(0, 8)), 8);
  encodedHeaders.copy(message, 12);
  Buffer.from(payload).copy(message, 12 + encodedHeaders.length);
  message.writeUInt32BE(crc32(message.subarray(0, total - 4)), total - 4);
  return message;
}

/** An event of the stream's `chunk` member, as the SDK's ResponseChunk union reads it. */
export function chunkEvent(member: Record<string, unknown>): Buffer {
  return encodeEventMessage({ ':message-type': 'event', ':event-type': 'chunk', ':content-type': 'application/json' }, Buffer.from(JSON.stringify(member)));
}

/** An error in the middle of the stream: the SDK throws it, typed by `exceptionType` (a camel-cased exception). */
export function exceptionEvent(exceptionType: string, message: string): Buffer {
  return encodeEventMessage(
    { ':message-type': 'exception', ':exception-type': exceptionType, ':content-type': 'application/json' },
    Buffer.from(JSON.stringify({ message })),
  );
}
