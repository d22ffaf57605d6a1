import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The unit tests that exercise the mutated modules, for `npm run mutate`. Not
// inventory/ or ansible/: they spawn ansible-inventory and ansible-lint, which
// add minutes per mutant and test nothing of the mutated code.
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: [
      'test/unit/apply/**/*.test.ts',
      'test/unit/collect/**/*.test.ts',
      'test/unit/metrics/**/*.test.ts',
      'test/unit/model/**/*.test.ts',
      'test/unit/plan/**/*.test.ts',
      'test/unit/render/**/*.test.ts',
      'test/unit/sources/**/*.test.ts',
      'test/unit/state/**/*.test.ts',
      'test/unit/transport/**/*.test.ts',
    ],
    testTimeout: 60_000,
    reporters: ['dot'],
  },
});
