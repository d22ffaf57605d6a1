/**
 * Where did a host's variable come from? ansible-inventory merges everything, so
 * rcptsync guesses the file as Ansible layers it (host_vars over the inventory's
 * host entry over group_vars over the inventory's group vars, `all` last) and
 * then finds the value inside that file with yaml's LineCounter. Best effort: when
 * nothing is found, messages still name the host and the variable path.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, isAbsolute } from 'node:path';
import { LineCounter, isAlias, isMap, isPair, isScalar, isSeq, parseDocument } from 'yaml';
import type { Document, Node } from 'yaml';
import { groupsOfHost, groupDepths, type ResolvedInventory } from './resolve.js';

export type VarPath = readonly (string | number)[];

export interface Position {
  /** Shown relative to the working directory when inside it. */
  file: string;
  line: number;
  column: number;
}

interface YamlFile {
  path: string;
  doc: Document.Parsed;
  lines: LineCounter;
}

/** A place that may define variables: a mapping node in a YAML file, or an INI line set. */
type VarScope =
  | { kind: 'yaml'; file: YamlFile; node: Node }
  | { kind: 'ini'; path: string; lines: string[]; entries: Map<string, number> };

const VARS_EXTENSIONS = new Set(['', '.yml', '.yaml', '.json']);

export class PositionFinder {
  private readonly files = new Map<string, YamlFile | null>();
  private readonly scopes = new Map<string, VarScope[]>();
  private inventoryScan?: InventoryScan;

  constructor(private readonly inventory: ResolvedInventory) {}

  /**
   * The position of the value at `path` (first element: the variable name) for a
   * host. When only a prefix of the path exists in the file, the deepest existing
   * node is returned (e.g. the object that lacks a required key).
   */
  locate(host: string, path: VarPath): Position | undefined {
    const variable = path[0];
    if (typeof variable !== 'string') return undefined;
    for (const scope of this.scopesOf(host)) {
      const found = locateInScope(scope, variable, path.slice(1));
      if (found) return found;
    }
    return undefined;
  }

  /** Every place that may define `host`'s variables, highest precedence first. */
  scopesOf(host: string): VarScope[] {
    const cached = this.scopes.get(host);
    if (cached) return cached;
    const scopes: VarScope[] = [];
    const inventoryPath = this.inventory.inventoryPath;
    if (inventoryPath) {
      const scan = this.scanInventory(inventoryPath);
      const groups = groupsOfHost(host, this.inventory.groups).reverse(); // highest first
      const others = groups.filter((group) => group !== 'all');
      for (const file of this.varsFiles(scan.baseDir, 'host_vars', host)) scopes.push(file);
      scopes.push(...(scan.hosts.get(host) ?? []));
      for (const group of others) scopes.push(...this.varsFiles(scan.baseDir, 'group_vars', group));
      for (const group of orderByDepth(others, this.inventory)) scopes.push(...(scan.groups.get(group) ?? []));
      scopes.push(...this.varsFiles(scan.baseDir, 'group_vars', 'all'));
      scopes.push(...(scan.groups.get('all') ?? []));
    } else if (this.inventory.jsonPath) {
      const file = this.load(this.inventory.jsonPath);
      const node = file?.doc.getIn(['_meta', 'hostvars', host], true);
      if (file && node) scopes.push({ kind: 'yaml', file, node: node as Node });
    }
    this.scopes.set(host, scopes);
    return scopes;
  }

  /** host_vars/NAME or group_vars/NAME files, highest precedence (last loaded) first. */
  private varsFiles(baseDir: string, kind: 'host_vars' | 'group_vars', name: string): VarScope[] {
    const dir = join(baseDir, kind);
    const paths: string[] = [];
    for (const candidate of [name, `${name}.yml`, `${name}.yaml`, `${name}.json`]) {
      const full = join(dir, candidate);
      if (isFile(full)) paths.push(full);
    }
    const nested = join(dir, name);
    if (isDirectory(nested)) paths.push(...listFiles(nested));
    const scopes: VarScope[] = [];
    for (const path of paths.reverse()) {
      const file = this.load(path);
      if (file?.doc.contents) scopes.push({ kind: 'yaml', file, node: file.doc.contents });
    }
    return scopes;
  }

  private load(path: string): YamlFile | null {
    if (this.files.has(path)) return this.files.get(path)!;
    let file: YamlFile | null = null;
    try {
      const lines = new LineCounter();
      const doc = parseDocument(readFileSync(path, 'utf8'), { lineCounter: lines, uniqueKeys: false });
      if (doc.errors.length === 0) file = { path, doc, lines };
    } catch {
      file = null;
    }
    this.files.set(path, file);
    return file;
  }

  private scanInventory(inventoryPath: string): InventoryScan {
    if (this.inventoryScan) return this.inventoryScan;
    const scan: InventoryScan = { baseDir: dirname(inventoryPath), hosts: new Map(), groups: new Map() };
    let files: string[] = [];
    if (isDirectory(inventoryPath)) {
      scan.baseDir = inventoryPath;
      files = readdirSync(inventoryPath)
        .sort()
        .map((name) => join(inventoryPath, name))
        .filter(isFile);
    } else if (isFile(inventoryPath)) {
      files = [inventoryPath];
    }
    for (const path of files) {
      const ext = extname(path);
      if (ext === '.yml' || ext === '.yaml') {
        const file = this.load(path);
        if (file) scanYamlInventory(file, scan);
      } else if (ext === '' || ext === '.ini' || ext === '.hosts' || ext === '.cfg') {
        scanIniInventory(path, scan);
      }
    }
    this.inventoryScan = scan;
    return scan;
  }
}

