import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SecretBox } from '../core/secret-box.ts';
import { KeyFiles } from './key-files.ts';

const homeFor = (t: { after(fn: () => void): void }): string => {
  const home = mkdtempSync(join(tmpdir(), 'berth-keys-'));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  return home;
};

test('the secret key is made once, owner-only, and read back; no temporary file is left', (t) => {
  const home = homeFor(t);
  const key = new KeyFiles(home).secretKey(undefined);
  assert.equal(key.length, 32);
  assert.deepEqual(new KeyFiles(home).secretKey(undefined), key);
  assert.equal(statSync(join(home, 'keys', 'secret.key')).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(join(home, 'keys')), ['secret.key']);
  const configured = randomBytes(32);
  assert.deepEqual(new KeyFiles(home).secretKey(configured), configured);
});

test('a key file others may read is refused, not used', (t) => {
  const home = homeFor(t);
  new KeyFiles(home).secretKey(undefined);
  chmodSync(join(home, 'keys', 'secret.key'), 0o644);
  assert.throws(
    () => new KeyFiles(home).secretKey(undefined),
    /secret\.key must be a file of this user's that no one else may read or write \(mode 644\): chmod 600 it/,
  );
  chmodSync(join(home, 'keys'), 0o755);
  assert.throws(() => new KeyFiles(home), /keys must be a directory of this user's/);
});

test('a sealed key opens only under its secret key; a raw one from before is sealed in place', (t) => {
  const home = homeFor(t);
  const keys = new KeyFiles(home);
  const box = new SecretBox(keys.secretKey(undefined));
  keys.checkSecretKey(box);
  const made = keys.sealedKey('request-state.key', box);
  assert.deepEqual(keys.sealedKey('request-state.key', box), made);
  assert.ok(!readFileSync(join(home, 'keys', 'request-state.key')).includes(made), 'the file does not hold the key in the clear');

  const raw = randomBytes(32);
  writeFileSync(join(home, 'keys', 'old.key'), raw, { mode: 0o600 });
  assert.deepEqual(keys.sealedKey('old.key', box), raw);
  assert.notEqual(readFileSync(join(home, 'keys', 'old.key')).length, 32, 'sealed in place');
  assert.deepEqual(keys.sealedKey('old.key', box), raw);

  const other = new SecretBox(randomBytes(32));
  assert.throws(() => keys.checkSecretKey(other), /the secret key is not the one this home's secrets are sealed with/);
  assert.throws(() => keys.sealedKey('request-state.key', other), /does not open with berth's secret key/);
});
