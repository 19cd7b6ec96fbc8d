import { defineConfig } from 'vitest/config';

// The root vitest projects do not pick up bench/; this runs the bench's own unit tests:
// npx vitest run --config bench/side-by-side/vitest.config.ts
export default defineConfig({
  test: { root: import.meta.dirname, include: ['*.test.ts'], environment: 'node' },
});
