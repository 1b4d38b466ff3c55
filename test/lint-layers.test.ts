import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { Linter } from 'eslint';
import layers from '../scripts/lint/layers.js';

const root = resolve(import.meta.dirname, '..');

function lint(file: string, code: string): string[] {
  const linter = new Linter({ cwd: root });
  const messages = linter.verify(code, [{ files: ['**/*.ts'], plugins: { berth: { rules: { layers } } }, rules: { 'berth/layers': 'error' } }], {
    filename: resolve(root, file),
  });
  return messages.map((m) => m.message);
}

test('inner layers may not import outer ones', () => {
  assert.deepEqual(lint('src/core/x.ts', "import { a } from '../sessions/manager.ts';"), [
    "src/core/ may not import src/sessions/ (allowed: nothing); see DESIGN.md's Layout table",
  ]);
  assert.equal(lint('src/sandbox/x.ts', "import { a } from '../edge/app.ts';").length, 1);
  assert.equal(lint('src/supervisor/x.ts', "export { a } from '../sessions/manager.ts';").length, 1);
});

test('allowed imports, same-layer imports and packages pass', () => {
  assert.deepEqual(lint('src/sessions/x.ts', "import { a } from '../sandbox/driver.ts'; import { b } from './y.ts'; import z from 'zod';"), []);
  assert.deepEqual(lint('src/edge/x.ts', "import { a } from '../control/v1.ts';"), []);
});

test('nothing imports server.ts', () => {
  assert.equal(lint('src/edge/x.ts', "import { main } from '../server.ts';").length, 1);
});
