/**
 * Well-formed requests of each of berth's surfaces, the fuzzer's starting points: 2026-07-28 MCP, a legacy client's
 * session, the `/v1` control API, AgentCore's control and data planes. Each reads what the run has learned (session
 * ids, legacy Mcp-Session-Ids, requestStates, runtime ids) so that a mutation lands next to something real, and
 * teaches the run from its answers.
 *
 * What the generators never make: calls to tools that end or hold a server (`crash`, `wait`, `gate_wait`, `slow`,
 * `hog_memory`, `fork_bomb`), runtimes or endpoints beyond a few fixed names, and writes to the runtimes the
 * fuzzer calls (`guard` below keeps mutations from making any of them).
 */
import type { Random } from './random.ts';
import { isObject, SESSION_HEADER, type Answer, type Draft, type Json, type JsonObject, type Surface } from './request.ts';

const MODERN = '2026-07-28';
const LEGACY_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05'];

/** A runtime the fuzzer calls, with the tools that are safe to call on it and their well-formed arguments. */
export interface Target {
  name: string;
  /** Its AgentCore ARN. */
  arn: string;
  /** A small fixed pool, so most requests reuse the same sandboxes. */
  sessions: string[];
  tools: Readonly<Record<string, JsonObject>>;
}

/** A legacy client's MCP session, as an `initialize` answer gave it. */
export interface LegacyClient {
  runtime: string;
  mcpSessionId: string;
  version: string;
}

/** An `input_required` answer a retry may carry back: its requestState, and the keys of the questions it asked. */
export interface HeldState {
  runtime: string;
  session: string;
  tool: string;
  args: JsonObject;
  requestState: string;
  keys: string[];
}

/** Everything the generators know; the learned parts grow (bounded) as answers come. */
export interface World {
  adminKey: string;
  host: string;
  targets: Target[];
  /** Runtime names `/v1` may deploy, change and delete. */
  v1Names: readonly string[];
  /** Runtime names AgentCore's control plane may create; their ids once made. */
  agentcoreNames: readonly string[];
  agentcoreIds: Map<string, string>;
  /** Endpoint names either API may create. */
  endpointNames: readonly string[];
  /** Artifacts in the store, the first the counter fixture. */
  artifacts: string[];
  /** A small valid gzipped tar, to upload. */
  tinyArtifact: Buffer;
  keyIds: string[];
  legacyClients: LegacyClient[];
  heldStates: HeldState[];
  /** Names of the fuzzer's runtimes and their ids, which no mutation may write to. */
  protectedNames: Set<string>;
}

/** Keeps a learned list bounded: the newest `max` stay. */
function remember<T>(list: T[], item: T, max = 16): void {
  list.push(item);
  if (list.length > max) list.splice(0, list.length - max);
}

function answerJson(answer: Answer): unknown {
  const text = answer.body.trim();
  if (text.startsWith('{')) {
    try {
      return JSON.parse(text);
    } catch {
      return undefined;
    }
  }
  // An SSE answer: the last data line that parses.
  const data = text.split(/\r?\n/).filter((line) => line.startsWith('data:'));
  for (const line of data.reverse()) {
    try {
      return JSON.parse(line.slice(5));
    } catch {
      // a cut event; try the one before
    }
  }
  return undefined;
}

function pickSession(random: Random, target: Target): string | undefined {
  return random.weighted<() => string | undefined>([
    [30, () => random.pick(target.sessions)],
    // A fresh id, or none (berth mints one): both make a session, which BERTH_MAX_SESSIONS bounds.
    [1, () => random.uuid()],
    [1, () => undefined],
  ])();
}

function draft(surface: Surface, method: string, target: string, headers: Array<[string, string]>, story: string): Draft {
  return { surface, method, target, headers, story: [story] };
}

// ---- MCP 2026-07-28 ----------------------------------------------------------------------------------------

