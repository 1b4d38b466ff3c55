/**
 * Mutations of a well-formed request: of its JSON tree (a field dropped, given twice, retyped, made huge, nested
 * thousands deep, NaN-ish, full of control characters), of its bytes (cut short, corrupted, replaced), of its
 * headers (the MCP and session headers flipped, Content-Type and Accept wrong, Content-Length lying, floods) and of
 * its path and query. Each returns a line for the request's story, so a failure reads as what was sent.
 */
import { validateHeaderName, validateHeaderValue } from 'node:http';
import {
  bodyOf,
  DUPLICATE_ENTRIES,
  header,
  isObject,
  RawJson,
  removeHeader,
  serialize,
  SESSION_HEADER,
  setHeader,
  type Draft,
  type Json,
  type JsonObject,
} from './request.ts';
import type { Random } from './random.ts';

/** What a mutation may draw on besides randomness: ids the run knows, so a flipped header can name a real one. */
export interface MutationContext {
  /** Session ids in use by the run (any runtime's). */
  sessionIds: readonly string[];
  /** Legacy Mcp-Session-Ids the run has been given. */
  mcpSessionIds: readonly string[];
  /** Names of tools, prompts and methods that mean something to the fixtures. */
  names: readonly string[];
  adminKey: string;
}

type Mutation = (draft: Draft, random: Random, context: MutationContext) => string | undefined;

// ---- values ------------------------------------------------------------------------------------------------

const NANISH = [
  'NaN',
  '-NaN',
  'Infinity',
  '-Infinity',
  '-0',
  '1e400',
  '-1e400',
  '1e-400',
  '9007199254740993',
  '123456789012345678901234567890',
  '0x10',
  '01',
  '1.',
  '.5',
  '1e',
  '+1',
  '--1',
  '0.0000000000000000000000001',
  '1E+99999',
  'true1',
  'nul',
  '2e308',
];
const WEIRD_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\u0001\u0002\u0003\u001f\u007f',
  '\r\n\r\nHTTP/1.1 200 OK\r\n\r\n',
  '\ud800',
  '\udfff\ud800',
  '\u202e\u2066evil',
  '\u2028\u2029',
  '\ufeff',
  '\uffff\ufffe',
  '💥🧨'.repeat(50),
  '../../../../etc/passwd',
  '%00%2e%2e%2f',
  '${jndi:ldap://x}',
  "'; DROP TABLE runtimes; --",
  '__proto__',
  'constructor',
  '<script>alert(1)</script>',
  'a'.repeat(257),
  'ǅ'.repeat(1000),
];
/** Raw JSON texts that are not valid JSON, or are but surprise a parser. */
const BROKEN_STRINGS = ['"\u0000raw nul"', '"raw\ttab\nnewline"', '"\\ud800"', '"\\u00"', '"\\x41"', '"unterminated', "'single'", '"\\"', '"a"\u0000'];

/** A string of `bytes` length: the kinds of huge a client can send. */
function hugeString(random: Random, bytes: number): string {
  return random.weighted<() => string>([
    [3, () => 'a'.repeat(bytes)],
    [1, () => '\u0000'.repeat(bytes)],
    [1, () => 'é'.repeat(Math.ceil(bytes / 2))],
    [1, () => '\\'.repeat(bytes)],
  ])();
}

function hugeSize(random: Random): number {
  return random.weighted([
    [6, random.between(1024, 16 * 1024)],
    [3, random.between(64 * 1024, 512 * 1024)],
    [1, random.between(1024 * 1024, 3 * 1024 * 1024)],
    // Past BERTH_MAX_BODY_BYTES (4 MiB): 413, read no further.
    [0.3, 5 * 1024 * 1024],
  ]);
}

