import { defineConfig } from 'vitest/config';

// Unit tests are fast and pure; it/ starts a real sshd, e2e/ and faults/ a whole
// mail stack. They share ports and namespaces, so files run one at a time.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 240_000,
    reporters: ['default'],
  },
});