function modernEnvelope(capabilities: JsonObject = {}): JsonObject {
  return { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': capabilities };
}

/** A 2026-07-28 request's headers and body, the way the official client sends it. */
function modernRequest(
  random: Random,
  target: Target,
  session: string | undefined,
  method: string,
  params: JsonObject,
  name?: string,
): { headers: Array<[string, string]>; json: JsonObject; path: string } {
  const headers: Array<[string, string]> = [
    ['Content-Type', 'application/json'],
    ['Accept', 'application/json, text/event-stream'],
    ['MCP-Protocol-Version', MODERN],
    ['Mcp-Method', method],
  ];
  if (name !== undefined) headers.push(['Mcp-Name', name]);
  const inUrl = session !== undefined && random.chance(0.2);
  if (session !== undefined && !inUrl) headers.push([SESSION_HEADER, session]);
  const path = inUrl ? `/runtimes/${target.name}/sessions/${session}/mcp` : `/runtimes/${target.name}/mcp`;
  return { headers, json: { jsonrpc: '2.0', id: random.between(1, 1_000_000), method, params }, path };
}

export function mcpRequest(random: Random, world: World): Draft {
  const target = random.pick(world.targets);
  const session = pickSession(random, target);
  const capabilities: JsonObject = random.chance(0.7) ? { elicitation: { form: {}, url: {} }, sampling: {}, roots: { listChanged: true } } : {};
  const kind = random.weighted<string>([
    [10, 'tools/call'],
    [3, 'tools/list'],
    [2, 'server/discover'],
    [1, 'subscriptions/listen'],
    [2, 'resources'],
    [1, 'prompts'],
    [3, 'retry'],
    [2, 'notification'],
    [1, 'response'],
  ]);
  if (kind === 'retry') return retryRequest(random, world, target);
  if (kind === 'notification') {
    const method = random.pick(['notifications/cancelled', 'notifications/progress', 'notifications/initialized', 'notifications/roots/list_changed']);
    const { headers, path } = modernRequest(random, target, session, method, {});
    const params: JsonObject =
      method === 'notifications/cancelled'
        ? { requestId: random.between(1, 1_000_000), reason: 'fuzz' }
        : method === 'notifications/progress'
          ? { progressToken: 't', progress: 1 }
          : {};
    return {
      ...draft('mcp', 'POST', path, headers, `mcp ${method} on ${target.name}`),
      json: { jsonrpc: '2.0', method, params: { ...params, _meta: modernEnvelope() } },
    };
  }
  if (kind === 'response') {
    const { headers, path } = modernRequest(random, target, session, 'tools/call', {});
    return {
      ...draft('mcp', 'POST', path, headers, `mcp response on ${target.name}`),
      json: { jsonrpc: '2.0', id: random.between(1, 100), result: { action: 'accept', content: {}, _meta: modernEnvelope() } },
    };
  }
  let method = kind;
  let params: JsonObject = {};
  let name: string | undefined;
  if (kind === 'tools/call') {
    name = random.pick(Object.keys(target.tools));
    params = { name, arguments: structuredClone(target.tools[name] as JsonObject) };
  } else if (kind === 'subscriptions/listen') {
    params = { notifications: { toolsListChanged: true, resourcesListChanged: true, resourceSubscriptions: ['counter://value'] } };
  } else if (kind === 'resources') {
    method = random.pick(['resources/list', 'resources/read', 'resources/templates/list']);
    if (method === 'resources/read') {
      name = 'counter://value';
      params = { uri: name };
    }
  } else if (kind === 'prompts') {
    method = random.pick(['prompts/list', 'prompts/get']);
    if (method === 'prompts/get') {
      name = random.string(6);
      params = { name, arguments: {} };
    }
  }
  params._meta = modernEnvelope(capabilities);
  if (random.chance(0.2)) (params._meta as JsonObject)['io.modelcontextprotocol/logLevel'] = random.pick(['debug', 'info', 'error']);
  if (random.chance(0.2)) (params._meta as JsonObject).progressToken = random.between(1, 99);
  const built = modernRequest(random, target, session, method, params, name);
  if (name === 'where') built.headers.push(['Mcp-Param-Region', String((target.tools.where as JsonObject).region)]);
  const out = {
    ...draft('mcp', 'POST', built.path, built.headers, `mcp ${method}${name ? ` ${name}` : ''} on ${target.name} session ${session ?? '(none)'}`),
    json: built.json,
  };
  if (method === 'tools/call' && name !== undefined) {
    const tool = name;
    const args = params.arguments as JsonObject;
    out.learn = (answer) => {
      const result = (answerJson(answer) as { result?: { resultType?: string; requestState?: string; inputRequests?: Record<string, unknown> } } | undefined)
        ?.result;
      const served = answer.headers[SESSION_HEADER.toLowerCase()];
      if (result?.resultType === 'input_required' && typeof result.requestState === 'string' && served !== undefined) {
        remember(world.heldStates, {
          runtime: target.name,
          session: served,
          tool,
          args,
          requestState: result.requestState,
          keys: Object.keys(result.inputRequests ?? {}),
        });
      }
    };
  }
  return out;
}

/** A retry carrying inputResponses and a requestState berth handed out (or one it never did). */
function retryRequest(random: Random, world: World, fallback: Target): Draft {
  const held = world.heldStates.length > 0 && random.chance(0.85) ? random.pick(world.heldStates) : undefined;
  const target = world.targets.find((t) => t.name === held?.runtime) ?? fallback;
  const tool = held?.tool ?? 'ask_name';
  const responses: JsonObject = {};
  for (const key of held?.keys.length ? held.keys : [random.string(8)]) {
    responses[key] = random.pick<Json>([
      { action: 'accept', content: { name: 'fuzz', a: 'x', b: 'y' } },
      { action: 'decline' },
      { action: 'cancel' },
      { role: 'assistant', content: { type: 'text', text: 'hi' }, model: 'fuzz' },
      { roots: [{ uri: 'file:///tmp', name: 'tmp' }] },
    ]);
  }
  const params: JsonObject = {
    name: tool,
    arguments: structuredClone(held?.args ?? {}),
    inputResponses: responses,
    requestState: held?.requestState ?? random.pick(['', 'AAAA', random.string(200, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_')]),
    _meta: modernEnvelope({ elicitation: { form: {}, url: {} }, sampling: {}, roots: {} }),
  };
  const session = held && random.chance(0.7) ? held.session : undefined;
  const built = modernRequest(random, target, session, 'tools/call', params, tool);
  return {
    ...draft('mcp', 'POST', built.path, built.headers, `mcp retry ${tool} on ${target.name} with ${held ? 'a held' : 'an invented'} requestState`),
    json: built.json,
  };
}

// ---- legacy clients ----------------------------------------------------------------------------------------

export function legacyRequest(random: Random, world: World): Draft {
  const client = world.legacyClients.length > 0 && random.chance(0.8) ? random.pick(world.legacyClients) : undefined;
  if (!client) return initializeRequest(random, world);
  const target = world.targets.find((t) => t.name === client.runtime) ?? random.pick(world.targets);
  const headers: Array<[string, string]> = [
    ['Content-Type', 'application/json'],
    ['Accept', 'application/json, text/event-stream'],
    ['Mcp-Session-Id', client.mcpSessionId],
    ['MCP-Protocol-Version', client.version],
  ];
  const path = `/runtimes/${target.name}/mcp`;
  const kind = random.weighted<string>([
    [8, 'tools/call'],
    [3, 'tools/list'],
    [2, 'GET'],
    [1, 'DELETE'],
    [2, 'resources/subscribe'],
    [1, 'resources/unsubscribe'],
    [2, 'logging/setLevel'],
    [1, 'ping'],
    [1, 'notifications/initialized'],
    [1, 'notifications/cancelled'],
    [2, 'response'],
    [1, 'initialize'],
  ]);
  const story = `legacy ${kind} on ${target.name} as ${client.mcpSessionId}`;
  if (kind === 'GET' || kind === 'DELETE') {
    return {
      ...draft(
        'legacy',
        kind,
        path,
        headers.filter(([name]) => name !== 'Content-Type'),
        story,
      ),
      learn: kind === 'DELETE' ? () => forget(world, client) : undefined,
    };
  }
  const id = random.between(1, 1_000_000);
  let json: JsonObject;
  switch (kind) {
    case 'tools/call': {
      // The legacy fixture's questions arrive on this POST's stream; the fuzzer answers the first one (see `answerAsk`).
      const name = random.pick(Object.keys(target.tools));
      json = { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: structuredClone(target.tools[name] as JsonObject) } };
      break;
    }
    case 'resources/subscribe':
    case 'resources/unsubscribe':
      json = { jsonrpc: '2.0', id, method: kind, params: { uri: random.pick(['counter://value', `counter://${random.string(6)}`]) } };
      break;
    case 'logging/setLevel':
      json = { jsonrpc: '2.0', id, method: kind, params: { level: random.pick(['debug', 'info', 'warning', 'error', 'emergency']) } };
      break;
    case 'notifications/initialized':
      json = { jsonrpc: '2.0', method: kind };
      break;
    case 'notifications/cancelled':
      json = { jsonrpc: '2.0', method: kind, params: { requestId: random.between(1, 1_000_000) } };
      break;
    case 'response':
      json = { jsonrpc: '2.0', id: random.pick<Json>([random.string(8), random.between(0, 50)]), result: { action: 'accept', content: { name: 'fuzz' } } };
      break;
    case 'initialize':
      json = initializeBody(random, client.version, id);
      break;
    default:
      json = { jsonrpc: '2.0', id, method: kind, params: {} };
  }
  return { ...draft('legacy', 'POST', path, headers, story), json };
}

function initializeBody(random: Random, version: string, id: number): JsonObject {
  return {
    jsonrpc: '2.0',
    id,
    method: 'initialize',
    params: {
      protocolVersion: version,
      capabilities: random.chance(0.7) ? { elicitation: {}, sampling: {}, roots: { listChanged: true } } : {},
      clientInfo: { name: 'fuzz', version: '1.0.0' },
    },
  };
}

function initializeRequest(random: Random, world: World): Draft {
  const target = random.pick(world.targets);
  const version = random.pick(LEGACY_VERSIONS);
  const session = pickSession(random, target);
  const headers: Array<[string, string]> = [
    ['Content-Type', 'application/json'],
    ['Accept', 'application/json, text/event-stream'],
  ];
  if (session !== undefined) headers.push([SESSION_HEADER, session]);
  return {
    ...draft('legacy', 'POST', `/runtimes/${target.name}/mcp`, headers, `legacy initialize ${version} on ${target.name} session ${session ?? '(none)'}`),
    json: initializeBody(random, version, random.between(1, 1_000_000)),
    learn: (answer) => {
      const id = answer.headers['mcp-session-id'];
      if (answer.status === 200 && id !== undefined) remember(world.legacyClients, { runtime: target.name, mcpSessionId: id, version });
    },
  };
}

function forget(world: World, client: LegacyClient): void {
  const at = world.legacyClients.indexOf(client);
  if (at !== -1) world.legacyClients.splice(at, 1);
}

/**
 * A legacy client's answer to the first question a server asks on a call's stream (`elicitation/create`,
 * `sampling/createMessage`, `roots/list`), or undefined when `event` is no question.
 */
export function answerAsk(random: Random, asked: Draft, event: string): Draft | undefined {
  let message: { id?: Json; method?: string };
  try {
    message = JSON.parse(event) as typeof message;
  } catch {
    return undefined;
  }
  if (message.method === undefined || message.id === undefined) return undefined;
  const result: Json =
    message.method === 'sampling/createMessage'
      ? { role: 'assistant', content: { type: 'text', text: 'hi' }, model: 'fuzz' }
      : message.method === 'roots/list'
        ? { roots: [{ uri: 'file:///tmp' }] }
        : random.pick<Json>([{ action: 'accept', content: { name: 'fuzz', a: 'x', b: 'y' } }, { action: 'decline' }]);
  return {
    surface: 'legacy',
    method: 'POST',
    target: asked.target,
    headers: asked.headers.filter(([name]) => name.toLowerCase() !== 'content-length'),
    json: { jsonrpc: '2.0', id: message.id, result },
    story: [`legacy answer to ${message.method} ${JSON.stringify(message.id)}`],
  };
}

// ---- /v1 ---------------------------------------------------------------------------------------------------

export function v1Request(random: Random, world: World): Draft {
  const admin: Array<[string, string]> = [['Authorization', `Bearer ${world.adminKey}`]];
  const json: Array<[string, string]> = [...admin, ['Content-Type', 'application/json']];
  const name = random.pick(world.v1Names);
  const anyRuntime = random.chance(0.7) ? name : random.pick(world.targets).name;
  const page = (): string => {
    const parts: string[] = [];
    if (random.chance(0.5)) parts.push(`limit=${random.pick(['1', '2', '10', '100', '1000'])}`);
    if (random.chance(0.3)) parts.push(`next=${random.pick(['', 'eyJsIjoicnVudGltZXMiLCJrIjoiYSJ9', random.string(24)])}`);
    return parts.length > 0 ? `?${parts.join('&')}` : '';
  };
  const kind = random.weighted<string>([
    [5, 'deploy'],
    [3, 'list-runtimes'],
    [2, 'get-runtime'],
    [2, 'versions'],
    [2, 'endpoints'],
    [2, 'put-endpoint'],
    [1, 'delete-endpoint'],
    [1, 'delete-runtime'],
    [2, 'make-key'],
    [2, 'list-keys'],
    [1, 'revoke-key'],
    [2, 'list-sessions'],
    [2, 'get-session'],
    [1, 'session-logs'],
    [1, 'stop-session'],
    [2, 'artifact'],
  ]);
  const story = `v1 ${kind}`;
  switch (kind) {
    case 'deploy': {
      const spec: JsonObject = {
        artifactId: random.pick(world.artifacts),
        command: 'node server.js stdio',
        transport: 'stdio',
        env: { GREETING: 'hello' },
      };
      if (random.chance(0.3)) spec.idleTimeoutSeconds = random.pick([60, 900]);
      if (random.chance(0.2)) spec.limits = { memoryMb: 256, pids: 64 };
      if (random.chance(0.2)) spec.rateLimits = { runtime: { perSecond: 5, burst: 10 } };
      if (random.chance(0.1)) spec.authorizer = { type: 'apiKey' };
      if (random.chance(0.1)) spec.secretEnv = { TOKEN: 'not-really' };
      if (random.chance(0.1)) spec.network = { mode: 'none' };
      return { ...draft('v1', 'PUT', `/v1/runtimes/${name}`, json, `${story} ${name}`), json: spec };
    }
    case 'list-runtimes':
      return draft('v1', 'GET', `/v1/runtimes${page()}`, admin, story);
    case 'get-runtime':
      return draft('v1', 'GET', `/v1/runtimes/${anyRuntime}`, admin, story);
    case 'versions':
      return draft('v1', 'GET', `/v1/runtimes/${anyRuntime}/versions${page()}`, admin, story);
    case 'endpoints':
      return draft('v1', 'GET', `/v1/runtimes/${anyRuntime}/endpoints${page()}`, admin, story);
    case 'put-endpoint':
      return {
        ...draft('v1', 'PUT', `/v1/runtimes/${name}/endpoints/${random.pick(world.endpointNames)}`, json, story),
        json: { version: random.between(1, 3), description: 'fuzz' },
      };
    case 'delete-endpoint':
      return draft('v1', 'DELETE', `/v1/runtimes/${name}/endpoints/${random.pick(world.endpointNames)}`, admin, story);
    case 'delete-runtime':
      return draft('v1', 'DELETE', `/v1/runtimes/${name}`, admin, story);
    case 'make-key': {
      const body: JsonObject = random.chance(0.5) ? { runtime: anyRuntime, user: random.string(6) } : { admin: random.chance(0.3), description: 'fuzz' };
      return {
        ...draft('v1', 'POST', '/v1/keys', json, story),
        json: body,
        learn: (answer) => {
          const id = (answerJson(answer) as { id?: unknown } | undefined)?.id;
          if (answer.status === 201 && typeof id === 'string') remember(world.keyIds, id);
        },
      };
    }
    case 'list-keys':
      return draft('v1', 'GET', `/v1/keys${random.chance(0.3) ? `?runtime=${anyRuntime}` : page()}`, admin, story);
    case 'revoke-key':
      return draft(
        'v1',
        'DELETE',
        `/v1/keys/${world.keyIds.length > 0 && random.chance(0.8) ? random.pick(world.keyIds) : `key_${random.string(12)}`}`,
        admin,
        story,
      );
    case 'list-sessions':
      return draft('v1', 'GET', `/v1/sessions${random.chance(0.3) ? `?runtime=${anyRuntime}` : page()}`, admin, story);
    case 'get-session':
      return draft('v1', 'GET', `/v1/sessions/${random.pick(random.pick(world.targets).sessions)}`, admin, story);
    case 'session-logs':
      return draft(
        'v1',
        'GET',
        `/v1/sessions/${random.pick(random.pick(world.targets).sessions)}/logs?tail=${random.pick(['1', '10', '0', '999999999'])}`,
        admin,
        story,
      );
    case 'stop-session':
      return draft('v1', 'DELETE', `/v1/sessions/${random.chance(0.7) ? random.pick(random.pick(world.targets).sessions) : random.uuid()}`, admin, story);
    default: {
      // A small valid archive, or tar-looking bytes that are not one.
      const body = random.chance(0.5)
        ? world.tinyArtifact
        : Buffer.concat([Buffer.from('fuzz.txt'.padEnd(100, '\0')), random.bytes(random.pick([10, 412, 1024, 3000]))]);
      return {
        ...draft('v1', 'POST', '/v1/artifacts', [...admin, ['Content-Type', 'application/octet-stream']], `${story} (${body.length} bytes)`),
        body,
        learn: (answer) => {
          const id = (answerJson(answer) as { artifactId?: unknown } | undefined)?.artifactId;
          if (answer.status === 201 && typeof id === 'string') remember(world.artifacts, id, 8);
        },
      };
    }
  }
}

// ---- AgentCore ---------------------------------------------------------------------------------------------

function signing(random: Random): Draft['signing'] {
  return random.weighted([
    [8, 'valid' as const],
    [1, 'forged' as const],
    [1, 'none' as const],
  ]);
}

export function agentcoreControlRequest(random: Random, world: World): Draft {
  const name = random.pick(world.agentcoreNames);
  const id = world.agentcoreIds.get(name) ?? `${name}-${random.string(10, 'abcdefghijABCDEFGHIJ0123456789')}`;
  // Reads may name any runtime; writes only the fuzzer's own (guard enforces it after mutation too).
  const readId = random.chance(0.8) ? id : random.pick(world.targets).name;
  const headers: Array<[string, string]> = [
    ['Host', world.host],
    ['Content-Type', 'application/json'],
  ];
  const create = (): JsonObject => ({
    agentRuntimeName: name,
    agentRuntimeArtifact: {
      codeConfiguration: { code: { s3: { bucket: 'berth', prefix: world.artifacts[0] ?? 'art_none' } }, runtime: 'NODE_22', entryPoint: ['server.js', 'http'] },
    },
    roleArn: 'arn:aws:iam::123456789012:role/AgentRole',
    networkConfiguration: { networkMode: 'PUBLIC' },
    protocolConfiguration: { serverProtocol: random.pick(['MCP', 'HTTP']) },
    ...(random.chance(0.3) ? { clientToken: random.string(36) } : {}),
    ...(random.chance(0.3) ? { environmentVariables: { A: 'b' } } : {}),
    ...(random.chance(0.2) ? { lifecycleConfiguration: { idleRuntimeSessionTimeout: 60, maxLifetime: 600 } } : {}),
    ...(random.chance(0.2) ? { tags: { team: 'fuzz' } } : {}),
  });
  const page = (): string =>
    random.chance(0.5) ? `?maxResults=${random.pick(['1', '5', '100'])}${random.chance(0.3) ? `&nextToken=${random.string(20)}` : ''}` : '';
  const kind = random.weighted<string>([
    [3, 'create'],
    [3, 'list'],
    [3, 'get'],
    [2, 'update'],
    [1, 'delete'],
    [2, 'versions'],
    [2, 'create-endpoint'],
    [2, 'list-endpoints'],
    [2, 'get-endpoint'],
    [1, 'update-endpoint'],
    [1, 'delete-endpoint'],
  ]);
  const out = (method: string, target: string, json?: JsonObject): Draft => ({
    ...draft('agentcore-control', method, target, [...headers], `agentcore ${kind} ${name}`),
    ...(json === undefined ? {} : { json }),
    signing: signing(random),
  });
  switch (kind) {
    case 'create': {
      const made = out('PUT', '/runtimes/', create());
      made.learn = (answer) => {
        const madeId = (answerJson(answer) as { agentRuntimeId?: unknown } | undefined)?.agentRuntimeId;
        if (answer.status === 202 && typeof madeId === 'string') world.agentcoreIds.set(name, madeId);
      };
      return made;
    }
    case 'list':
      return out('POST', `/runtimes/${page()}`);
    case 'get':
      return out('GET', `/runtimes/${readId}${random.chance(0.3) ? `?version=${random.between(1, 3)}` : ''}`);
    case 'update': {
      const { agentRuntimeName: _name, tags: _tags, ...update } = create();
      return out('PUT', `/runtimes/${id}`, update);
    }
    case 'delete':
      return out('DELETE', `/runtimes/${id}${random.chance(0.3) ? `?clientToken=${random.string(20)}` : ''}`);
    case 'versions':
      return out('POST', `/runtimes/${readId}/versions${page()}`);
    case 'create-endpoint':
      return out('PUT', `/runtimes/${id}/runtime-endpoints/`, {
        name: random.pick(world.endpointNames),
        agentRuntimeVersion: String(random.between(1, 2)),
        description: 'fuzz',
        clientToken: random.string(33),
      });
    case 'list-endpoints':
      return out('POST', `/runtimes/${readId}/runtime-endpoints/${page()}`);
    case 'get-endpoint':
      return out('GET', `/runtimes/${readId}/runtime-endpoints/${random.pick([...world.endpointNames, 'DEFAULT'])}`);
    case 'update-endpoint':
      return out('PUT', `/runtimes/${id}/runtime-endpoints/${random.pick(world.endpointNames)}`, { agentRuntimeVersion: '1', description: 'moved' });
    default:
      return out('DELETE', `/runtimes/${id}/runtime-endpoints/${random.pick(world.endpointNames)}`);
  }
}

/** Commands that end at once whatever their timeout: no `sleep`, nothing that reads its input. */
const COMMANDS = ['echo hi', 'true', 'false', 'exit 3', 'cat /nonexistent', 'ls /', 'printf "%s" "$HOME"', 'echo err >&2', 'env | wc -l', 'id -u'];

export function agentcoreDataRequest(random: Random, world: World): Draft {
  const target = random.pick(world.targets);
  const session = random.pick(target.sessions);
  const label = random.weighted<() => string>([
    [6, () => encodeURIComponent(target.arn)],
    [1, () => target.arn.split('/').pop() as string],
    [1, () => encodeURIComponent(target.arn.replace('123456789012', '999999999999'))],
    [1, () => encodeURIComponent(`arn:aws:bedrock-agentcore:us-west-2:123456789012:runtime/${random.string(12)}`)],
  ])();
  const qualifier = random.chance(0.2) ? `?qualifier=${random.pick(['DEFAULT', ...world.endpointNames, 'nope'])}` : '';
  const headers: Array<[string, string]> = [
    ['Host', world.host],
    ['Content-Type', 'application/json'],
  ];
  if (random.chance(0.9)) headers.push([SESSION_HEADER, session]);
  const kind = random.weighted<string>([
    [6, 'invoke'],
    [1, 'stop'],
    [2, 'command'],
  ]);
  if (kind === 'invoke') {
    const tool = random.pick(Object.keys(target.tools));
    headers.push(['Accept', 'application/json, text/event-stream'], ['MCP-Protocol-Version', MODERN], ['Mcp-Method', 'tools/call'], ['Mcp-Name', tool]);
    return {
      ...draft('agentcore-data', 'POST', `/runtimes/${label}/invocations${qualifier}`, headers, `agentcore invoke ${tool} on ${target.name}`),
      json: {
        jsonrpc: '2.0',
        id: random.between(1, 1000),
        method: 'tools/call',
        params: { name: tool, arguments: structuredClone(target.tools[tool] as JsonObject), _meta: modernEnvelope() },
      },
      signing: signing(random),
    };
  }
  if (kind === 'stop') {
    return {
      ...draft('agentcore-data', 'POST', `/runtimes/${label}/stopruntimesession${qualifier}`, headers, `agentcore stop ${target.name}`),
      json: {},
      signing: signing(random),
    };
  }
  return {
    ...draft('agentcore-data', 'POST', `/runtimes/${label}/commands${qualifier}`, headers, `agentcore command on ${target.name}`),
    json: { command: random.pick(COMMANDS), timeout: random.pick([1, 2, 3]) },
    signing: signing(random),
  };
}

// ---- guard -------------------------------------------------------------------------------------------------

/** The path's segments as berth's router sees them (dot segments resolved, each percent-decoded). */
function segmentsOf(target: string): string[] | undefined {
  try {
    // As berth's adapter builds it: the target appended to an origin, so `//x` stays a path.
    return new URL(`http://fuzz${target}`).pathname
      .split('/')
      .filter(Boolean)
      .map((segment) => decodeURIComponent(segment));
  } catch {
    return undefined;
  }
}

const RUNTIME_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,47}$/;

/**
 * Keeps a mutated request inside the run's bounds: no write (PUT, PATCH, DELETE) reaches the runtimes the fuzzer
 * calls, and no request makes a runtime or endpoint past the few fixed names. Returns the story line of what it
 * changed, if anything.
 */
export function guard(draft: Draft, world: World, random: Random): string | undefined {
  const method = draft.method.toUpperCase();
  if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return undefined;
  const segments = segmentsOf(draft.target);
  if (!segments) return undefined;
  const notes: string[] = [];
  const replaceSegment = (index: number, replacement: string): void => {
    segments[index] = replacement;
    const at = draft.target.indexOf('?');
    draft.target = `/${segments.map(encodeURIComponent).join('/')}${at === -1 ? '' : draft.target.slice(at)}`;
    notes.push(`guard: segment ${index} is now ${replacement}`);
  };
  const [first, second, third, fourth] = segments;
  // /v1/runtimes/{name}[/endpoints/{endpoint}]
  if (first === 'v1' && second === 'runtimes' && third !== undefined) {
    if (world.protectedNames.has(third) || (RUNTIME_NAME.test(third) && !world.v1Names.includes(third))) replaceSegment(2, random.pick(world.v1Names));
    if (fourth === 'endpoints' && segments[4] !== undefined && !world.endpointNames.includes(segments[4])) replaceSegment(4, random.pick(world.endpointNames));
  }
  // AgentCore's /runtimes/{id} and its endpoints (a legacy client's DELETE of /runtimes/{name}/mcp ends a session, not a runtime).
  if (first === 'runtimes' && second !== undefined && method !== 'POST' && (segments.length === 2 || third === 'runtime-endpoints')) {
    if (world.protectedNames.has(second)) replaceSegment(1, world.agentcoreIds.get(random.pick(world.agentcoreNames)) ?? random.pick(world.agentcoreNames));
    if (third === 'runtime-endpoints' && fourth !== undefined && fourth !== 'DEFAULT' && !world.endpointNames.includes(fourth))
      replaceSegment(3, random.pick(world.endpointNames));
  }
  // Bodies that name what to create: CreateAgentRuntime's agentRuntimeName, CreateAgentRuntimeEndpoint's name.
  const creates = first === 'runtimes' && method === 'PUT' && (segments.length === 1 || (segments.length === 3 && third === 'runtime-endpoints'));
  const body = draft.json ?? parsed(draft.body);
  if (creates && isObject(body)) {
    const [field, allowed] = segments.length === 1 ? (['agentRuntimeName', world.agentcoreNames] as const) : (['name', world.endpointNames] as const);
    const named = body[field];
    if (typeof named === 'string' && !allowed.includes(named)) {
      if (draft.json === undefined) {
        // A body already turned to bytes is not taken apart again: an empty object is sent instead.
        draft.body = Buffer.from('{}');
        notes.push(`guard: a body naming a new ${field} is sent as {}`);
      } else {
        body[field] = random.pick(allowed);
        notes.push(`guard: ${field} is a fixed name`);
      }
    }
  }
  return notes.length > 0 ? notes.join('; ') : undefined;
}

function parsed(body: Buffer | undefined): Json | undefined {
  if (body === undefined) return undefined;
  try {
    return JSON.parse(body.toString('utf8')) as Json;
  } catch {
    return undefined;
  }
}