function deepText(random: Random, levels: number): RawJson {
  const kind = random.int(4);
  if (kind === 0) return new RawJson(`${'['.repeat(levels)}${']'.repeat(levels)}`);
  if (kind === 1) return new RawJson(`${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`);
  // Unbalanced: as deep, never closed (or closed wrong).
  if (kind === 2) return new RawJson('['.repeat(levels));
  return new RawJson(`${'[{"a":'.repeat(levels)}0${'}]'.repeat(levels)}`);
}

function randomValue(random: Random, depth = 0): Json {
  return random.weighted<() => Json>([
    [2, () => null],
    [2, () => random.chance(0.5)],
    [3, () => random.pick([0, -1, 1, 1.5, -2147483649, 2 ** 53, Number.MAX_SAFE_INTEGER, 1e21, 3])],
    [3, () => random.string(random.between(0, 12))],
    [2, () => random.pick(WEIRD_STRINGS)],
    [1, () => new RawJson(random.pick(NANISH))],
    [1, () => (depth > 2 ? [] : Array.from({ length: random.between(0, 3) }, () => randomValue(random, depth + 1)))],
    [1, () => (depth > 2 ? {} : Object.fromEntries(Array.from({ length: random.between(0, 3) }, () => [random.string(4), randomValue(random, depth + 1)])))],
  ])();
}

/** A value of another type than `value`. */
function retyped(value: Json, random: Random): Json {
  const options: Json[] = [null, true, false, 0, -1, 3.25, '', 'x', [], {}, [value], { value }];
  if (typeof value !== 'string') options.push(typeof value === 'object' && value !== null && !(value instanceof RawJson) ? serialize(value) : String(value));
  return random.pick(options.filter((option) => typeof option !== typeof value || Array.isArray(option) !== Array.isArray(value)));
}

// ---- JSON tree ---------------------------------------------------------------------------------------------

interface Slot {
  /** The object or array holding the value. */
  parent: JsonObject | Json[];
  key: string | number;
  path: string;
}

/** Every place in the tree that holds a value, to a bounded depth. */
function slots(root: Json, path = '$', depth = 0, out: Slot[] = []): Slot[] {
  if (depth > 8) return out;
  if (Array.isArray(root)) {
    root.forEach((item, index) => {
      out.push({ parent: root, key: index, path: `${path}[${index}]` });
      slots(item, `${path}[${index}]`, depth + 1, out);
    });
  } else if (isObject(root)) {
    for (const [key, item] of Object.entries(root)) {
      out.push({ parent: root, key, path: `${path}.${key}` });
      slots(item, `${path}.${key}`, depth + 1, out);
    }
  }
  return out;
}

function objects(root: Json, path = '$', depth = 0, out: Array<{ object: JsonObject; path: string }> = []): Array<{ object: JsonObject; path: string }> {
  if (depth > 8) return out;
  if (Array.isArray(root)) root.forEach((item, index) => objects(item, `${path}[${index}]`, depth + 1, out));
  else if (isObject(root)) {
    out.push({ object: root, path });
    for (const [key, item] of Object.entries(root)) objects(item, `${path}.${key}`, depth + 1, out);
  }
  return out;
}

function valueAt(slot: Slot): Json {
  return (Array.isArray(slot.parent) ? slot.parent[slot.key as number] : slot.parent[slot.key as string]) as Json;
}

function put(slot: Slot, value: Json): void {
  if (Array.isArray(slot.parent)) slot.parent[slot.key as number] = value;
  else slot.parent[slot.key as string] = value;
}

function treeMutation(change: (slot: Slot, random: Random, context: MutationContext) => string): Mutation {
  return (draft, random, context) => {
    if (draft.json === undefined) return undefined;
    const found = slots(draft.json);
    if (found.length === 0) return undefined;
    return change(random.pick(found), random, context);
  };
}

const dropField: Mutation = (draft, random) => {
  if (draft.json === undefined) return undefined;
  const found = slots(draft.json);
  if (found.length === 0) return undefined;
  const slot = random.pick(found);
  if (Array.isArray(slot.parent)) slot.parent.splice(slot.key as number, 1);
  else delete slot.parent[slot.key as string];
  return `drop ${slot.path}`;
};