interface InventoryScan {
  /** Where host_vars/ and group_vars/ live. */
  baseDir: string;
  hosts: Map<string, VarScope[]>;
  groups: Map<string, VarScope[]>;
}

function orderByDepth(groups: string[], inventory: ResolvedInventory): string[] {
  const depth = groupDepths(inventory.groups);
  return [...groups].sort((a, b) => (depth.get(b) ?? 0) - (depth.get(a) ?? 0) || b.localeCompare(a));
}

/** Record host entries and group `vars:` of a YAML inventory (all: hosts/vars/children). */
function scanYamlInventory(file: YamlFile, scan: InventoryScan): void {
  const root = file.doc.contents;
  if (!isMap(root)) return;
  const visitGroup = (name: string, node: unknown, depth: number): void => {
    if (!isMap(node) || depth > 64) return;
    const vars = node.get('vars', true);
    if (isMap(vars)) push(scan.groups, name, { kind: 'yaml', file, node: vars });
    const hosts = node.get('hosts', true);
    if (isMap(hosts)) {
      for (const pair of hosts.items) {
        const host = scalarKey(pair.key);
        if (host !== undefined && isMap(pair.value)) push(scan.hosts, host, { kind: 'yaml', file, node: pair.value });
      }
    }
    const children = node.get('children', true);
    if (isMap(children)) {
      for (const pair of children.items) {
        const child = scalarKey(pair.key);
        if (child !== undefined) visitGroup(child, pair.value, depth + 1);
      }
    }
  };
  for (const pair of root.items) {
    const name = scalarKey(pair.key);
    if (name !== undefined) visitGroup(name, pair.value, 0);
  }
}

/**
 * INI inventories: `host key=value` lines inside a group section and `key=value`
 * lines inside `[group:vars]`. Values sit on one line, so the line of the key is
 * as precise as it gets.
 */
function scanIniInventory(path: string, scan: InventoryScan): void {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return;
  }
  if (text.includes('\0')) return;
  const lines = text.split('\n');
  let section: { group: string; kind: 'hosts' | 'vars' | 'children' } = { group: 'ungrouped', kind: 'hosts' };
  const groupEntries = new Map<string, Map<string, number>>();
  const hostEntries = new Map<string, Map<string, number>>();
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) return;
    const header = /^\[([^\]:]+)(?::(vars|children))?\]$/.exec(line);
    if (header) {
      section = { group: header[1]!, kind: (header[2] as 'vars' | 'children' | undefined) ?? 'hosts' };
      return;
    }
    if (section.kind === 'vars') {
      const key = /^([A-Za-z_][\w]*)\s*=/.exec(line)?.[1];
      if (key) entriesOf(groupEntries, section.group).set(key, index);
    } else if (section.kind === 'hosts') {
      const [host, ...rest] = line.split(/\s+/);
      if (!host) return;
      for (const token of rest) {
        const key = /^([A-Za-z_][\w]*)=/.exec(token)?.[1];
        if (key) entriesOf(hostEntries, host).set(key, index);
      }
    }
  });
  for (const [group, entries] of groupEntries) push(scan.groups, group, { kind: 'ini', path, lines, entries });
  for (const [host, entries] of hostEntries) push(scan.hosts, host, { kind: 'ini', path, lines, entries });
}

function entriesOf(map: Map<string, Map<string, number>>, name: string): Map<string, number> {
  let entries = map.get(name);
  if (!entries) map.set(name, (entries = new Map()));
  return entries;
}

function locateInScope(scope: VarScope, variable: string, rest: VarPath): Position | undefined {
  if (scope.kind === 'ini') {
    const index = scope.entries.get(variable);
    if (index === undefined) return undefined;
    const column = scope.lines[index]!.indexOf(`${variable}`) + 1;
    return { file: displayPath(scope.path), line: index + 1, column: Math.max(column, 1) };
  }
  if (!isMap(scope.node)) return undefined;
  const found = findNode(scope.file.doc, scope.node, [variable, ...rest]);
  if (found === undefined) return undefined;
  const pos = scope.file.lines.linePos(found);
  return { file: displayPath(scope.file.path), line: pos.line, column: pos.col };
}

/**
 * Walk `path` from `start`; return the offset of the deepest node reached (the key
 * of a mapping entry, the item of a sequence), or undefined if even the first step
 * is missing. Aliases are followed.
 */
export function findNode(doc: Document, start: Node, path: VarPath): number | undefined {
  let node: unknown = start;
  let offset: number | undefined;
  for (const segment of path) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((item) => isPair(item) && scalarKey(item.key) === String(segment));
      if (!pair) break;
      const key = pair.key as Node | null;
      offset = key?.range?.[0] ?? (pair.value as Node | null)?.range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment] as Node | undefined;
      if (!item) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else {
      break;
    }
  }
  return offset;
}

/** Locate a path in a standalone YAML/JSON file (for tests and other callers). */
export function locateInFile(path: string, varPath: VarPath): Position | undefined {
  try {
    const lines = new LineCounter();
    const doc = parseDocument(readFileSync(path, 'utf8'), { lineCounter: lines });
    if (!doc.contents) return undefined;
    const offset = findNode(doc, doc.contents, varPath);
    if (offset === undefined) return undefined;
    const pos = lines.linePos(offset);
    return { file: displayPath(path), line: pos.line, column: pos.col };
  } catch {
    return undefined;
  }
}

function scalarKey(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return undefined;
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith('.')) continue;
    const full = join(dir, name);
    if (isDirectory(full)) out.push(...listFiles(full));
    else if (VARS_EXTENSIONS.has(extname(name)) && isFile(full)) out.push(full);
  }
  return out;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function isDirectory(path: string): boolean {
  try {
    return existsSync(path) && statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Relative to the working directory when inside it, so messages stay short. */
export function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}
