/**
 * The manifest of a rendered tree: per gateway, a sha256, byte count and entry
 * count per file, and the entries per domain. The Ansible role refuses to deploy
 * a file that does not match it; checkTree does the same check here.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { printable } from '../model/address.js';
import { countEntries } from './output.js';
import { MANIFEST_FILE, MANIFEST_FORMAT } from './swap.js';
import { gatewayOutputs, recipientsFile, tableFiles } from './exim.js';

export const MANIFEST_VERSION = 1;

export interface TableFileEntry {
  sha256: string;
  /** Non-comment, non-blank lines. */
  entries: number;
  bytes: number;
}

export interface PlainFileEntry {
  sha256: string;
  bytes: number;
}

/** A table's entry carries `entries`; vars.yml's does not. */
export type FileEntry = PlainFileEntry & { entries?: number };

export interface GatewayManifest {
  /** Absent: a Postfix gateway (relay_recipients, relay_domains, transport); exim: recipients, relay_domains, routes (exim.ts). */
  mta?: 'exim';
  /** Every file of the gateway's folder: the tables with an entry count, vars.yml without. */
  files: Record<string, FileEntry>;
  /** Every domain as it appears in the files (A-label, and U-label where rendered), with its relay_recipients lines. */
  domains: Record<string, { entries: number }>;
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  version: typeof MANIFEST_VERSION;
  gateways: Record<string, GatewayManifest>;
}

/** The manifest's bytes: keys in a fixed order, two-space indent, trailing newline. */
export function serialiseManifest(manifest: Manifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

export interface TreeCheck {
  ok: boolean;
  /** One line each, naming the file. */
  problems: string[];
  manifest: Manifest | null;
}

/** Re-read a rendered tree and check every file against its manifest. */
export async function checkTree(outDir: string): Promise<TreeCheck> {
  const root = path.resolve(outDir);
  const manifestFile = path.join(root, MANIFEST_FILE);
  const problems: string[] = [];
  let manifest: Manifest;
  try {
    manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as Manifest;
  } catch (error) {
    return { ok: false, problems: [`${manifestFile}: ${(error as Error).message}`], manifest: null };
  }
  if (manifest?.format !== MANIFEST_FORMAT || manifest.version !== MANIFEST_VERSION || typeof manifest.gateways !== 'object' || manifest.gateways === null) {
    return { ok: false, problems: [`${manifestFile}: not an rcptsync manifest of version ${MANIFEST_VERSION}`], manifest: null };
  }
  const listed = new Set(Object.keys(manifest.gateways));
  for (const entry of readdirSync(root).sort()) {
    if (entry !== MANIFEST_FILE && !listed.has(entry)) problems.push(`${path.join(root, entry)}: not in the manifest`);
  }
  for (const [gateway, gm] of Object.entries(manifest.gateways)) {
    const dir = path.join(root, gateway);
    if (gateway.includes('/') || gateway.startsWith('.')) {
      problems.push(`${manifestFile}: gateway "${printable(gateway)}" is not a usable directory name`);
      continue;
    }
    if (!existsSync(dir)) {
      problems.push(`${dir}: missing`);
      continue;
    }
    const mta = gm.mta === 'exim' ? 'exim' : 'postfix';
    const names = gatewayOutputs(mta).map(([, file]) => file);
    const tables = tableFiles(mta);
    const recipients = recipientsFile(mta);
    for (const entry of readdirSync(dir).sort()) {
      if (!names.includes(entry)) problems.push(`${path.join(dir, entry)}: not in the manifest`);
    }
    let domainTotal = 0;
    for (const figures of Object.values(gm.domains ?? {})) domainTotal += figures.entries;
    for (const name of names) {
      const file = path.join(dir, name);
      const expected = gm.files?.[name] as Partial<TableFileEntry> | undefined;
      if (!expected) {
        problems.push(`${file}: not in the manifest`);
        continue;
      }
      let bytes: Buffer;
      try {
        bytes = readFileSync(file);
      } catch (error) {
        problems.push(`${file}: ${(error as Error).message}`);
        continue;
      }
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      if (sha256 !== expected.sha256) problems.push(`${file}: sha256 ${sha256} does not match the manifest (${expected.sha256})`);
      if (bytes.length !== expected.bytes) problems.push(`${file}: ${bytes.length} bytes, the manifest says ${expected.bytes}`);
      if (tables.includes(name)) {
        const entries = countEntries(bytes);
        if (entries !== expected.entries) problems.push(`${file}: ${entries} entries, the manifest says ${expected.entries}`);
        if (name === recipients && entries !== domainTotal) {
          problems.push(`${file}: ${entries} entries, but the manifest's domains add up to ${domainTotal}`);
        }
      }
    }
  }
  return { ok: problems.length === 0, problems, manifest };
}