const duplicateField: Mutation = (draft, random) => {
  if (draft.json === undefined) return undefined;
  const found = objects(draft.json).filter(({ object }) => Object.keys(object).length > 0);
  if (found.length === 0) return undefined;
  const { object, path } = random.pick(found);
  const key = random.pick(Object.keys(object));
  const again = random.chance(0.5) ? (object[key] as Json) : randomValue(random);
  DUPLICATE_ENTRIES.set(object, [...(DUPLICATE_ENTRIES.get(object) ?? []), [key, again]]);
  return `duplicate ${path}.${key} as ${serialize(again).slice(0, 60)}`;
};

const addField: Mutation = (draft, random) => {
  if (draft.json === undefined) return undefined;
  const found = objects(draft.json);
  if (found.length === 0) return undefined;
  const { object, path } = random.pick(found);
  const key = random.pick([
    '__proto__',
    'constructor',
    'prototype',
    '',
    'toString',
    'hasOwnProperty',
    'then',
    '_meta',
    'requestState',
    'inputResponses',
    'jsonrpc',
    'id',
    'method',
    random.string(8),
    'k'.repeat(10_000),
  ]);
  const value = randomValue(random);
  // `__proto__` as a plain assignment would set the prototype; JSON text makes it an own key, as a parser does.
  if (key === '__proto__') DUPLICATE_ENTRIES.set(object, [...(DUPLICATE_ENTRIES.get(object) ?? []), [key, value]]);
  else object[key] = value;
  return `add ${path}.${key.slice(0, 20)} = ${serialize(value).slice(0, 60)}`;
};

const retypeField = treeMutation((slot, random) => {
  const value = retyped(valueAt(slot), random);
  put(slot, value);
  return `retype ${slot.path} to ${serialize(value).slice(0, 60)}`;
});

const hugeField = treeMutation((slot, random) => {
  const size = hugeSize(random);
  put(slot, random.chance(0.8) ? hugeString(random, size) : Array.from({ length: Math.min(size / 4, 200_000) }, (_, i) => i));
  return `huge ${slot.path} (${size})`;
});

const deepField = treeMutation((slot, random) => {
  const levels = random.pick([64, 200, 1000, 5000, 20_000, 100_000]);
  put(slot, deepText(random, levels));
  return `deep ${slot.path} (${levels} levels)`;
});

const nanField = treeMutation((slot, random) => {
  const text = random.pick(NANISH);
  put(slot, new RawJson(text));
  return `number ${slot.path} = ${text}`;
});

const weirdField = treeMutation((slot, random) => {
  if (random.chance(0.3)) {
    const text = random.pick(BROKEN_STRINGS);
    put(slot, new RawJson(text));
    return `broken string ${slot.path} = ${JSON.stringify(text)}`;
  }
  const text = random.pick(WEIRD_STRINGS);
  const value = valueAt(slot);
  put(slot, typeof value === 'string' && random.chance(0.5) ? value + text : text);
  return `weird string ${slot.path} = ${JSON.stringify(text).slice(0, 60)}`;
});

const knownName = treeMutation((slot, random, context) => {
  const name = random.pick(context.names);
  put(slot, name);
  return `name ${slot.path} = ${name}`;
});

const wrongId: Mutation = (draft, random) => {
  if (!isObject(draft.json)) return undefined;
  const id = random.pick<Json>([
    null,
    true,
    {},
    [],
    1.5,
    -1,
    2 ** 64,
    '',
    'x'.repeat(100_000),
    new RawJson('NaN'),
    new RawJson('1e999'),
    { id: 1 },
    [1],
    0,
    'berth-ask-1',
    random.string(6),
  ]);
  if (random.chance(0.2)) delete draft.json.id;
  else draft.json.id = id;
  return `id = ${serialize(draft.json.id ?? null).slice(0, 40)}`;
};

// ---- bytes -------------------------------------------------------------------------------------------------

