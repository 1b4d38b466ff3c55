/**
 * docs/openapi.json against the code and a live node (process driver: no isolation is needed to check shapes). The
 * document names exactly the routes `v1Routes` serves, and the live router's `Allow` agrees; its error codes are the
 * registry's; every operation refuses a caller without the admin key as documented; and the answers of a whole round
 * (upload, deploy twice, read, list, endpoints, keys, a session made, read, logged, stopped and read again, the
 * refusals) have a documented status and a body the documented schema accepts.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { packDirectory } from '../../src/cli/pack.ts';
import { v1Routes, type V1Options } from '../../src/control/v1.ts';
import { ERROR_KINDS } from '../../src/core/errors.ts';
import { startBerth, type BerthNode } from '../helpers/berth.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { rawCall } from '../helpers/mcp.ts';

type Schema = Record<string, unknown>;
interface Operation {
  parameters?: Schema[];
  requestBody?: { content: Record<string, { schema: Schema; example?: unknown }> };
  responses: Record<string, Schema>;
  security?: unknown;
}
type PathItem = Record<string, Operation> & { parameters?: Schema[] };

const doc = JSON.parse(readFileSync(new URL('../../docs/openapi.json', import.meta.url), 'utf8')) as {
  openapi: string;
  paths: Record<string, PathItem>;
  security: unknown[];
  components: { schemas: Record<string, Schema>; securitySchemes: Record<string, Schema> };
};
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

/** `METHOD /v1/path/{param}` for every operation the document describes. */
function documentedOperations(): string[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.keys(item)
      .filter((key) => HTTP_METHODS.includes(key))
      .map((method) => `${method.toUpperCase()} ${path}`),
  );
}

function operation(method: string, path: string): Operation {
  const op = doc.paths[path]?.[method.toLowerCase()];
  assert.ok(op, `${method} ${path} is documented`);
  return op;
}

/** What `#/components/…` names. */
function resolve(ref: string): Schema {
  assert.ok(ref.startsWith('#/'), `${ref} is a local reference`);
  let node: unknown = doc;
  for (const part of ref.slice(2).split('/')) node = (node as Record<string, unknown> | undefined)?.[part];
  assert.ok(node !== undefined && typeof node === 'object', `${ref} resolves`);
  return node as Schema;
}

