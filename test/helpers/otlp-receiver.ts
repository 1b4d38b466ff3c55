import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

/** A span as the receiver decoded it, whichever encoding it came in. */
export interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  /** Empty for a root span. */
  parentSpanId: string;
  name: string;
  /** OTLP's SpanKind: 1 internal, 2 server, 3 client. */
  kind: number;
  startNanos: bigint;
  endNanos: bigint;
  attributes: Record<string, unknown>;
  events: Array<{ name: string; attributes: Record<string, unknown> }>;
  /** OTLP's StatusCode: 0 unset, 1 ok, 2 error. */
  status: { code: number; message: string };
}

/**
 * An OTLP/HTTP trace receiver, as a collector is one: `POST /v1/traces` with an ExportTraceServiceRequest in
 * protobuf (`application/x-protobuf`, decoded field by field after opentelemetry-proto's trace.proto) or JSON
 * (`application/json`, OTLP's JSON mapping), gzip or not. It keeps every span it is sent, and refuses what is not OTLP.
 */
export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  /** Request bodies it could not decode: a test expects none. */
  readonly refused: string[] = [];
  readonly #server: Server;
  #url = '';

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(): Promise<OtlpReceiver> {
    const receiver: OtlpReceiver = new OtlpReceiver(
      createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (chunk: Buffer) => chunks.push(chunk));
        req.on('end', () => {
          const type = req.headers['content-type'] ?? '';
          try {
            if (req.method !== 'POST' || req.url !== '/v1/traces') throw new Error(`${req.method} ${req.url} is not OTLP's traces path`);
            let body = Buffer.concat(chunks);
            if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
            if (type.startsWith('application/x-protobuf')) receiver.spans.push(...decodeProtobuf(body));
            else if (type.startsWith('application/json')) receiver.spans.push(...decodeJson(JSON.parse(body.toString('utf8'))));
            else throw new Error(`content-type ${type} is not OTLP's`);
            res.writeHead(200, { 'content-type': type }).end(type.startsWith('application/json') ? '{}' : '');
          } catch (error) {
            receiver.refused.push((error as Error).message);
            res.writeHead(400).end();
          }
        });
      }),
    );
    receiver.#server.listen(0, '127.0.0.1');
    await once(receiver.#server, 'listening');
    receiver.#url = `http://127.0.0.1:${(receiver.#server.address() as AddressInfo).port}`;
    return receiver;
  }

  /** The base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`'s kind): spans are posted to `/v1/traces` under it. */
  get url(): string {
    return this.#url;
  }

  /** The spans of one trace. */
  trace(traceId: string): ReceivedSpan[] {
    return this.spans.filter((span) => span.traceId === traceId);
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

// --- protobuf (opentelemetry-proto: collector/trace/v1 and trace/v1) ---

type Field = { number: number; wire: number; varint?: bigint; bytes?: Buffer; fixed?: Buffer };

function fields(buffer: Buffer): Field[] {
  const out: Field[] = [];
  let at = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (at >= buffer.length) throw new Error('protobuf varint runs past the end');
      const byte = buffer[at++] as number;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (at < buffer.length) {
    const key = Number(varint());
    const field: Field = { number: key >>> 3, wire: key & 7 };
    if (field.wire === 0) field.varint = varint();
    else if (field.wire === 2) {
      const length = Number(varint());
      if (at + length > buffer.length) throw new Error('protobuf field runs past the end');
      field.bytes = buffer.subarray(at, at + length);
      at += length;
    } else if (field.wire === 1 || field.wire === 5) {
      const size = field.wire === 1 ? 8 : 4;
      field.fixed = buffer.subarray(at, at + size);
      at += size;
    } else throw new Error(`protobuf wire type ${field.wire} is not one OTLP uses`);
    out.push(field);
  }
  return out;
}

const messages = (all: Field[], number: number): Buffer[] => all.filter((f) => f.number === number && f.bytes).map((f) => f.bytes as Buffer);
const stringOf = (all: Field[], number: number): string => messages(all, number)[0]?.toString('utf8') ?? '';
const hexOf = (all: Field[], number: number): string => messages(all, number)[0]?.toString('hex') ?? '';

function anyValue(buffer: Buffer): unknown {
  const [field] = fields(buffer);
  if (!field) return undefined;
  switch (field.number) {
    case 1:
      return field.bytes?.toString('utf8');
    case 2:
      return field.varint === 1n;
    case 3:
      return Number(BigInt.asIntN(64, field.varint ?? 0n));
    case 4:
      return field.fixed?.readDoubleLE(0);
    case 5:
      return messages(fields(field.bytes ?? Buffer.alloc(0)), 1).map(anyValue);
    default:
      return field.bytes;
  }
}

function attributesOf(all: Field[], number: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of messages(all, number)) {
    const parts = fields(kv);
    out[stringOf(parts, 1)] = anyValue(messages(parts, 2)[0] ?? Buffer.alloc(0));
  }
  return out;
}

