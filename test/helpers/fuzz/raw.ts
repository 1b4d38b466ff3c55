/**
 * Malformed HTTP/1.1 for a bare TCP connection: bad request lines and versions, invalid header names and values,
 * huge headers and floods of them, Content-Length and Transfer-Encoding that disagree, bad chunk sizes, truncated
 * bodies, pipelined requests, garbage bytes and connections closed early. Each is built around a request berth
 * would take, so the parser is reached with something close to real.
 */
import type { Random } from './random.ts';
import type { Draft } from './request.ts';
import type { World } from './surfaces.ts';

const MODERN_CALL = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: {
    name: 'get_count',
    arguments: {},
    _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} },
  },
});

interface Base {
  method: string;
  path: string;
  headers: string[];
  body: string;
}

function base(random: Random, world: World): Base {
  const target = random.pick(world.targets);
  const session = random.pick(target.sessions);
  return random.pick<() => Base>([
    () => ({
      method: 'POST',
      path: `/runtimes/${target.name}/mcp`,
      headers: [
        'Content-Type: application/json',
        'Accept: application/json, text/event-stream',
        'MCP-Protocol-Version: 2026-07-28',
        'Mcp-Method: tools/call',
        'Mcp-Name: get_count',
        `X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: ${session}`,
      ],
      body: MODERN_CALL,
    }),
    () => ({ method: 'GET', path: '/healthz', headers: [], body: '' }),
    () => ({ method: 'GET', path: '/v1/runtimes?limit=2', headers: [`Authorization: Bearer ${world.adminKey}`], body: '' }),
    () => ({
      method: 'PUT',
      path: `/v1/runtimes/${random.pick(world.v1Names)}`,
      headers: [`Authorization: Bearer ${world.adminKey}`, 'Content-Type: application/json'],
      body: JSON.stringify({ artifactId: world.artifacts[0], command: 'node server.js stdio', transport: 'stdio' }),
    }),
    () => ({
      method: 'POST',
      path: `/runtimes/${encodeURIComponent(target.arn)}/invocations`,
      headers: ['Content-Type: application/json', `X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: ${session}`],
      body: MODERN_CALL,
    }),
    () => ({ method: 'POST', path: '/runtimes/', headers: ['Content-Type: application/json'], body: '{}' }),
    () => ({
      method: 'POST',
      path: '/v1/artifacts',
      headers: [`Authorization: Bearer ${world.adminKey}`, 'Content-Type: application/octet-stream'],
      body: 'not a tar',
    }),
  ])();
}

function head(method: string, path: string, version: string, host: string, headers: string[]): string {
  return `${method} ${path} ${version}\r\nHost: ${host}\r\n${headers.map((line) => `${line}\r\n`).join('')}`;
}

/** A whole request: head, Content-Length, body. */
function whole(b: Base, host: string, extra: string[] = []): string {
  return `${head(b.method, b.path, 'HTTP/1.1', host, [...b.headers, ...extra, `Content-Length: ${Buffer.byteLength(b.body)}`])}\r\n${b.body}`;
}

function chunk(text: string): string {
  return `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`;
}

type Template = (random: Random, b: Base, host: string) => [string | Buffer, string, number?];