function deref(schema: Schema): Schema {
  return typeof schema.$ref === 'string' ? deref(resolve(schema.$ref)) : schema;
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

/**
 * The ways `value` breaks `schema`: the part of JSON Schema 2020-12 the document uses ($ref, allOf, oneOf, const,
 * enum, type, required, properties, additionalProperties, items, pattern, minimum, maximum, date-time).
 */
function violations(schema: Schema, value: unknown, at = '$'): string[] {
  const s = deref(schema);
  const out: string[] = [];
  for (const part of (s.allOf as Schema[] | undefined) ?? []) out.push(...violations(part, value, at));
  if (s.oneOf) {
    const matching = (s.oneOf as Schema[]).filter((part) => violations(part, value, at).length === 0).length;
    if (matching !== 1) out.push(`${at}: matches ${matching} of oneOf's schemas, not one`);
  }
  if ('const' in s && JSON.stringify(s.const) !== JSON.stringify(value)) out.push(`${at}: ${JSON.stringify(value)} is not ${JSON.stringify(s.const)}`);
  if (s.enum && !(s.enum as unknown[]).includes(value)) out.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(s.enum)}`);
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
    const actual = typeOf(value);
    if (!types.includes(actual) && !(actual === 'integer' && types.includes('number'))) return [...out, `${at}: is ${actual}, not ${types.join(' or ')}`];
  }
  if (typeof value === 'string') {
    if (typeof s.pattern === 'string' && !new RegExp(s.pattern).test(value)) out.push(`${at}: ${JSON.stringify(value)} does not match ${s.pattern}`);
    if (s.format === 'date-time' && Number.isNaN(Date.parse(value))) out.push(`${at}: ${JSON.stringify(value)} is not a date-time`);
  }
  if (typeof value === 'number') {
    if (typeof s.minimum === 'number' && value < s.minimum) out.push(`${at}: ${value} < ${s.minimum}`);
    if (typeof s.maximum === 'number' && value > s.maximum) out.push(`${at}: ${value} > ${s.maximum}`);
  }
  if (Array.isArray(value) && s.items) value.forEach((item, i) => out.push(...violations(s.items as Schema, item, `${at}[${i}]`)));
  if (typeOf(value) === 'object') {
    const object = value as Record<string, unknown>;
    const properties = (s.properties as Record<string, Schema> | undefined) ?? {};
    for (const name of (s.required as string[] | undefined) ?? []) if (!(name in object)) out.push(`${at}: lacks required "${name}"`);
    for (const [name, member] of Object.entries(object)) {
      if (properties[name]) out.push(...violations(properties[name], member, `${at}.${name}`));
      else if (s.additionalProperties === false) out.push(`${at}: has undocumented "${name}"`);
      else if (typeof s.additionalProperties === 'object') out.push(...violations(s.additionalProperties as Schema, member, `${at}.${name}`));
    }
  }
  return out;
}

/** Asserts the answer's status is documented for the operation and its JSON body fits that status's schema. */
async function documented(response: Response, method: string, path: string): Promise<Record<string, unknown>> {
  const op = operation(method, path);
  const text = await response.text();
  const declared = op.responses[String(response.status)];
  assert.ok(declared, `${method} ${path} answered ${response.status}, which the document does not list (${Object.keys(op.responses).join(', ')}): ${text}`);
  const content = (deref(declared).content as Record<string, { schema: Schema }> | undefined)?.['application/json'];
  assert.ok(content, `${method} ${path} ${response.status} documents a JSON body`);
  assert.match(response.headers.get('content-type') ?? '', /application\/json/);
  const body = JSON.parse(text) as Record<string, unknown>;
  assert.deepEqual(violations(content.schema, body), [], `${method} ${path} ${response.status}: ${text}`);
  return body;
}

/** The path a template names with each `{param}` filled in. */
function fill(path: string, params: Record<string, string>): string {
  return path.replace(/\{(\w+)\}/g, (_m, name: string) => encodeURIComponent(params[name] ?? `absent-${name}`));
}

const jsonInit = (method: string, body: unknown): RequestInit => ({ method, body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

test('the document is OpenAPI 3.1, every reference resolves, and its routes are exactly the ones v1Routes serves', () => {
  assert.match(doc.openapi, /^3\.1\./);
  const refs = JSON.stringify(doc).matchAll(/"\$ref":"([^"]+)"/g);
  for (const [, ref] of refs) resolve(ref as string);
  const served = v1Routes({} as V1Options).map((route) => `${route.method} ${route.pattern.replace(/:(\w+)/g, '{$1}')}`);
  assert.deepEqual([...documentedOperations()].sort(), [...served].sort());
  // Each path parameter of a route is declared, in the path, required.
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of Object.keys(item).filter((key) => HTTP_METHODS.includes(key))) {
      const declared = [...(item.parameters ?? []), ...(item[method]?.parameters ?? [])].map(deref).filter((p) => p.in === 'path');
      const named = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      assert.deepEqual(declared.map((p) => p.name).sort(), [...named].sort(), `${method} ${path}'s path parameters`);
      assert.ok(
        declared.every((p) => p.required === true),
        `${method} ${path}'s path parameters are required`,
      );
    }
  }
});

test("the error codes the document lists are the registry's, and every operation answers errors in the one shape", () => {
  assert.deepEqual(deref(doc.components.schemas.ErrorCode as Schema).enum, Object.keys(ERROR_KINDS));
  for (const entry of documentedOperations()) {
    const [method, path] = entry.split(' ') as [string, string];
    const op = operation(method, path);
    for (const status of ['401', '403', '500']) assert.ok(op.responses[status], `${entry} documents ${status}`);
    for (const [status, response] of Object.entries(op.responses)) {
      if (Number(status) < 400) continue;
      const schema = (deref(response).content as Record<string, { schema: Schema }>)['application/json']?.schema;
      assert.equal(schema?.$ref, '#/components/schemas/Error', `${entry} ${status} is the REST error`);
    }
  }
  assert.deepEqual(doc.security, [{ adminKey: [] }, { awsSigV4: [] }]);
  assert.deepEqual(Object.keys(doc.components.securitySchemes).sort(), ['adminKey', 'awsSigV4']);
});

