// Lint: typescript-eslint's recommended rules, berth's layer boundaries, and the funnels (no console, no
// process.env outside the places that build configuration).
import tseslint from 'typescript-eslint';
import layers from './scripts/lint/layers.js';

export default tseslint.config(
  { ignores: ['node_modules/**', '**/*.mjs', '.scratch/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { berth: { rules: { layers } } },
    rules: {
      'berth/layers': 'error',
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite', 'before', 'after'] }] },
      ],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: {
      'no-console': 'error',
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'Read settings through src/config; only entry points pass process.env in.' },
      ],
    },
  },
  {
    // Entry points: they hand the environment to the one place that parses it.
    files: ['src/server.ts', 'src/cli/main.ts', 'src/supervisor/main.ts'],
    rules: { 'no-restricted-properties': 'off' },
  },
);