const TEMPLATES: ReadonlyArray<readonly [number, Template]> = [
  [
    2,
    (random, b, host) => {
      const line = random.pick([
        `${b.method}\r\n`,
        `${b.method} ${b.path}\r\n`,
        `${b.method} ${b.path} HTTP/1.1 extra\r\n`,
        `${b.method}  ${b.path}  HTTP/1.1\r\n`,
        `G@T ${b.path} HTTP/1.1\r\n`,
        `${b.method.toLowerCase()} ${b.path} HTTP/1.1\r\n`,
        `${'A'.repeat(5000)} / HTTP/1.1\r\n`,
        `${b.method} http://evil.example${b.path} HTTP/1.1\r\n`,
        `OPTIONS * HTTP/1.1\r\n`,
        `${b.method} ${b.path}\u0000 HTTP/1.1\r\n`,
        `\r\n\r\n${b.method} ${b.path} HTTP/1.1\r\n`,
        `${b.method} /${'a'.repeat(70_000)} HTTP/1.1\r\n`,
      ]);
      return [`${line}Host: ${host}\r\n\r\n`, `request line ${JSON.stringify(line.slice(0, 80))}`];
    },
  ],
  [
    2,
    (random, b, host) => {
      const version = random.pick(['HTTP/9.9', 'HTTP/1.0', 'HTTP/0.9', 'HTTP/2.0', 'HTTP/1.1.1', 'HTTP/1', 'HTTPS/1.1', 'http/1.1', 'HTTP/1.10', '']);
      return [`${head(b.method, b.path, version, host, b.headers)}Content-Length: ${Buffer.byteLength(b.body)}\r\n\r\n${b.body}`, `version ${version}`];
    },
  ],
  [
    3,
    (random, b, host) => {
      const bad = random.pick([
        'Bad Header: x',
        'X-Nul: a\u0000b',
        'X-Ctl: a\u0001b',
        ': no name',
        'NoColon',
        ' Leading-Space: x',
        'X-Fold: a\r\n continued',
        'X-Fold:\r\n\tcontinued',
        'X-Unicode: héllo',
        'X-Emoji: 💥',
        'Host: second.example',
        'Content-Type:',
        'X-Del: \u007f',
        `X-Long-Name-${'n'.repeat(10_000)}: v`,
        'X-CR: a\rb',
        'X-LF-Only: a\nX-Injected: b',
      ]);
      return [whole(b, host, [bad]), `header ${JSON.stringify(bad.slice(0, 60))}`];
    },
  ],
  [
    2,
    (random, b, host) => {
      if (random.chance(0.5)) {
        const size = random.pick([8 * 1024, 16 * 1024, 17 * 1024, 80 * 1024, 1024 * 1024]);
        return [whole(b, host, [`X-Huge: ${'h'.repeat(size)}`]), `one header of ${size} bytes`];
      }
      const count = random.pick([200, 2000, 10_000]);
      return [
        whole(
          b,
          host,
          Array.from({ length: count }, (_, i) => `X-Flood-${i}: ${i}`),
        ),
        `${count} headers`,
      ];
    },
  ],
  [
    3,
    (random, b, host) => {
      const length = Buffer.byteLength(b.body);
      const [headers, body, story] = random.pick<[string[], string, string]>([
        [[`Content-Length: ${length}`, 'Transfer-Encoding: chunked'], `${chunk(b.body)}0\r\n\r\n`, 'Content-Length and chunked'],
        [[`Content-Length: ${length}`, `Content-Length: ${length + 5}`], b.body, 'two Content-Lengths'],
        [[`Content-Length: ${length}, ${length}`], b.body, 'Content-Length listed twice'],
        [['Content-Length: -1'], b.body, 'negative Content-Length'],
        [['Content-Length: abc'], b.body, 'Content-Length not a number'],
        [['Content-Length: 99999999999999999999999'], b.body, 'Content-Length past any integer'],
        [['Content-Length: 0x10'], b.body, 'Content-Length in hex'],
        [['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'], `${chunk(b.body)}0\r\n\r\n`, 'chunked twice'],
        [['Transfer-Encoding: gzip, chunked'], `${chunk(b.body)}0\r\n\r\n`, 'gzip, chunked'],
        [['Transfer-Encoding: chunked, gzip'], `${chunk(b.body)}0\r\n\r\n`, 'chunked, gzip'],
        [['Transfer-Encoding: xchunked'], b.body, 'xchunked'],
        [['Transfer-Encoding:  chunked'], `${chunk(b.body)}0\r\n\r\n`, 'chunked after spaces'],
        [['Transfer-Encoding: identity'], b.body, 'identity'],
      ]);
      return [`${head(b.method, b.path, 'HTTP/1.1', host, [...b.headers, ...headers])}\r\n${body}`, story];
    },
  ],
  [
    3,
    (random, b, host) => {
      const [body, story] = random.pick<[string, string]>([
        [`zz\r\n${b.body}\r\n0\r\n\r\n`, 'chunk size zz'],
        [`-1\r\n${b.body}\r\n0\r\n\r\n`, 'chunk size -1'],
        [`ffffffffffffffffff\r\n${b.body}\r\n0\r\n\r\n`, 'chunk size past 64 bits'],
        [`7fffffff\r\n${b.body}\r\n0\r\n\r\n`, 'chunk size far past the body'],
        [`${chunk(b.body).replace('\r\n', ';ext=1;x="y"\r\n')}0\r\n\r\n`, 'chunk extensions'],
        [`${chunk(b.body).replace('\r\n', `;${'e'.repeat(20_000)}\r\n`)}0\r\n\r\n`, 'a huge chunk extension'],
        [`1\r\n${b.body}\r\n0\r\n\r\n`, 'chunk longer than its size'],
        [`${Buffer.byteLength(b.body).toString(16)}\r\n${b.body}0\r\n\r\n`, 'chunk without its CRLF'],
        [`${chunk(b.body)}0\r\nX-Trailer: yes\r\nContent-Length: 5\r\n\r\n`, 'trailers'],
        [`${chunk(b.body)}`, 'no last chunk'],
        [`${Array.from({ length: 2000 }, () => '1\r\n \r\n').join('')}0\r\n\r\n`, '2000 one-byte chunks'],
        [`${chunk(b.body)}0\r\n\r\n`, 'chunked, well formed'],
      ]);
      return [`${head(b.method, b.path, 'HTTP/1.1', host, [...b.headers, 'Transfer-Encoding: chunked'])}\r\n${body}`, story];
    },
  ],
  [
    2,
    (random, b, host) => {
      const length = Buffer.byteLength(b.body);
      const sent = random.int(Math.max(1, length));
      // Kept open without the rest: berth's body timeout answers it (or the fuzzer closes it first).
      return [
        `${head(b.method, b.path, 'HTTP/1.1', host, [...b.headers, `Content-Length: ${length + random.pick([0, 100, 100_000])}`])}\r\n${b.body.slice(0, sent)}`,
        `truncated body, ${sent} bytes sent`,
        random.pick([50, 300, 2500]),
      ];
    },
  ],
  [
    3,
    (random, b, host) => {
      const count = random.between(2, 10);
      const parts: string[] = [];
      for (let i = 0; i < count; i++) {
        parts.push(
          random.weighted<() => string>([
            [5, () => whole(b, host, i === count - 1 ? ['Connection: close'] : [])],
            [2, () => `GET /healthz HTTP/1.1\r\nHost: ${host}\r\n\r\n`],
            [1, () => 'GARBAGE\r\n\r\n'],
            [1, () => `${head(b.method, b.path, 'HTTP/1.1', host, [...b.headers, 'Content-Length: 3'])}\r\n${b.body}`],
          ])(),
        );
      }
      return [parts.join(''), `${count} pipelined requests`];
    },
  ],
  [
    2,
    (random) => {
      const [bytes, story] = random.pick<[Buffer, string]>([
        [random.bytes(random.pick([1, 16, 512, 8192])), 'random bytes'],
        [Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), 'the HTTP/2 preface'],
        [Buffer.from('1603010200010001fc0303', 'hex'), 'a TLS ClientHello'],
        [Buffer.from('\r\n'.repeat(5000)), 'empty lines'],
        [Buffer.from('\u0000'.repeat(1000)), 'NUL bytes'],
        [Buffer.from('SSH-2.0-OpenSSH_9.6\r\n'), 'an SSH banner'],
      ]);
      return [bytes, story];
    },
  ],
  [
    2,
    (random, b, host) => {
      const full = whole(b, host);
      const at = random.int(full.length);
      return [full.slice(0, at), `closed after ${at} of ${full.length} bytes`, random.pick([0, 5, 50])];
    },
  ],
  [
    1,
    (random, b, host) => {
      const extra = random.pick([
        'Expect: 100-continue',
        'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13',
        'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA',
        'Expect: nonsense',
      ]);
      return [whole(b, host, [extra]), `with ${extra.split('\r\n')[0]}`];
    },
  ],
];

/** One raw connection's worth of bytes, how it was made, and when to close (undefined: when berth does). */
export function rawRequest(random: Random, world: World): Draft {
  const b = base(random, world);
  const [bytes, story, closeAfterMs] = random.weighted(TEMPLATES)(random, b, world.host);
  return {
    surface: 'raw',
    method: b.method,
    target: b.path,
    headers: [],
    bytes: typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes,
    raw: true,
    ...(closeAfterMs === undefined ? {} : { closeAfterMs }),
    story: [`raw ${b.method} ${b.path.slice(0, 80)}: ${story}`],
  };
}