describe('docs/openapi.json against a live node', () => {
  let node: BerthNode;

  before(async () => {
    node = await startBerth({ driver: 'process' });
  });
  after(async () => {
    await node?.stop();
  });

  test("the router serves each documented path with exactly the documented methods (its 405's Allow)", async () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      const methods = Object.keys(item)
        .filter((key) => HTTP_METHODS.includes(key))
        .map((m) => m.toUpperCase());
      const response = await node.admin(fill(path, {}), { method: 'PATCH' });
      assert.equal(response.status, 405, `PATCH ${path}`);
      assert.deepEqual((response.headers.get('allow') ?? '').split(', ').sort(), methods.sort(), `methods on ${path}`);
      assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'method_not_allowed');
    }
  });

  test('every operation refuses a caller without the admin key, as documented, and answers one with it as documented', async () => {
    for (const entry of documentedOperations()) {
      const [method, path] = entry.split(' ') as [string, string];
      const anonymous = await fetch(`${node.url}${fill(path, {})}`, { method });
      assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Bearer realm="berth"/, entry);
      const refused = await documented(anonymous, method, path);
      assert.equal((refused.error as { code: string }).code, 'unauthorized', entry);
      const wrong = await fetch(`${node.url}${fill(path, {})}`, { method, headers: { authorization: 'Bearer berth_aaaaaaaaaaaaaaaa_not-a-key' } });
      assert.equal(wrong.status, 401, entry);
      // With the key, names nothing has: refusals or empty lists, never the router's own "nothing at".
      const init = method === 'PUT' || method === 'POST' ? jsonInit(method, {}) : { method };
      const answer = await documented(await node.admin(fill(path, {}), init), method, path);
      assert.doesNotMatch(String((answer.error as { message?: string } | undefined)?.message), /^nothing at/, entry);
    }
  });

  test('a whole round of calls: each status documented, each body as its schema says', async () => {
    // An upload as the document's request body describes it.
    const tar = Buffer.concat(await packDirectory(await fixtureDir('counter-server')).toArray());
    const upload = await node.admin('/v1/artifacts', { method: 'POST', body: tar, headers: { 'content-type': 'application/gzip' } });
    assert.equal(upload.status, 201);
    const { artifactId } = (await documented(upload, 'POST', '/v1/artifacts')) as { artifactId: string };

    // Deploy with the documented example body, naming this artifact and the fixture's own command.
    const example = operation('PUT', '/v1/runtimes/{name}').requestBody?.content['application/json']?.example as Record<string, unknown>;
    assert.ok(example, 'PUT /v1/runtimes/{name} has an example body');
    assert.deepEqual(violations(doc.components.schemas.DeployInput as Schema, example), [], 'the example is a valid body');
    const body = { ...example, artifactId, command: 'node server.js stdio' };
    const first = await node.admin('/v1/runtimes/notes', jsonInit('PUT', body));
    assert.equal(first.status, 201);
    assert.equal((await documented(first, 'PUT', '/v1/runtimes/{name}')).version, 1);
    const second = await node.admin(
      '/v1/runtimes/notes',
      jsonInit('PUT', { ...body, env: { A: '1' }, secretEnv: { TOKEN: 's3cret' }, limits: { memoryMb: 256 }, network: { mode: 'none' } }),
    );
    assert.equal(second.status, 200);
    const v2 = (await documented(second, 'PUT', '/v1/runtimes/{name}')) as { spec: { secretEnv: Record<string, string> } };
    assert.deepEqual(v2.spec.secretEnv, { TOKEN: '(secret)' });

    const runtime = await documented(await node.admin('/v1/runtimes/notes'), 'GET', '/v1/runtimes/{name}');
    assert.equal(runtime.latestVersion, 2);
    const list = await documented(await node.admin('/v1/runtimes?limit=1'), 'GET', '/v1/runtimes');
    assert.equal((list.runtimes as unknown[]).length, 1);
    const versions = await documented(await node.admin('/v1/runtimes/notes/versions'), 'GET', '/v1/runtimes/{name}/versions');
    assert.deepEqual(
      (versions.versions as Array<{ version: number }>).map((v) => v.version),
      [1, 2],
    );

    const endpointPath = '/v1/runtimes/{name}/endpoints/{endpoint}';
    const endpointExample = operation('PUT', endpointPath).requestBody?.content['application/json']?.example;
    const created = await node.admin('/v1/runtimes/notes/endpoints/prod', jsonInit('PUT', endpointExample));
    assert.equal(created.status, 201);
    assert.equal((await documented(created, 'PUT', endpointPath)).targetVersion, 1);
    const moved = await node.admin('/v1/runtimes/notes/endpoints/prod', jsonInit('PUT', { version: 2 }));
    assert.equal(moved.status, 200);
    await documented(moved, 'PUT', endpointPath);
    const endpoints = await documented(await node.admin('/v1/runtimes/notes/endpoints'), 'GET', '/v1/runtimes/{name}/endpoints');
    assert.deepEqual(
      (endpoints.endpoints as Array<{ name: string }>).map((e) => e.name),
      ['DEFAULT', 'prod'],
    );
    const pinDefault = await node.admin('/v1/runtimes/notes/endpoints/DEFAULT', jsonInit('PUT', { version: 1 }));
    assert.equal(pinDefault.status, 400);
    await documented(pinDefault, 'PUT', endpointPath);
    await documented(await node.admin('/v1/runtimes/notes/endpoints/prod', { method: 'DELETE' }), 'DELETE', endpointPath);

    const keyExample = operation('POST', '/v1/keys').requestBody?.content['application/json']?.example as Record<string, unknown>;
    const made = await node.admin('/v1/keys', jsonInit('POST', { ...keyExample, runtime: 'notes' }));
    assert.equal(made.status, 201);
    const key = (await documented(made, 'POST', '/v1/keys')) as { id: string; user: string };
    assert.equal(key.user, keyExample.user);
    const keys = await documented(await node.admin('/v1/keys?runtime=notes'), 'GET', '/v1/keys');
    assert.deepEqual(
      (keys.keys as Array<{ id: string }>).map((k) => k.id),
      [key.id],
    );
    const revoked = await documented(await node.admin(`/v1/keys/${key.id}`, { method: 'DELETE' }), 'DELETE', '/v1/keys/{id}');
    assert.equal(typeof revoked.revokedAt, 'string');

    // A session, live and then ended.
    const sessionId = randomUUID();
    assert.equal((await rawCall(node.url, 'notes', 'tools/call', 'increment', {}, { sessionId })).status, 200);
    const nodes = await documented(await node.admin('/v1/nodes'), 'GET', '/v1/nodes');
    assert.deepEqual(
      (nodes.nodes as Array<{ self: boolean; live: boolean }>).map((n) => [n.self, n.live]),
      [[true, true]],
      'a node with no cluster lists itself',
    );
    const sessions = await documented(await node.admin('/v1/sessions?runtime=notes'), 'GET', '/v1/sessions');
    assert.deepEqual(
      (sessions.sessions as Array<{ id: string }>).map((s) => s.id),
      [sessionId],
    );
    const live = await documented(await node.admin(`/v1/sessions/${sessionId}`), 'GET', '/v1/sessions/{id}');
    assert.equal(live.state, 'ready');
    const logs = await documented(await node.admin(`/v1/sessions/${sessionId}/logs?tail=5`), 'GET', '/v1/sessions/{id}/logs');
    assert.equal(logs.live, true);
    const badTail = await node.admin(`/v1/sessions/${sessionId}/logs?tail=-1`);
    assert.equal(badTail.status, 400);
    await documented(badTail, 'GET', '/v1/sessions/{id}/logs');
    assert.deepEqual(await documented(await node.admin(`/v1/sessions/${sessionId}`, { method: 'DELETE' }), 'DELETE', '/v1/sessions/{id}'), {
      stopped: sessionId,
    });
    const ended = await documented(await node.admin(`/v1/sessions/${sessionId}`), 'GET', '/v1/sessions/{id}');
    assert.deepEqual([ended.state, ended.reason], ['ended', 'stopped']);

    // Refusals: a 404, validation errors (an undocumented member, a bad page size), a body that is not JSON.
    const missing = await node.admin('/v1/runtimes/nothing-here');
    assert.equal(missing.status, 404);
    assert.equal(((await documented(missing, 'GET', '/v1/runtimes/{name}')).error as { code: string }).code, 'runtime_not_found');
    const extra = await node.admin('/v1/runtimes/notes', jsonInit('PUT', { ...body, colour: 'blue' }));
    assert.equal(extra.status, 400, 'a member the document does not list is refused, as additionalProperties: false says');
    const refusal = (await documented(extra, 'PUT', '/v1/runtimes/{name}')).error as { code: string; details: { issues: string[] } };
    assert.equal(refusal.code, 'validation_failed');
    assert.match(refusal.details.issues.join(' '), /colour/);
    const badLimit = await node.admin('/v1/runtimes?limit=0');
    assert.equal(badLimit.status, 400);
    await documented(badLimit, 'GET', '/v1/runtimes');
    const notJson = await node.admin('/v1/runtimes/notes', { method: 'PUT', body: '{', headers: { 'content-type': 'application/json' } });
    assert.equal(notJson.status, 400);
    assert.equal(((await documented(notJson, 'PUT', '/v1/runtimes/{name}')).error as { code: string }).code, 'parse_error');
    const notJsonType = await node.admin('/v1/runtimes/notes', { method: 'PUT', body: '{}', headers: { 'content-type': 'text/plain' } });
    assert.equal(notJsonType.status, 415);
    await documented(notJsonType, 'PUT', '/v1/runtimes/{name}');

    assert.deepEqual(await documented(await node.admin('/v1/runtimes/notes', { method: 'DELETE' }), 'DELETE', '/v1/runtimes/{name}'), { deleted: 'notes' });
  });
});
