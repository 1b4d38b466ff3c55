/**
 * requestState as berth hands it out: sealed by the edge, bound to session, runtime, principal, method, name and
 * arguments, and expiring. Each way of misusing one is refused at the edge with a clear error, and no sandbox sees
 * the request (the server behind never gets the retry: its counter of questions answered stays put).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { deploy, startBerth, type BerthNode } from '../helpers/berth.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { rawCall, type RawAnswer } from '../helpers/mcp.ts';

const ELICIT = { elicitation: { form: {} } };

describe('requestState refusals', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;
  let other: BerthNode;
  before(async () => {
    node = await startBerth({ env: { BERTH_INPUT_TIMEOUT_MS: '3000' } });
    other = await startBerth();
    const modern = await fixtureDir('conformance-modern');
    for (const target of [node, other]) {
      await deploy(target, 'mrtr', modern, { transport: 'http', command: 'node server.js http' });
      await deploy(target, 'mrtr-twin', modern, { transport: 'stdio', command: 'node server.js stdio' });
    }
  });
  after(async () => {
    await Promise.all([node?.stop(), other?.stop()]);
  });

  /** A first round of test_input_required_result_request_state: an input_required result with a sealed state. */
  async function firstRound(sessionId: string): Promise<RawAnswer> {
    const answer = await rawCall(node.url, 'mrtr', 'tools/call', 'test_input_required_result_request_state', {}, { sessionId, capabilities: ELICIT });
    assert.equal(answer.response.result?.resultType, 'input_required');
    assert.match(String(answer.response.result?.requestState), /^b1\./);
    return answer;
  }

  const confirm = { confirm: { action: 'accept', content: { ok: true } } };

  function refused(answer: RawAnswer, code: string): void {
    assert.equal(answer.status, 400, JSON.stringify(answer.response));
    assert.equal(answer.response.error?.code, -32602);
    assert.equal(answer.response.error?.data?.code, code);
    assert.ok((answer.response.error?.message ?? '').length > 20, 'the message says what to do');
  }

  test('an honest retry completes, routed to its session by the state alone', async () => {
    const sessionId = randomUUID();
    const first = await firstRound(sessionId);
    const retry = await rawCall(
      node.url,
      'mrtr',
      'tools/call',
      'test_input_required_result_request_state',
      {},
      {
        capabilities: ELICIT,
        params: { inputResponses: confirm, requestState: first.response.result?.requestState },
      },
    );
    assert.deepEqual(retry.response.result?.content, [{ type: 'text', text: 'state-ok: requestState validated' }]);
    assert.equal(retry.headers.get('x-amzn-bedrock-agentcore-runtime-session-id'), sessionId);
  });

  test('a tampered state is refused', async () => {
    const first = await firstRound(randomUUID());
    const state = String(first.response.result?.requestState);
    for (const tampered of [`${state}-TAMPERED`, state.slice(0, -6) + 'AAAAAA', state.replace('b1.', 'b2.'), 'not-a-state']) {
      refused(
        await rawCall(
          node.url,
          'mrtr',
          'tools/call',
          'test_input_required_result_request_state',
          {},
          { capabilities: ELICIT, params: { inputResponses: confirm, requestState: tampered } },
        ),
        'request_state_invalid',
      );
    }
  });

  test('a state from another berth (another key) is refused', async () => {
    const foreign = await rawCall(
      other.url,
      'mrtr',
      'tools/call',
      'test_input_required_result_request_state',
      {},
      { sessionId: randomUUID(), capabilities: ELICIT },
    );
    refused(
      await rawCall(
        node.url,
        'mrtr',
        'tools/call',
        'test_input_required_result_request_state',
        {},
        { capabilities: ELICIT, params: { inputResponses: confirm, requestState: foreign.response.result?.requestState } },
      ),
      'request_state_invalid',
    );
  });

  test('a state used for another runtime, tool, or arguments is refused', async () => {
    const first = await firstRound(randomUUID());
    const requestState = first.response.result?.requestState;
    refused(
      await rawCall(
        node.url,
        'mrtr-twin',
        'tools/call',
        'test_input_required_result_request_state',
        {},
        { capabilities: ELICIT, params: { inputResponses: confirm, requestState } },
      ),
      'request_state_mismatch',
    );
    refused(
      await rawCall(
        node.url,
        'mrtr',
        'tools/call',
        'test_input_required_result_tampered_state',
        {},
        { capabilities: ELICIT, params: { inputResponses: confirm, requestState } },
      ),
      'request_state_mismatch',
    );
    refused(
      await rawCall(
        node.url,
        'mrtr',
        'tools/call',
        'test_input_required_result_request_state',
        { extra: 1 },
        { capabilities: ELICIT, params: { inputResponses: confirm, requestState } },
      ),
      'request_state_mismatch',
    );
  });

  test('a state sent with another session id is refused', async () => {
    const first = await firstRound(randomUUID());
    refused(
      await rawCall(
        node.url,
        'mrtr',
        'tools/call',
        'test_input_required_result_request_state',
        {},
        {
          sessionId: randomUUID(),
          capabilities: ELICIT,
          params: { inputResponses: confirm, requestState: first.response.result?.requestState },
        },
      ),
      'request_state_mismatch',
    );
  });

  test('an expired state is refused', async () => {
    const first = await firstRound(randomUUID());
    await new Promise((resolve) => setTimeout(resolve, 3200));
    refused(
      await rawCall(
        node.url,
        'mrtr',
        'tools/call',
        'test_input_required_result_request_state',
        {},
        { capabilities: ELICIT, params: { inputResponses: confirm, requestState: first.response.result?.requestState } },
      ),
      'request_state_expired',
    );
  });

  test('refused states never reach a sandbox', async () => {
    const before = (await node.api.sessions('mrtr')).length;
    const fresh = randomUUID();
    refused(
      await rawCall(
        node.url,
        'mrtr',
        'tools/call',
        'test_input_required_result_request_state',
        {},
        { sessionId: fresh, capabilities: ELICIT, params: { inputResponses: confirm, requestState: 'b1.forged' } },
      ),
      'request_state_invalid',
    );
    const sessions = await node.api.sessions('mrtr');
    assert.ok(!sessions.some((s) => s.id === fresh), 'no sandbox was made for the forged retry');
    assert.ok(sessions.length <= before);
  });
});
