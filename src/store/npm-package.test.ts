import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isBerthError } from '../core/errors.ts';
import { npmFailure, OutputTail } from './npm-output.ts';
import { parseNpmSpec, resolveBin, serverCommand, shellWord, specArgument } from './npm-package.ts';

function refused(fn: () => unknown, code: string, message: RegExp): void {
  assert.throws(fn, (error: unknown) => isBerthError(error) && error.code === code && message.test(error.message));
}

test('a published package is a name, scoped or not, with a version, a range or a tag', () => {
  assert.deepEqual(parseNpmSpec('@modelcontextprotocol/server-memory'), { name: '@modelcontextprotocol/server-memory' });
  assert.deepEqual(parseNpmSpec('@modelcontextprotocol/server-memory@2026.8.31'), { name: '@modelcontextprotocol/server-memory', version: '2026.8.31' });
  assert.deepEqual(parseNpmSpec('left-pad@^1.3.0'), { name: 'left-pad', version: '^1.3.0' });
  assert.deepEqual(parseNpmSpec('ms@>=2 <3'), { name: 'ms', version: '>=2 <3' });
  assert.deepEqual(parseNpmSpec('ms@1.x || 2'), { name: 'ms', version: '1.x || 2' });
  assert.deepEqual(parseNpmSpec('typescript@next'), { name: 'typescript', version: 'next' });
  assert.deepEqual(parseNpmSpec('JSONStream@1.3.5'), { name: 'JSONStream', version: '1.3.5' });
  assert.equal(specArgument(parseNpmSpec('@a/b@1.0.0')), '@a/b@1.0.0');
  assert.equal(specArgument(parseNpmSpec('@a/b')), '@a/b');
});

test('hostile and malformed specs never reach npm', () => {
  const hostile = [
    '--registry=http://evil',
    '-g',
    'file:../x',
    'file:x',
    'git+https://github.com/a/b.git',
    'github:a/b',
    'a/b',
    'https://evil.example/x.tgz',
    'a b',
    '../../etc',
    './x',
    '/etc/passwd',
    '~/x',
    '.hidden',
    '_under',
    '@scope/',
    '@scope',
    '@/x',
    '@scope/a/b',
    'x'.repeat(300),
    `@${'s'.repeat(150)}/${'n'.repeat(150)}`,
    'pkg@$(id)',
    'pkg@`id`',
    'pkg@1.0.0;id',
    'pkg@npm:other@1',
    'pkg@http://evil/x.tgz',
    'pkg@github:a/b',
    'pkg@1.0.0#main',
    'pkg@',
    'pkg@ 1.0.0',
    'pkg@1.0.0 ',
    `pkg@${'1'.repeat(200)}`,
    'pkg@-1',
    'pkg\0',
    'pkg\n',
    'pkg@1\n',
    'pkg@"1"',
    "pkg@'1'",
    'node_modules',
    'favicon.ico',
    'npm:pkg',
    'pkġ',
    '',
  ];
  for (const spec of hostile) {
    assert.throws(
      () => parseNpmSpec(spec),
      (error: unknown) => isBerthError(error) && error.code === 'validation_failed' && /is not an npm package/.test(error.message),
      JSON.stringify(spec),
    );
  }
  refused(() => parseNpmSpec('npm:pkg'), 'validation_failed', /leave out the "npm:" prefix/);
  refused(() => parseNpmSpec('x'.repeat(300)), 'validation_failed', /1 to 214 characters/);
});

test('the bin: a string, the one named like the package, the only one, or the one chosen', () => {
  assert.deepEqual(resolveBin({ bin: './dist/index.js' }, '@scope/server-x'), { name: 'server-x', path: 'dist/index.js' });
  assert.deepEqual(resolveBin({ bin: { 'mcp-server-memory': 'dist/index.js' } }, '@modelcontextprotocol/server-memory'), {
    name: 'mcp-server-memory',
    path: 'dist/index.js',
  });
  assert.deepEqual(resolveBin({ bin: { tool: 'a.js', 'server-x': 'b.js' } }, '@scope/server-x'), { name: 'server-x', path: 'b.js' });
  assert.deepEqual(resolveBin({ bin: { tool: 'a.js', other: 'b.js' } }, 'pkg', 'other'), { name: 'other', path: 'b.js' });
});

