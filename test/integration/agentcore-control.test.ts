/**
 * AgentCore Runtime's control plane through the official AWS SDK client (@aws-sdk/client-bedrock-agentcore-control),
 * unchanged but for its endpoint, against a real berth node: runtimes, versions, endpoints, pagination, SigV4 and
 * every error type the SDK should see typed.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  BedrockAgentCoreControlClient,
  ConflictException,
  CreateAgentRuntimeCommand,
  CreateAgentRuntimeEndpointCommand,
  DeleteAgentRuntimeCommand,
  DeleteAgentRuntimeEndpointCommand,
  GetAgentRuntimeCommand,
  GetAgentRuntimeEndpointCommand,
  ListAgentRuntimeEndpointsCommand,
  ListAgentRuntimesCommand,
  ListAgentRuntimeVersionsCommand,
  paginateListAgentRuntimes,
  ResourceNotFoundException,
  UpdateAgentRuntimeCommand,
  UpdateAgentRuntimeEndpointCommand,
  ValidationException,
  AccessDeniedException,
  type CreateAgentRuntimeCommandInput,
  type UpdateAgentRuntimeCommandInput,
} from '@aws-sdk/client-bedrock-agentcore-control';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { packDirectory } from '../../src/cli/pack.ts';
import { startBerth, type BerthNode } from '../helpers/berth.ts';
import { AWS_ENV, AWS_KEYS } from '../helpers/aws.ts';
import { fixtureDir } from '../helpers/fixtures.ts';

describe('AgentCore control plane through the AWS SDK', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;
  let control: BedrockAgentCoreControlClient;
  let artifactId: string;
  const input = (name: string, extra: Partial<CreateAgentRuntimeCommandInput> = {}): CreateAgentRuntimeCommandInput => ({
    agentRuntimeName: name,
    agentRuntimeArtifact: {
      codeConfiguration: { code: { s3: { bucket: 'berth', prefix: artifactId } }, runtime: 'NODE_22', entryPoint: ['server.js', 'http'] },
    },
    roleArn: 'arn:aws:iam::123456789012:role/AgentRole',
    networkConfiguration: { networkMode: 'PUBLIC' },
    protocolConfiguration: { serverProtocol: 'MCP' },
    environmentVariables: { GREETING: 'hello' },
    ...extra,
  });
  const update = (agentRuntimeId: string | undefined, extra: Partial<CreateAgentRuntimeCommandInput> = {}): UpdateAgentRuntimeCommandInput => {
    const { agentRuntimeName: _name, tags: _tags, ...rest } = input('unused', extra);
    return { ...rest, agentRuntimeId };
  };

  before(async () => {
    node = await startBerth({ env: AWS_ENV });
    control = new BedrockAgentCoreControlClient({ endpoint: node.url, region: 'us-west-2', credentials: AWS_KEYS, maxAttempts: 1 });
    artifactId = (await node.api.uploadArtifact(packDirectory(await fixtureDir('counter-server')))).artifactId;
  });
  after(async () => {
    control?.destroy();
    await node?.stop();
  });

  test('create answers CREATING with AgentCore ids and ARNs; get shows it READY with what was given', async () => {
    const created = await control.send(
      new CreateAgentRuntimeCommand(input('calc_agent', { description: 'a counter', lifecycleConfiguration: { maxLifetime: 600 } })),
    );
    assert.equal(created.$metadata.httpStatusCode, 202);
    assert.equal(created.status, 'CREATING');
    assert.match(created.agentRuntimeId ?? '', /^calc_agent-[A-Za-z0-9]{10}$/);
    assert.equal(created.agentRuntimeArn, `arn:aws:bedrock-agentcore:us-west-2:123456789012:runtime/${created.agentRuntimeId}`);
    assert.equal(created.agentRuntimeVersion, '1');
    assert.ok(created.createdAt instanceof Date);
    const got = await control.send(new GetAgentRuntimeCommand({ agentRuntimeId: created.agentRuntimeId }));
    assert.equal(got.status, 'READY');
    assert.equal(got.agentRuntimeName, 'calc_agent');
    assert.equal(got.roleArn, 'arn:aws:iam::123456789012:role/AgentRole');
    assert.equal(got.description, 'a counter');
    assert.deepEqual(got.lifecycleConfiguration, { idleRuntimeSessionTimeout: 600, maxLifetime: 600 });
    assert.deepEqual(got.protocolConfiguration, { serverProtocol: 'MCP' });
    assert.deepEqual(got.environmentVariables, { GREETING: 'hello' });
    assert.equal(got.agentRuntimeArtifact?.codeConfiguration?.code?.s3?.prefix, artifactId);
    assert.ok(got.lastUpdatedAt instanceof Date);
    const native = await node.api.runtimes();
    assert.equal(native.find((r) => r.name === 'calc_agent')?.spec.command, 'node server.js http', 'the same runtime, seen through /v1');
  });

  test('update makes a new immutable version; versions list newest first; get ?version shows an old one', async () => {
    const { agentRuntimeId } = await control.send(new CreateAgentRuntimeCommand(input('versioned_agent')));
    const updated = await control.send(new UpdateAgentRuntimeCommand(update(agentRuntimeId, { environmentVariables: { GREETING: 'v2' } })));
    assert.equal(updated.$metadata.httpStatusCode, 202);
    assert.equal(updated.agentRuntimeVersion, '2');
    const versions = await control.send(new ListAgentRuntimeVersionsCommand({ agentRuntimeId }));
    assert.deepEqual(
      versions.agentRuntimes?.map((v) => v.agentRuntimeVersion),
      ['2', '1'],
    );
    const v1 = await control.send(new GetAgentRuntimeCommand({ agentRuntimeId, agentRuntimeVersion: '1' }));
    assert.deepEqual(v1.environmentVariables, { GREETING: 'hello' });
    const latest = await control.send(new GetAgentRuntimeCommand({ agentRuntimeId }));
    assert.deepEqual(latest.environmentVariables, { GREETING: 'v2' });
  });

  test('a retried create with the same clientToken gets the first answer, not a second runtime', async () => {
    const first = await control.send(new CreateAgentRuntimeCommand(input('retried_agent', { clientToken: 'token-0000000000000000000000000000001' })));
    const again = await control.send(new CreateAgentRuntimeCommand(input('retried_agent', { clientToken: 'token-0000000000000000000000000000001' })));
    assert.equal(again.agentRuntimeId, first.agentRuntimeId);
    await assert.rejects(
      control.send(new CreateAgentRuntimeCommand(input('other_agent', { clientToken: 'token-0000000000000000000000000000001' }))),
      ValidationException,
    );
  });

  test('list pages through every runtime with maxResults and nextToken', async () => {
    for (const name of ['page_a', 'page_b', 'page_c']) await control.send(new CreateAgentRuntimeCommand(input(name)));
    const names: string[] = [];
    let pages = 0;
    for await (const page of paginateListAgentRuntimes({ client: control, pageSize: 2 }, {})) {
      pages++;
      assert.ok((page.agentRuntimes?.length ?? 0) <= 2);
      names.push(...(page.agentRuntimes ?? []).map((r) => r.agentRuntimeName ?? ''));
    }
    assert.ok(pages >= 3, `${pages} pages`);
    for (const name of ['page_a', 'page_b', 'page_c']) assert.ok(names.includes(name), name);
    assert.equal(new Set(names).size, names.length, 'no runtime twice');
  });

  test('endpoints: DEFAULT follows the latest version, a named one stays pinned until it is moved', async () => {
    const { agentRuntimeId } = await control.send(new CreateAgentRuntimeCommand(input('endpoint_agent')));
    const created = await control.send(
      new CreateAgentRuntimeEndpointCommand({ agentRuntimeId, name: 'stable', agentRuntimeVersion: '1', description: 'pinned' }),
    );
    assert.equal(created.$metadata.httpStatusCode, 202);
    assert.equal(created.targetVersion, '1');
    assert.match(created.agentRuntimeEndpointArn ?? '', /:runtime\/endpoint_agent-[A-Za-z0-9]{10}\/runtime-endpoint\/stable$/);
    await control.send(new UpdateAgentRuntimeCommand(update(agentRuntimeId)));
    const listed = await control.send(new ListAgentRuntimeEndpointsCommand({ agentRuntimeId }));
    assert.deepEqual(
      listed.runtimeEndpoints?.map((e) => [e.name, e.liveVersion]),
      [
        ['DEFAULT', '2'],
        ['stable', '1'],
      ],
    );
    const moved = await control.send(new UpdateAgentRuntimeEndpointCommand({ agentRuntimeId, endpointName: 'stable', agentRuntimeVersion: '2' }));
    assert.equal(moved.targetVersion, '2');
    const got = await control.send(new GetAgentRuntimeEndpointCommand({ agentRuntimeId, endpointName: 'stable' }));
    assert.equal(got.status, 'READY');
    assert.equal(got.liveVersion, '2');
    assert.equal(got.description, 'pinned');
    await assert.rejects(control.send(new CreateAgentRuntimeEndpointCommand({ agentRuntimeId, name: 'stable' })), ConflictException);
    const deleted = await control.send(new DeleteAgentRuntimeEndpointCommand({ agentRuntimeId, endpointName: 'stable' }));
    assert.equal(deleted.status, 'DELETING');
    await assert.rejects(control.send(new GetAgentRuntimeEndpointCommand({ agentRuntimeId, endpointName: 'stable' })), ResourceNotFoundException);
  });

  test('delete answers DELETING and the runtime is gone', async () => {
    const { agentRuntimeId } = await control.send(new CreateAgentRuntimeCommand(input('doomed_agent')));
    const deleted = await control.send(new DeleteAgentRuntimeCommand({ agentRuntimeId }));
    assert.equal(deleted.$metadata.httpStatusCode, 202);
    assert.equal(deleted.status, 'DELETING');
    await assert.rejects(control.send(new GetAgentRuntimeCommand({ agentRuntimeId })), ResourceNotFoundException);
  });

  test("customJWTAuthorizer becomes the runtime's jwt authorizer, shown back as given", async () => {
    const authorizerConfiguration = {
      customJWTAuthorizer: {
        discoveryUrl: 'https://idp.example.com/.well-known/openid-configuration',
        allowedAudience: ['my-agents'],
        allowedClients: ['client-a'],
        allowedScopes: ['agents:invoke', 'agents:admin'],
        customClaims: [
          {
            inboundTokenClaimName: 'dept',
            inboundTokenClaimValueType: 'STRING' as const,
            authorizingClaimMatchValue: { claimMatchValue: { matchValueString: 'eng' }, claimMatchOperator: 'EQUALS' as const },
          },
          {
            inboundTokenClaimName: 'groups',
            inboundTokenClaimValueType: 'STRING_ARRAY' as const,
            authorizingClaimMatchValue: { claimMatchValue: { matchValueStringList: ['a', 'b'] }, claimMatchOperator: 'CONTAINS_ANY' as const },
          },
        ],
      },
    };
    const created = await control.send(new CreateAgentRuntimeCommand(input('jwt_agent', { authorizerConfiguration })));
    const got = await control.send(new GetAgentRuntimeCommand({ agentRuntimeId: created.agentRuntimeId }));
    assert.deepEqual(got.authorizerConfiguration, authorizerConfiguration);
    const native = (await node.admin('/v1/runtimes/jwt_agent').then((r) => r.json())) as { spec: { authorizer: unknown } };
    assert.deepEqual(native.spec.authorizer, {
      type: 'jwt',
      discoveryUrl: 'https://idp.example.com/.well-known/openid-configuration',
      allowedAudience: ['my-agents'],
      allowedClients: ['client-a'],
      allowedScopes: ['agents:invoke', 'agents:admin'],
      requiredClaims: [
        { claim: 'dept', operator: 'equals', value: 'eng' },
        { claim: 'groups', operator: 'containsAny', value: ['a', 'b'] },
      ],
    });
    await assert.rejects(
      control.send(
        new CreateAgentRuntimeCommand(
          input('lattice_agent', {
            authorizerConfiguration: {
              customJWTAuthorizer: {
                ...authorizerConfiguration.customJWTAuthorizer,
                privateEndpoint: { managedVpcResource: { vpcIdentifier: 'vpc-1', subnetIds: ['s'], endpointIpAddressType: 'IPV4' } },
              },
            },
          }),
        ),
      ),
      (error) => error instanceof ValidationException && /customJWTAuthorizer.privateEndpoint is not supported/.test(error.message),
    );
    await assert.rejects(
      control.send(
        new CreateAgentRuntimeCommand(
          input('badurl_agent', { authorizerConfiguration: { customJWTAuthorizer: { discoveryUrl: 'https://idp.example.com/keys' } } }),
        ),
      ),
      (error) => error instanceof ValidationException && /must end with \/.well-known\/openid-configuration/.test(error.message),
    );
  });

  test('errors arrive typed, with messages that say what to do', async () => {
    await assert.rejects(
      control.send(new GetAgentRuntimeCommand({ agentRuntimeId: 'missing_agent-AAAAAAAAAA' })),
      (error) => error instanceof ResourceNotFoundException && /missing_agent/.test(error.message),
    );
    await assert.rejects(
      control.send(
        new CreateAgentRuntimeCommand(
          input('image_agent', { agentRuntimeArtifact: { containerConfiguration: { containerUri: '123456789012.dkr.ecr.us-west-2.amazonaws.com/a:latest' } } }),
        ),
      ),
      (error) => error instanceof ValidationException && /berth runs code, not container images.*codeConfiguration.*berth push/.test(error.message),
    );
    await assert.rejects(
      control.send(new CreateAgentRuntimeCommand(input('bad-name'))),
      (error) => error instanceof ValidationException && /agentRuntimeName/.test(error.message),
    );
    await assert.rejects(
      control.send(
        new CreateAgentRuntimeCommand(
          input('no_artifact', {
            agentRuntimeArtifact: { codeConfiguration: { code: { s3: { bucket: 'berth', prefix: 'art_missing' } }, runtime: 'NODE_22', entryPoint: ['a.js'] } },
          }),
        ),
      ),
      ValidationException,
    );
    await control.send(new CreateAgentRuntimeCommand(input('twice_agent')));
    await assert.rejects(control.send(new CreateAgentRuntimeCommand(input('twice_agent'))), ConflictException);
  });

  test('SigV4: a wrong secret, an unknown key, a stale clock and an unsigned request are AccessDenied', async () => {
    const clients = [
      new BedrockAgentCoreControlClient({
        endpoint: node.url,
        region: 'us-west-2',
        credentials: { ...AWS_KEYS, secretAccessKey: 'wrong-secret' },
        maxAttempts: 1,
      }),
      new BedrockAgentCoreControlClient({
        endpoint: node.url,
        region: 'eu-west-1',
        credentials: { accessKeyId: 'AKIDUNKNOWN', secretAccessKey: 'whatever-secret' },
        maxAttempts: 1,
      }),
      new BedrockAgentCoreControlClient({ endpoint: node.url, region: 'us-west-2', credentials: AWS_KEYS, maxAttempts: 1, systemClockOffset: -20 * 60 * 1000 }),
    ];
    const why = [/signature does not match/, /access key AKIDUNKNOWN/, /stale/];
    for (const [i, client] of clients.entries()) {
      await assert.rejects(
        client.send(new GetAgentRuntimeCommand({ agentRuntimeId: 'any-AAAAAAAAAA' })),
        (error) => error instanceof AccessDeniedException && (why[i] as RegExp).test(error.message),
      );
      client.destroy();
    }
    const other = new BedrockAgentCoreControlClient({ endpoint: node.url, region: 'ap-south-1', credentials: AWS_KEYS, maxAttempts: 1 });
    assert.ok(
      Array.isArray((await other.send(new ListAgentRuntimeVersionsCommand({ agentRuntimeId: (await node.api.runtimes())[0]?.id }))).agentRuntimes),
      'any region signs',
    );
    other.destroy();
    const unsigned = await fetch(`${node.url}/runtimes/`, { method: 'POST' });
    assert.equal(unsigned.status, 403);
    assert.equal(unsigned.headers.get('x-amzn-errortype'), 'AccessDeniedException');
  });
});

describe('AgentCore API credentials beyond the environment', () => {
  test('keys from <home>/keys/aws-credentials sign; --aws-auth off lets anyone in and says so loudly', async (t) => {
    const home = mkdtempSync(join(tmpdir(), 'berth-keys-'));
    chmodSync(home, 0o711);
    t.after(() => rmSync(home, { recursive: true, force: true }));
    mkdirSync(join(home, 'keys'), { mode: 0o700 });
    writeFileSync(join(home, 'keys', 'aws-credentials'), '# teams\nAKIDFROMFILE0001 first-file-secret\nAKIDFROMFILE0002 second-file-secret\n', { mode: 0o600 });
    const list = (node: BerthNode, credentials: { accessKeyId: string; secretAccessKey: string }): Promise<{ agentRuntimes?: unknown[] }> => {
      const client = new BedrockAgentCoreControlClient({ endpoint: node.url, region: 'us-east-1', credentials, maxAttempts: 1 });
      return client.send(new ListAgentRuntimesCommand({})).finally(() => client.destroy());
    };

    const signed = await startBerth({ home, driver: 'process' });
    try {
      for (const [accessKeyId, secretAccessKey] of [
        ['AKIDFROMFILE0001', 'first-file-secret'],
        ['AKIDFROMFILE0002', 'second-file-secret'],
      ] as const) {
        assert.deepEqual((await list(signed, { accessKeyId, secretAccessKey })).agentRuntimes, [], accessKeyId);
      }
      await assert.rejects(list(signed, { accessKeyId: 'AKIDFROMFILE0001', secretAccessKey: 'second-file-secret' }), AccessDeniedException);
      assert.doesNotMatch(signed.logs(), /authentication is OFF/);
    } finally {
      await signed.stop();
    }

    const open = await startBerth({ home, driver: 'process', env: { BERTH_AWS_AUTH: 'off' } });
    try {
      assert.match(open.logs(), /AgentCore API authentication is OFF/);
      const unsigned = await fetch(`${open.url}/runtimes/`, { method: 'POST' });
      assert.equal(unsigned.status, 200);
      assert.deepEqual(await unsigned.json(), { agentRuntimes: [] });
      assert.deepEqual((await list(open, { accessKeyId: 'AKIDANYONE', secretAccessKey: 'anything-at-all' })).agentRuntimes, []);
    } finally {
      await open.stop();
    }
  });
});
