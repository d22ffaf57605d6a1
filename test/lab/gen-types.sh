#!/bin/sh
# The lab is plain ESM with JSDoc (vitest and the demo import it uncompiled); the
# TypeScript tests read its types from these generated .d.mts files. Run after
# changing a lab module: sh test/lab/gen-types.sh
set -e
cd "$(dirname "$0")/../.."
out=$(mktemp -d test/lab/.types.XXXXXX)
trap 'rm -rf "$out"' EXIT
mkdir "$out/src"
cp test/lab/*.mjs "$out/src/"
npx tsc --allowJs --checkJs --declaration --emitDeclarationOnly --strict --noUncheckedIndexedAccess \
  --target ES2022 --module NodeNext --moduleResolution NodeNext --types node --skipLibCheck \
  --rootDir "$out/src" --outDir "$out/types" "$out"/src/*.mjs
cp "$out"/types/*.d.mts test/lab/
