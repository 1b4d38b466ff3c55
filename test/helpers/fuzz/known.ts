/**
 * Failures the fuzzer found whose cause is in code that was not the fuzzer's to change when it was written (the legacy
 * facade, the JSON-RPC message check, the supervisor). Each is matched exactly, by what was sent and what came back,
 * so that nothing else hides behind it; fuzz.test.ts reports them in a test marked todo, which shows them on every run
 * without failing CI. When one is fixed its entry goes, and the fuzzer's main assertions cover it again.
 */
import { bodyOf, isObject, type Answer, type Draft, type Json } from './request.ts';

export interface KnownFinding {
  name: string;
  /** Where the cause is, and a request that shows it alone. */
  cause: string;
  matches(draft: Draft, answer: Answer, why: string): boolean;
}

function messageOf(draft: Draft): Json | undefined {
  const body = bodyOf(draft);
  if (body === undefined) return undefined;
  try {
    return JSON.parse(body.toString('utf8')) as Json;
  } catch {
    return undefined;
  }
}

/** What undici's Headers take as a value, and no bigger than a node:http server (the supervisor's) reads: 16 KiB. */
function fitsHeader(value: string): boolean {
  return value.length < 12 * 1024 && /^[\t\x20-\x7e\x80-\xff]*$/.test(value) && value.trim() === value;
}

const JSON_RPC_MEMBERS = new Set(['jsonrpc', 'id', 'method', 'params', 'result', 'error']);

export const KNOWN_FINDINGS: readonly KnownFinding[] = [
  {
    name: 'a legacy client\'s malformed initialize answers 502 sandbox_failed',
    cause:
      'src/edge/mcp/legacy-facade.ts #initialize passes the client\'s id, params.clientInfo and params.capabilities unchecked into the ' +
      'server/discover it sends; the server refuses that request and the facade reports the refusal as the sandbox failing ("did not describe ' +
      'itself"). Alone: POST /runtimes/R/mcp {"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",' +
      '"capabilities":{},"clientInfo":false}} -> 502 (so do "capabilities":"x", "clientInfo":{"name":[],"version":"1"}, and "id":1.5 to an HTTP server)',
    matches: (_draft, answer) => answer.status === 502 && /did not describe itself/.test(answer.body),
  },
  {
    name: 'a legacy client\'s method or tool name that cannot be a header fails its request as berth\'s internal error',
    cause:
      'src/edge/mcp/legacy-facade.ts #modernCall copies the body\'s method into Mcp-Method unchecked (a method holding CR/LF or characters past ' +
      'U+00FF makes new Headers() throw: internal) and the tool name into Mcp-Name unbounded (3 MB of name: the supervisor answers 431 or ' +
      'resets, sandbox_failed/unavailable or EPIPE internal). Alone, after initialize: POST with Mcp-Session-Id ' +
      '{"jsonrpc":"2.0","id":2,"method":"ping\\u202e","params":{}} -> 200 carrying -32603 internal',
    matches: (draft, answer, why) => {
      const message = messageOf(draft);
      if (!isObject(message) || !/internal|sandbox_failed|sandbox_unavailable/.test(why + answer.body)) return false;
      const params = isObject(message.params) ? message.params : {};
      const named = [message.method, params.name, params.uri].filter((value): value is string => typeof value === 'string');
      return named.some((value) => !fitsHeader(value));
    },
  },
  {
    name: 'a request a stdio server drops as malformed is never answered',
    cause:
      'src/mcp/jsonrpc.ts asJsonRpcMessage accepts members JSON-RPC does not have and any _meta.progressToken; the SDK\'s stdio transport drops ' +
      'such a message without a word and the supervisor (src/supervisor/stdio-peer.ts, and the legacy bridge) waits for its answer forever. ' +
      'Alone: POST /runtimes/R/mcp (a modern stdio server) tools/call get_count with a top-level "extra":1, or with ' +
      '_meta.progressToken {"a":1} -> no answer until the client gives up',
    matches: (draft, answer) => {
      if (answer.ending !== 'timeout') return false;
      const message = messageOf(draft);
      if (!isObject(message)) return false;
      const extra = Object.keys(message).some((key) => !JSON_RPC_MEMBERS.has(key));
      const meta = isObject(message.params) && isObject(message.params._meta) ? message.params._meta : {};
      const token = meta.progressToken;
      return extra || (token !== undefined && typeof token !== 'string' && typeof token !== 'number');
    },
  },
  {
    name: 'a bridged stdio server\'s question lost to a call that ends first leaves the asking call unanswered',
    cause:
      'src/supervisor/legacy (the stdio bridge) gives a server\'s question to the call started last; when that call then ends with its own ' +
      'result, the question is dropped: the server waits for its answer forever, and the call that asked never answers, not even at ' +
      'BERTH_INPUT_TIMEOUT_MS. Alone, on a legacy stdio runtime: one session, tools/call ask_roots and tools/call increment sent at the same ' +
      'instant (roots in clientCapabilities) -> increment answers, ask_roots never does',
    matches: (draft, answer) => {
      if (answer.ending !== 'timeout' || !/\/runtimes\/(legacy|arn[^/]*legacy-[^/]*)\//.test(draft.target)) return false;
      const message = messageOf(draft);
      const params = isObject(message) && isObject(message.params) ? message.params : {};
      return isObject(message) && message.method === 'tools/call' && typeof params.name === 'string' && params.name.startsWith('ask_');
    },
  },
];

/** The known finding a failure is, if any. */
export function knownFinding(draft: Draft, answer: Answer, why: string): KnownFinding | undefined {
  return KNOWN_FINDINGS.find((finding) => finding.matches(draft, answer, why));
}
