/**
 * The render code as plain JavaScript, for tests that run it in a child process
 * (to kill it mid-run). Transpiled file by file with TypeScript itself, so the
 * tests need neither `npm run build` nor the rest of the project to compile.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ts from 'typescript';

const repo = path.resolve(import.meta.dirname, '../../..');
const folders = ['', 'model', 'tables', 'render'];

/** Returns a directory holding `dist/` (errors, model, tables, render), `templates` and `node_modules` links. */
export function transpileRenderCode(): string {
  const root = mkdtempSync(path.join(tmpdir(), 'rcptsync-render-js-'));
  for (const folder of folders) {
    const from = path.join(repo, 'src', folder);
    const to = path.join(root, 'dist', folder);
    mkdirSync(to, { recursive: true });
    for (const entry of readdirSync(from)) {
      if (!entry.endsWith('.ts') || (folder === '' && entry !== 'errors.ts')) continue;
      const { outputText } = ts.transpileModule(readFileSync(path.join(from, entry), 'utf8'), {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      });
      writeFileSync(path.join(to, entry.replace(/\.ts$/, '.js')), outputText);
    }
  }
  writeFileSync(path.join(root, 'package.json'), '{"type":"module"}\n');
  symlinkSync(path.join(repo, 'node_modules'), path.join(root, 'node_modules'));
  symlinkSync(path.join(repo, 'templates'), path.join(root, 'templates'));
  return root;
}
