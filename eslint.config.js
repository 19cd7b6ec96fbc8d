// Type-aware lint for every workspace. Rules chosen for an async, message-driven codebase, plus the package
// boundaries that keep each daemon carrying only what it runs.
import js from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import { importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/** Workspaces each package's source may never import, and why (the layout in README.md, "Architecture"). */
const FORBIDDEN = {
  proto: ['@cleave/*', '@nats-io/*', 'onnxruntime-node', 'node:*'],
  'node-runtime': [
    '@cleave/edge-agent',
    '@cleave/cloud-service',
    '@cleave/console',
    '@cleave/partitioner',
    '@cleave/cli',
  ],
  partitioner: ['@cleave/edge-agent', '@cleave/cloud-service', '@cleave/console', '@cleave/cli'],
  'edge-agent': [
    '@cleave/cloud-service',
    '@cleave/partitioner',
    '@cleave/console',
    '@cleave/cli',
    '@nats-io/services',
    'chart.js',
  ],
  'cloud-service': ['@cleave/edge-agent', '@cleave/partitioner', '@cleave/console', '@cleave/cli', 'chart.js'],
  console: ['@cleave/edge-agent', '@cleave/cloud-service', '@cleave/partitioner', '@cleave/cli'],
};

/** One `no-restricted-imports` block per package: a forbidden name, or any of its subpaths. */
function boundaryRules() {
  return Object.entries(FORBIDDEN).map(([pkg, names]) => ({
    files: [`${pkg}/src/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: names.flatMap((name) => (name.endsWith('*') ? [name] : [name, `${name}/*`])),
              message: `@cleave/${pkg} must not depend on this package (see the package boundaries in eslint.config.js).`,
            },
          ],
        },
      ],
    },
  }));
}

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'models/**', '**/*.cjs', '.scratch/**', '**/console-assets/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        project: ['./tsconfig.tests.json', './*/tsconfig.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [
        createTypeScriptImportResolver({ project: ['./*/tsconfig.json'], noWarnOnMultipleProjects: true }),
      ],
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'import-x/no-cycle': 'error',
    },
  },
  {
    // Production code imports only what its own package.json declares (static and dynamic imports alike).
    files: ['*/src/**/*.ts'],
    rules: {
      'import-x/no-extraneous-dependencies': ['error', { devDependencies: false, optionalDependencies: false }],
    },
  },
  ...boundaryRules(),
  {
    files: ['eslint.config.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
