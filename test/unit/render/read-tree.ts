/** A rendered tree as bytes, for comparing two renders or a render with the golden files. */
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';

/** Every file under `dir`, relative path -> bytes. */
export function readTree(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const walk = (sub: string): void => {
    for (const entry of readdirSync(path.join(dir, sub)).sort()) {
      const rel = path.join(sub, entry);
      if (statSync(path.join(dir, rel)).isDirectory()) walk(rel);
      else files.set(rel, readFileSync(path.join(dir, rel)));
    }
  };
  walk('');
  return files;
}

/**
 * Compare a rendered tree with the committed golden files. The goldens are read
 * before any update, so the renderer is never compared with itself; with
 * UPDATE_GOLDEN=1 a difference rewrites them and fails, to be reviewed in git diff.
 */
export function expectGolden(outDir: string, goldenDir: string): void {
  const rendered = readTree(outDir);
  const golden = existsSync(goldenDir) ? readTree(goldenDir) : new Map<string, Buffer>();
  if (process.env['UPDATE_GOLDEN'] === '1') {
    const files = [...new Set([...rendered.keys(), ...golden.keys()])];
    const changed = files.filter((file) => !golden.has(file) || !rendered.has(file) || !rendered.get(file)!.equals(golden.get(file)!));
    if (changed.length > 0) {
      rmSync(goldenDir, { recursive: true, force: true });
      cpSync(outDir, goldenDir, { recursive: true });
      throw new Error(
        `golden files updated: ${changed.sort().join(', ')}. Review the diff (git diff -- ${path.relative(process.cwd(), goldenDir)}), commit it if it is what you meant, and run again without UPDATE_GOLDEN=1`,
      );
    }
  }
  expect([...rendered.keys()]).toEqual([...golden.keys()]);
  for (const [file, bytes] of rendered) expect(bytes.toString('utf8'), file).toBe(golden.get(file)!.toString('utf8'));
}