test('no bin, several bins, or a bin outside its package is a clear error', () => {
  refused(() => resolveBin({ name: 'ms' }, 'ms'), 'validation_failed', /package ms has no bin.*library, not a server/);
  refused(() => resolveBin({ bin: {} }, 'ms'), 'validation_failed', /has no bin/);
  refused(() => resolveBin({ bin: 7 }, 'ms'), 'validation_failed', /has no bin/);
  refused(() => resolveBin(null, 'ms'), 'validation_failed', /has no bin/);
  refused(
    () => resolveBin({ bin: { a: 'a.js', b: 'b.js' } }, 'pkg'),
    'validation_failed',
    /pkg has several bins: a, b; name the one to run with "bin" \(berth deploy --bin NAME\)/,
  );
  refused(() => resolveBin({ bin: { a: 'a.js' } }, 'pkg', 'b'), 'validation_failed', /pkg has no bin "b": a/);
  for (const path of ['../../etc/passwd', '/bin/sh', '.', '..', 'dist/../../x', 'a\0b']) {
    refused(() => resolveBin({ bin: path }, 'pkg'), 'validation_failed', /not a file inside the package/);
  }
});

test("the command runs the bin with berth's node, each argument one word for /bin/sh", () => {
  const bin = { name: 'mcp-server-filesystem', path: 'dist/index.js' };
  assert.equal(
    serverCommand('@modelcontextprotocol/server-filesystem', bin, ['/workspace']),
    'node node_modules/@modelcontextprotocol/server-filesystem/dist/index.js /workspace',
  );
  assert.equal(serverCommand('pkg', bin, []), 'node node_modules/pkg/dist/index.js');
  assert.equal(serverCommand('pkg', bin, ['a b', "it's", '$(id)', '', '--flag=1']), `node node_modules/pkg/dist/index.js 'a b' 'it'\\''s' '$(id)' '' --flag=1`);
  assert.equal(shellWord('`id`;rm -rf /'), "'`id`;rm -rf /'");
  assert.equal(shellWord('x\ny'), "'x\ny'");
  refused(() => shellWord('a\0b'), 'validation_failed', /NUL/);
});

test("npm's failures: a missing package or version is not_found, anything else carries npm's last lines", () => {
  const spec = { name: '@a/b', version: '1.0.0' };
  const base = { code: 1, timeoutMs: 1000 };
  const missing = npmFailure(
    spec,
    {
      ...base,
      output:
        'npm error code E404\nnpm error 404 Not Found - GET https://registry.npmjs.org/@a%2fb\nnpm error A complete log of this run can be found in: /var/lib/berth/npm/cache/_logs/x.log\n',
    },
    {},
  );
  assert.equal(missing.code, 'not_found');
  assert.match(missing.message, /registry has no package @a\/b \(or not at 1\.0\.0\)/);
  assert.doesNotMatch(JSON.stringify(missing.details), /_logs/);
  assert.equal(
    npmFailure(spec, { ...base, output: 'npm error code ETARGET\nnpm error notarget No matching version found for @a/b@1.0.0.\n' }, {}).code,
    'not_found',
  );
  const other = npmFailure(
    spec,
    { ...base, output: 'npm warn deprecated x\nnpm error code ECONNREFUSED\nnpm error at /var/lib/berth/artifacts/.incoming-art_x/node_modules\n' },
    { '/var/lib/berth/artifacts/.incoming-art_x': '<artifact>' },
  );
  assert.equal(other.code, 'validation_failed');
  assert.match(
    other.message,
    /^npm could not install @a\/b@1\.0\.0 \(it exited with 1\):\nnpm error code ECONNREFUSED\nnpm error at <artifact>\/node_modules$/,
  );
  assert.match(npmFailure(spec, { code: null, stopped: 'timeout', timeoutMs: 1000, output: '' }, {}).message, /within 1000 ms \(BERTH_NPM_TIMEOUT_MS\)/);
  assert.equal(npmFailure(spec, { code: null, stopped: 'aborted', timeoutMs: 1000, output: '' }, {}).code, 'invalid_request');
});

test("npm's output is kept to its last 64 KiB", () => {
  const tail = new OutputTail();
  for (let i = 0; i < 1000; i++) tail.push(Buffer.from(`line ${i} ${'x'.repeat(200)}\n`));
  const text = tail.text();
  assert.equal(Buffer.byteLength(text), 64 * 1024);
  assert.match(text, /line 999 x+\n$/);
});