function bytesMutation(change: (body: Buffer, random: Random) => [Buffer, string]): Mutation {
  return (draft, random) => {
    const body = bodyOf(draft) ?? Buffer.alloc(0);
    const [changed, story] = change(body, random);
    draft.body = changed;
    draft.json = undefined;
    return story;
  };
}

const truncate = bytesMutation((body, random) => {
  const at = random.int(Math.max(1, body.length));
  return [body.subarray(0, at), `truncate body at ${at} of ${body.length}`];
});
const corrupt = bytesMutation((body, random) => {
  const out = Buffer.from(body);
  const times = random.between(1, 4);
  for (let i = 0; i < times && out.length > 0; i++) out[random.int(out.length)] = random.int(256);
  return [out, `corrupt ${times} bytes`];
});
const insertBytes = bytesMutation((body, random) => {
  const at = random.int(body.length + 1);
  const inserted = random.pick([
    Buffer.from([0xff, 0xfe]),
    Buffer.from([0xc0, 0xaf]),
    Buffer.from([0xed, 0xa0, 0x80]),
    Buffer.from([0]),
    Buffer.from('\r\n\r\n'),
    random.bytes(random.between(1, 32)),
  ]);
  return [Buffer.concat([body.subarray(0, at), inserted, body.subarray(at)]), `insert ${inserted.toString('hex')} at ${at}`];
});
const randomBody = bytesMutation((_body, random) => {
  const length = random.pick([0, 1, 2, 16, 300, 4096, 70_000]);
  return [random.bytes(length), `random body of ${length} bytes`];
});
const reshapeBody = bytesMutation((body, random) => {
  const kind = random.int(6);
  if (kind === 0) return [Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), body]), 'body with a BOM'];
  if (kind === 1) return [Buffer.concat([body, Buffer.from(random.pick([' garbage', '}', ']', '\u0000', ',{}']))]), 'trailing garbage'];
  if (kind === 2) return [Buffer.concat([Buffer.from('['), body, Buffer.from(']')]), 'body as a batch'];
  if (kind === 3) return [Buffer.concat([body, body]), 'body twice'];
  if (kind === 4)
    return [Buffer.from(random.pick(['null', 'true', '1', '"x"', '[]', '{}', '[[]]', '{"jsonrpc":"2.0"}'])), 'body replaced by a bare JSON value'];
  return [Buffer.from(body.toString('utf8'), 'utf16le'), 'body in UTF-16'];
});

// ---- headers -----------------------------------------------------------------------------------------------

const FLIPPABLE = [
  'Mcp-Method',
  'Mcp-Name',
  'MCP-Protocol-Version',
  'Mcp-Session-Id',
  SESSION_HEADER,
  'Content-Type',
  'Accept',
  'Authorization',
  'Last-Event-ID',
  'Mcp-Param-Region',
  'Host',
  'X-Amz-Date',
  'X-Amz-Content-Sha256',
  'Origin',
] as const;