function decodeProtobuf(body: Buffer): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const resourceSpans of messages(fields(body), 1)) {
    const rs = fields(resourceSpans);
    const resource = attributesOf(fields(messages(rs, 1)[0] ?? Buffer.alloc(0)), 1);
    for (const scopeSpans of messages(rs, 2)) {
      for (const spanBytes of messages(fields(scopeSpans), 2)) {
        const span = fields(spanBytes);
        const status = fields(messages(span, 15)[0] ?? Buffer.alloc(0));
        const fixed = (number: number): bigint => span.find((f) => f.number === number)?.fixed?.readBigUInt64LE(0) ?? 0n;
        out.push({
          service: String(resource['service.name'] ?? ''),
          traceId: hexOf(span, 1),
          spanId: hexOf(span, 2),
          parentSpanId: hexOf(span, 4),
          name: stringOf(span, 5),
          kind: Number(span.find((f) => f.number === 6)?.varint ?? 0n),
          startNanos: fixed(7),
          endNanos: fixed(8),
          attributes: attributesOf(span, 9),
          events: messages(span, 11).map((event) => {
            const parts = fields(event);
            return { name: stringOf(parts, 2), attributes: attributesOf(parts, 3) };
          }),
          status: { code: Number(status.find((f) => f.number === 3)?.varint ?? 0n), message: stringOf(status, 2) },
        });
      }
    }
  }
  return out;
}

// --- JSON (OTLP's JSON mapping: ids in hex, 64-bit integers as strings) ---

interface JsonKeyValue {
  key: string;
  value: Record<string, unknown>;
}

function jsonValue(value: Record<string, unknown>): unknown {
  if ('stringValue' in value) return value.stringValue;
  if ('boolValue' in value) return value.boolValue;
  if ('intValue' in value) return Number(value.intValue);
  if ('doubleValue' in value) return value.doubleValue;
  return value;
}

function jsonAttributes(list: JsonKeyValue[] | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map(({ key, value }) => [key, jsonValue(value)]));
}

function decodeJson(body: {
  resourceSpans?: Array<{ resource?: { attributes?: JsonKeyValue[] }; scopeSpans?: Array<{ spans?: Array<Record<string, unknown>> }> }>;
}): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  if (!Array.isArray(body.resourceSpans)) throw new Error('an OTLP JSON export has resourceSpans');
  for (const rs of body.resourceSpans) {
    const resource = jsonAttributes(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      for (const span of ss.spans ?? []) {
        const status = (span.status ?? {}) as { code?: number; message?: string };
        out.push({
          service: String(resource['service.name'] ?? ''),
          traceId: String(span.traceId),
          spanId: String(span.spanId),
          parentSpanId: String(span.parentSpanId ?? ''),
          name: String(span.name),
          kind: Number(span.kind ?? 0),
          startNanos: BigInt(String(span.startTimeUnixNano)),
          endNanos: BigInt(String(span.endTimeUnixNano)),
          attributes: jsonAttributes(span.attributes as JsonKeyValue[] | undefined),
          events: ((span.events ?? []) as Array<{ name: string; attributes?: JsonKeyValue[] }>).map((e) => ({
            name: e.name,
            attributes: jsonAttributes(e.attributes),
          })),
          status: { code: status.code ?? 0, message: status.message ?? '' },
        });
      }
    }
  }
  return out;
}
