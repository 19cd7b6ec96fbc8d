import { defineConfig } from 'vitest/config';

// Tests import sibling workspaces from their TypeScript sources (the `source` export condition), never from
// `dist`, so a test run needs no build of the package under test. Only spawned binaries run compiled code.
const sourceFirst = ['source', 'node', 'import', 'default'];

// One project per test kind, so each can be run alone (npm run test:unit, ...) and given its own limits.
export default defineConfig({
  resolve: { conditions: sourceFirst },
  ssr: { resolve: { conditions: sourceFirst } },
  test: {
    // e2e and browser suites arrive with later issues; an empty kind is not a failure.
    passWithNoTests: true,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: [
            '{proto,node-runtime,partitioner,edge-agent,cloud-service,console,cli}/tests/**/*.test.ts',
            'bench/**/*.test.ts',
          ],
          environment: 'node',
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 120_000,
        },
      },
      {
        extends: true,
        test: {
          // Timing acceptance on shaped links (rollouts): run alone, after the others, so the suite's own CPU load
          // does not count against the agents (`npm run test:timing`).
          name: 'timing',
          include: ['test/timing/**/*.test.ts'],
          // One file at a time: each measures the machine, so none may run beside another.
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