function headerValue(name: (typeof FLIPPABLE)[number], random: Random, context: MutationContext): string {
  const common = (): string =>
    random.pick(['', ' ', 'x', random.string(40), 'a'.repeat(random.pick([300, 5000])), 'ä', '\u00ff\u00fe', 'null', 'undefined', '0']);
  switch (name) {
    case 'Mcp-Method':
      return random.chance(0.7)
        ? random.pick([
            'tools/call',
            'tools/list',
            'server/discover',
            'subscriptions/listen',
            'resources/read',
            'prompts/get',
            'initialize',
            'ping',
            'notifications/cancelled',
            'TOOLS/CALL',
            'tools/call ',
          ])
        : common();
    case 'Mcp-Name':
      return random.chance(0.6) ? random.pick([...context.names, '=?base64?aW5jcmVtZW50?=', '=?base64?!!!?=', '=?base64??=']) : common();
    case 'MCP-Protocol-Version':
      return random.pick(['2026-07-28', '2025-11-25', '2025-06-18', '2024-11-05', '1999-01-01', '2026-07-28, 2025-11-25', '2026-07-29', common()]);
    case 'Mcp-Session-Id':
    case SESSION_HEADER:
      return random.weighted<() => string>([
        [4, () => (context.sessionIds.length > 0 ? random.pick(context.sessionIds) : random.uuid())],
        [2, () => (context.mcpSessionIds.length > 0 ? random.pick(context.mcpSessionIds) : random.uuid())],
        [1, () => random.uuid()],
        [
          1,
          () =>
            random.pick([
              'short',
              'a'.repeat(32),
              'a'.repeat(33),
              'a'.repeat(256),
              'a'.repeat(257),
              `${random.uuid()} x`,
              `${random.uuid()}\t`,
              `${random.uuid()}é`,
              '../../../../etc/passwd-00000000000000000000',
            ]),
        ],
        [1, common],
      ])();
    case 'Content-Type':
      return random.pick([
        'text/plain',
        '',
        'application/json; charset=utf-16',
        'application/jsonx',
        'APPLICATION/JSON',
        'multipart/form-data; boundary=x',
        'application/json, text/html',
        'application/x-www-form-urlencoded',
        'application/x-amz-json-1.1',
        common(),
      ]);
    case 'Accept':
      return random.pick(['text/html', '', '*/*', 'application/json', 'text/event-stream', 'application/json;q=0', 'image/png', common()]);
    case 'Authorization':
      return random.pick([
        '',
        'Bearer',
        'Bearer ',
        `Bearer ${context.adminKey}`,
        `Bearer ${context.adminKey}x`,
        `Bearer ${context.adminKey.slice(0, -1)}`,
        'Bearer berth_0000000000000000000000000000000000000000',
        'Basic YWRtaW46YWRtaW4=',
        'AWS4-HMAC-SHA256 Credential=AKIDBERTHTEST0001/20260101/us-west-2/bedrock-agentcore/aws4_request, SignedHeaders=host, Signature=00',
        'AWS4-HMAC-SHA256 Credential=AKIDBERTHTEST0001/20260101/us-west-2/bedrock-agentcore/aws4_request, SignedHeaders=host;x-amz-date, Signature=' +
          '0'.repeat(64),
        'AWS4-HMAC-SHA256 ',
        'AWS4-HMAC-SHA256 Credential=//////, SignedHeaders=, Signature=' + 'f'.repeat(64),
        common(),
      ]);
    case 'X-Amz-Date':
      return random.pick(['20000101T000000Z', '99991231T235959Z', 'not-a-date', '', new Date().toISOString()]);
    case 'X-Amz-Content-Sha256':
      return random.pick(['UNSIGNED-PAYLOAD', '0'.repeat(64), 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', '', 'zz']);
    case 'Host':
      return random.pick(['localhost', '127.0.0.1:1', 'evil.example', '[::1]', 'localhost:99999', '', '127.0.0.1:1@evil.example', 'ä.example']);
    default:
      return common();
  }
}

const flipHeader: Mutation = (draft, random, context) => {
  const name = random.pick(FLIPPABLE);
  const value = headerValue(name, random, context);
  setHeader(draft, name, value);
  return `header ${name}: ${JSON.stringify(value.slice(0, 60))}`;
};

const dropHeader: Mutation = (draft, random) => {
  if (draft.headers.length === 0) return undefined;
  const [name] = random.pick(draft.headers);
  removeHeader(draft, name);
  return `drop header ${name}`;
};

const duplicateHeader: Mutation = (draft, random, context) => {
  const name = random.pick(FLIPPABLE);
  const first = header(draft, name) ?? headerValue(name, random, context);
  draft.headers.push([name, first], [name, headerValue(name, random, context)]);
  return `header ${name} twice`;
};

const hugeHeaders: Mutation = (draft, random) => {
  if (random.chance(0.5)) {
    const size = random.pick([8 * 1024, 15 * 1024, 17 * 1024, 64 * 1024]);
    draft.headers.push([random.pick(['X-Huge', 'Mcp-Name', 'Cookie', 'Mcp-Param-Region']), 'h'.repeat(size)]);
    return `one header of ${size} bytes`;
  }
  const count = random.pick([100, 1000, 3000]);
  for (let i = 0; i < count; i++) draft.headers.push([`X-Flood-${i}`, String(i)]);
  return `${count} headers`;
};

const oddHeader: Mutation = (draft, random) => {
  const [name, value] = random.pick<[string, string]>([
    ['X-Bad Name', 'x'],
    ['X-Nul', 'a\u0000b'],
    ['X-Newline', 'a\r\nInjected: yes'],
    ['X-Unicode', 'héllo 💥'],
    ['X-Latin1', '\u00e9\u00ff'],
    ['', 'empty name'],
    ['X-Tab', 'a\tb'],
    ['Transfer-Encoding', random.pick(['chunked', 'gzip', 'identity', 'chunked, chunked', 'xchunked'])],
    ['Expect', random.pick(['100-continue', 'nonsense'])],
    ['Connection', random.pick(['upgrade', 'keep-alive, close', 'TE'])],
    ['Upgrade', random.pick(['websocket', 'h2c'])],
    ['Content-Encoding', random.pick(['gzip', 'br', 'deflate', 'nonsense'])],
  ]);
  draft.headers.push([name, value]);
  // Headers that change how the connection itself is framed or kept belong to a connection of the request's own.
  if (CONNECTION_HEADERS.has(name.toLowerCase())) draft.raw = true;
  return `odd header ${JSON.stringify(name)}: ${JSON.stringify(value)}`;
};

const CONNECTION_HEADERS = new Set(['transfer-encoding', 'expect', 'connection', 'upgrade']);

/** Content-Length that does not count the body: only a connection of its own can carry that. */
const lyingLength: Mutation = (draft, random) => {
  const length = bodyOf(draft)?.length ?? 0;
  const lie = random.pick([
    String(Math.max(0, length - random.between(1, 10))),
    String(length + random.between(1, 100)),
    '-1',
    'abc',
    '99999999999999999999',
    '1e3',
    ` ${length}`,
    `${length}, ${length + 1}`,
    '0',
  ]);
  setHeader(draft, 'Content-Length', lie);
  draft.raw = true;
  return `Content-Length: ${lie} (body ${length})`;
};

const chunked: Mutation = (draft) => {
  draft.chunked = true;
  return 'chunked body';
};

// ---- path and query ----------------------------------------------------------------------------------------

const SEGMENTS = [
  '',
  '.',
  '..',
  '%2e%2e',
  '%2F',
  '%00',
  '%zz',
  '%',
  'é',
  '%C3%A9',
  '💥',
  'a'.repeat(300),
  'x'.repeat(5000),
  ';',
  '*',
  ':name',
  'mcp',
  'sessions',
  'DEFAULT',
  'invocations',
  'v1',
];

const pathSegment: Mutation = (draft, random) => {
  const [path, query] = splitTarget(draft.target);
  const parts = path.split('/');
  const at = random.between(1, Math.max(1, parts.length - 1));
  const kind = random.int(4);
  const segment = random.chance(0.5) ? random.pick(SEGMENTS) : random.string(random.between(1, 20), 'abcdefghijklmnopqrstuvwxyz0123456789-_.~%');
  if (kind === 0) parts[at] = segment;
  else if (kind === 1) parts.splice(at, 0, segment);
  else if (kind === 2) parts.splice(at, 1);
  else parts.push(segment);
  draft.target = parts.join('/') + query;
  return `path ${draft.target.slice(0, 120)}`;
};

const pathShape: Mutation = (draft, random) => {
  const [path, query] = splitTarget(draft.target);
  const shaped = random.pick([
    `${path}/`,
    `/${path}`,
    path.replaceAll('/', '//'),
    `${path}/../${path.split('/').pop() ?? ''}`,
    path.toUpperCase(),
    `${path}%20`,
    `${path}#frag`,
    `${path}?`,
    path.replace(/\/([^/]*)$/, '/./$1'),
  ]);
  draft.target = shaped + query;
  return `path ${draft.target.slice(0, 120)}`;
};

const QUERY_KEYS = [
  'endpoint',
  'limit',
  'next',
  'runtime',
  'tail',
  'qualifier',
  'accountId',
  'maxResults',
  'nextToken',
  'version',
  'clientToken',
  'X-Amz-Signature',
];

const query: Mutation = (draft, random) => {
  const key = random.pick(QUERY_KEYS);
  const value = random.pick([
    '',
    '0',
    '-1',
    '1',
    '1001',
    '1e9',
    'NaN',
    '3.5',
    'abc',
    'DEFAULT',
    'nope',
    'a'.repeat(2000),
    '%00',
    '%zz',
    'eyJsIjoicnVudGltZXMiLCJrIjoieiJ9',
    "' OR 1=1 --",
    random.string(12),
    '123456789012',
  ]);
  const [path, existing] = splitTarget(draft.target);
  const repeat = random.chance(0.2) ? `&${key}=${value}` : '';
  draft.target = `${path}${existing === '' ? '?' : `${existing}&`}${key}=${value}${repeat}`;
  return `query ${key}=${value.slice(0, 40)}${repeat ? ' (twice)' : ''}`;
};

const method: Mutation = (draft, random) => {
  draft.method = random.pick(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'post', 'TRACE', 'PROPFIND', 'CONNECT', 'G3T']);
  // Methods node:http or fetch take apart before any handler runs go on a connection of their own.
  if (!['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'].includes(draft.method)) draft.raw = true;
  return `method ${draft.method}`;
};

function splitTarget(target: string): [string, string] {
  const at = target.indexOf('?');
  return at === -1 ? [target, ''] : [target.slice(0, at), target.slice(at)];
}

// ---- choosing ----------------------------------------------------------------------------------------------

/** Mutations and how often each is drawn; JSON-tree ones do nothing to a request without a JSON body. */
const MUTATIONS: ReadonlyArray<readonly [number, Mutation]> = [
  [6, dropField],
  [3, duplicateField],
  [3, addField],
  [6, retypeField],
  [2, hugeField],
  [2, deepField],
  [3, nanField],
  [4, weirdField],
  [3, knownName],
  [3, wrongId],
  [2, truncate],
  [2, corrupt],
  [1, insertBytes],
  [1, randomBody],
  [2, reshapeBody],
  [8, flipHeader],
  [3, dropHeader],
  [2, duplicateHeader],
  [0.7, hugeHeaders],
  [1.5, oddHeader],
  [1, lyingLength],
  [1, chunked],
  [2, pathSegment],
  [1, pathShape],
  [2, query],
  [1, method],
];

/** Applies `count` mutations (retrying ones that do not apply), each told in the draft's story. */
export function mutate(draft: Draft, random: Random, context: MutationContext, count: number): void {
  let applied = 0;
  for (let tries = 0; applied < count && tries < count * 5; tries++) {
    const story = random.weighted(MUTATIONS)(draft, random, context);
    if (story === undefined) continue;
    draft.story.push(story);
    applied++;
  }
  // node:http refuses to send some headers (control characters, bad names): those go on a connection of their own.
  if (!draft.raw && !headersSendable(draft.headers)) draft.raw = true;
}

export function headersSendable(headers: ReadonlyArray<readonly [string, string]>): boolean {
  try {
    for (const [name, value] of headers) {
      validateHeaderName(name);
      validateHeaderValue(name, value);
      // node:http writes header values as latin1: anything past U+00FF would go out mangled, not as sent.
      if (/[^\u0000-\u00ff]/.test(value)) return false;
    }
    return true;
  } catch {
    return false;
  }
}
