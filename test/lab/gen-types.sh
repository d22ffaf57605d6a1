#!/bin/sh
# The lab is plain ESM with JSDoc (vitest and the demo import it uncompiled); the
# TypeScript tests read its types from these generated .d.mts files. Run after
# changing a lab module: sh test/lab/gen-types.sh
set -e
cd "$(dirname "$0")/../.."
npx tsc --allowJs --checkJs --declaration --emitDeclarationOnly --strict --noUncheckedIndexedAccess \
  --target ES2022 --module NodeNext --moduleResolution NodeNext --types node --skipLibCheck \
  --rootDir test/lab --outDir test/lab \
  test/lab/lab.mjs test/lab/smtp-probe.mjs test/lab/ansible.mjs test/lab/run.mjs
