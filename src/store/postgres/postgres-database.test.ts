import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isBerthError } from '../../core/errors.ts';
import { postgresUnsupportedReason, startPostgres, type Postgres } from '../../../test/helpers/postgres.ts';
import { openStore } from '../open-store.ts';
import { runtimeSpec } from '../../../test/helpers/runtime-spec.ts';

const spec = runtimeSpec();

describe('the store on a PostgreSQL that fails', { skip: postgresUnsupportedReason() ?? false }, () => {
  let server: Postgres;
  before(async () => {
    server = await startPostgres();
  });
  after(() => server.stop());

  test('a store that cannot be reached is refused at open, saying where, never with its password', async () => {
    const url = `postgresql://berth:hunter2-secret@127.0.0.1:${server.port + 1}/nowhere`;
    await assert.rejects(openStore({ postgresql: url }, { connectTimeoutMs: 2_000 }), (error: Error) => {
      assert.match(error.message, /berth cannot use the store at postgresql:\/\/berth@127\.0\.0\.1:\d+\/nowhere: /);
      assert.doesNotMatch(error.message, /hunter2/);
      return true;
    });
    await assert.rejects(openStore({ postgresql: `postgresql://berth@127.0.0.1:${server.port}/no_such_database` }), /no_such_database/);
  });

  test('while PostgreSQL is down every call is store_unavailable (503) at once; when it is back the same store answers again', async (t) => {
    const { store } = await openStore({ postgresql: await server.database() }, { connectTimeoutMs: 1_000 });
    t.after(() => store.close());
    await store.putVersion('kept', spec);
    await server.crash();
    try {
      for (const call of [() => store.getRuntime('kept'), () => store.putVersion('kept', spec), () => store.listApiKeys()]) {
        await assert.rejects(call(), (error: unknown) => {
          assert.ok(isBerthError(error), String(error));
          assert.equal(error.code, 'store_unavailable');
          assert.equal(error.status, 503);
          assert.match(error.message, /does not answer.*live sessions go on/);
          return true;
        });
      }
    } finally {
      await server.restart();
    }
    assert.equal((await store.getRuntime('kept'))?.latestVersion, 1);
    assert.equal((await store.putVersion('kept', spec)).version, 2, 'nothing committed was lost, and writes go on');
  });

  test("text PostgreSQL cannot hold (a NUL) is the sender's error, 400, not the store failing", async (t) => {
    const { store } = await openStore({ postgresql: await server.database() });
    t.after(() => store.close());
    await assert.rejects(store.getRuntime('a\u0000b'), (error: unknown) => {
      assert.ok(isBerthError(error), String(error));
      assert.equal(error.code, 'validation_failed');
      return true;
    });
    await store.putVersion('fine', spec);
    assert.equal((await store.listRuntimes()).length, 1, 'the store goes on');
  });
});
