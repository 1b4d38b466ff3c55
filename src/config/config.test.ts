import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadServeConfig } from './config.ts';

test('defaults', () => {
  const config = loadServeConfig([], {});
  assert.equal(config.host, '127.0.0.1');
  assert.equal(config.port, 8787);
  assert.equal(config.driver, 'bwrap');
  assert.deepEqual(config.lifecycle, { idleTimeoutSeconds: 900, maxLifetimeSeconds: 28_800, unclaimedTimeoutSeconds: 60 });
  assert.match(config.home, /(\/var\/lib\/berth|\.berth)$/);
});

test('flags win over the environment', () => {
  const config = loadServeConfig(['--port', '9001', '--driver', 'process', '--home', 'rel/home'], {
    BERTH_PORT: '9000',
    BERTH_HOST: '0.0.0.0',
  });
  assert.equal(config.port, 9001);
  assert.equal(config.host, '0.0.0.0');
  assert.equal(config.driver, 'process');
  assert.ok(config.home.startsWith('/') && config.home.endsWith('rel/home'));
});

test('bad values name the setting and what it takes', () => {
  assert.throws(() => loadServeConfig(['--port', 'abc'], {}), /--port must be an integer from 0 to 65535, got "abc"/);
  assert.throws(() => loadServeConfig([], { BERTH_DRIVER: 'docker' }), /BERTH_DRIVER must be one of bwrap, process, gvisor/);
  assert.throws(() => loadServeConfig([], { BERTH_SANDBOX_CPUS: 'lots' }), /BERTH_SANDBOX_CPUS must be a number/);
  assert.throws(() => loadServeConfig(['--bogus'], {}), /Unknown option '--bogus'.*berth serve takes/);
});

test('allowed hosts follow the listen address unless set', () => {
  assert.deepEqual(loadServeConfig([], {}).allowedHosts, ['localhost', '127.0.0.1', '[::1]']);
  assert.equal(loadServeConfig(['--host', '0.0.0.0'], {}).allowedHosts, '*');
  assert.deepEqual(loadServeConfig([], { BERTH_ALLOWED_HOSTS: 'berth.example.com, Localhost' }).allowedHosts, ['berth.example.com', 'localhost']);
});

test('AgentCore API settings: SigV4 by default with the keys given, auth off only when asked', () => {
  const defaults = loadServeConfig([], {});
  assert.equal(defaults.aws.auth, 'sigv4');
  assert.equal(defaults.aws.credentials.size, 0);
  assert.equal(defaults.aws.region, 'us-east-1');
  assert.equal(defaults.aws.accountId, '000000000000');
  const keyed = loadServeConfig([], {
    BERTH_AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
    BERTH_AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI',
    BERTH_AWS_ACCOUNT_ID: '123456789012',
  });
  assert.equal(keyed.aws.credentials.get('AKIDEXAMPLE'), 'wJalrXUtnFEMI');
  assert.equal(keyed.aws.accountId, '123456789012');
  assert.equal(loadServeConfig(['--aws-auth', 'off'], { BERTH_AWS_AUTH: 'sigv4' }).aws.auth, 'off');
  assert.throws(
    () => loadServeConfig([], { BERTH_AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE' }),
    /BERTH_AWS_ACCESS_KEY_ID must be set together with BERTH_AWS_SECRET_ACCESS_KEY/,
  );
  assert.throws(() => loadServeConfig([], { BERTH_AWS_AUTH: 'none' }), /BERTH_AWS_AUTH must be one of sigv4, off/);
  assert.throws(() => loadServeConfig([], { BERTH_AWS_ACCOUNT_ID: '42' }), /BERTH_AWS_ACCOUNT_ID must be 12 digits/);
  assert.throws(
    () => loadServeConfig(['--aws-auth', 'off', '--host', '0.0.0.0'], {}),
    /--aws-auth must be sigv4 when berth listens beyond loopback \(0\.0\.0\.0\)/,
  );
  assert.throws(() => loadServeConfig(['--host', '10.0.0.5'], { BERTH_AWS_AUTH: 'off' }), /BERTH_AWS_AUTH must be sigv4 when berth listens beyond loopback/);
  assert.equal(loadServeConfig(['--aws-auth', 'off', '--host', '127.0.0.2'], {}).aws.auth, 'off');
});

test('secret keys are 32 bytes of base64, and an error never shows one', () => {
  const key = Buffer.alloc(32, 7).toString('base64');
  assert.deepEqual(loadServeConfig([], { BERTH_SECRET_KEY: key }).secretKey, Buffer.alloc(32, 7));
  assert.throws(
    () => loadServeConfig([], { BERTH_SECRET_KEY: 'c2hvcnQ=' }),
    (error: Error) => /BERTH_SECRET_KEY must be 32 bytes in base64/.test(error.message) && !error.message.includes('c2hvcnQ='),
  );
});

test('a node of a cluster: its store, where it is reached, and the keys every node shares; none of them without a store', () => {
  const key = Buffer.alloc(32, 7).toString('base64');
  const cluster = { BERTH_CLUSTER_KEY: key, BERTH_SECRET_KEY: key };
  const config = loadServeConfig(['--store', 'postgresql://berth:pw@db:5432/berth', '--advertise-url', 'http://10.0.3.7:8787/'], cluster);
  assert.equal(config.storeUrl, 'postgresql://berth:pw@db:5432/berth');
  assert.equal(config.advertiseUrl, 'http://10.0.3.7:8787');
  assert.equal(config.clusterKey?.length, 32);
  assert.equal(
    loadServeConfig([], { ...cluster, BERTH_STORE_URL: 'postgres://db/b', BERTH_ADVERTISE_URL: 'https://n1.example' }).advertiseUrl,
    'https://n1.example',
  );

  assert.throws(() => loadServeConfig(['--store', 'sqlite:///x.db'], cluster), /--store must be a PostgreSQL URL, postgresql:\/\/USER/);
  assert.throws(() => loadServeConfig(['--store', 'postgresql://db'], cluster), /--store must be a PostgreSQL URL/, 'a database is named');
  assert.throws(
    () => loadServeConfig(['--store', 'postgresql://u:secret-pw@db/b'], {}),
    (error: Error) => /needs --advertise-url.*BERTH_CLUSTER_KEY.*BERTH_SECRET_KEY/s.test(error.message) && !error.message.includes('secret-pw'),
  );
  for (const bad of ['10.0.3.7:8787', 'http://10.0.3.7:8787/berth', 'ftp://n1', 'http://0.0.0.0:8787']) {
    assert.throws(() => loadServeConfig(['--store', 'postgresql://db/b', '--advertise-url', bad], cluster), /--advertise-url must be/, bad);
  }
  assert.throws(() => loadServeConfig(['--advertise-url', 'http://n1:8787'], {}), /--advertise-url is for the nodes of a cluster/);
  assert.throws(() => loadServeConfig([], { BERTH_CLUSTER_KEY: key }), /BERTH_CLUSTER_KEY is for the nodes of a cluster/);
  assert.throws(
    () => loadServeConfig([], { ...cluster, BERTH_CLUSTER_KEY: 'c2hvcnQ=', BERTH_STORE_URL: 'postgresql://db/b' }),
    /BERTH_CLUSTER_KEY must be 32 bytes/,
  );
});
