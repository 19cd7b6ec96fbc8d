import { defineConfig } from 'vitest/config';

// One project per test kind, so each can be run alone (npm run test:unit, ...) and given its own limits.
export default defineConfig({
  test: {
    // e2e and browser suites arrive with later issues; an empty kind is not a failure.
    passWithNoTests: true,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{proto,partitioner,edge-agent,cloud-service,cli}/tests/**/*.test.ts', 'bench/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 120_000,
        },
      },
      {
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
