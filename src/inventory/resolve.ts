/**
 * Resolving an Ansible inventory into groups, hosts and merged host variables.
 *
 * Every inventory form Ansible accepts (YAML, INI, directories with group_vars/
 * and host_vars/, plugins) goes through `ansible-inventory --list`, so rcptsync
 * sees exactly what the playbooks will see. A pre-resolved dump of the same JSON
 * (`--inventory-json`) serves machines without ansible-core, and tests.
 */
import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { RcptsyncError, ExitCode, UsageError } from '../errors.js';

export interface ResolvedGroup {
  /** Hosts listed directly in this group. */
  hosts: string[];
  /** Direct child groups. */
  children: string[];
  /** Every host of this group and of its children, recursively; sorted. */
  allHosts: string[];
  /** Group variables, present only in `--export` style dumps (already merged into hostvars). */
  vars?: Record<string, unknown>;
}

export interface ResolvedInventory {
  /** What was resolved, for messages: the inventory path or the JSON dump. */
  origin: string;
  /** The inventory file or directory (absolute), when known: used to find file:line. */
  inventoryPath?: string;
  /** The JSON dump (absolute), when read from one. */
  jsonPath?: string;
  groups: Record<string, ResolvedGroup>;
  /** Merged variables per host (group vars already applied, host vars win). Every host has an entry. */
  hostvars: Record<string, Record<string, unknown>>;
}

export interface ResolveOptions {
  inventory?: string;
  inventoryJson?: string;
  /** Environment for ansible-inventory (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** The ansible-inventory executable (default `ansible-inventory` on PATH). */
  ansibleInventory?: string;
}

const MAX_INVENTORY_OUTPUT = 256 * 1024 * 1024;
/** A dynamic inventory plugin may hang on a dead API; do not wait forever. */
const INVENTORY_TIMEOUT_MS = 300_000;

/**
 * Resolve an inventory. With `inventoryJson` the dump is read (and `inventory`, if
 * also given, is only used to find file positions); otherwise ansible-inventory runs.
 */
export async function resolveInventory(options: ResolveOptions): Promise<ResolvedInventory> {
  const inventoryPath = options.inventory ? resolvePath(options.inventory) : undefined;
  if (options.inventoryJson) {
    const jsonPath = resolvePath(options.inventoryJson);
    let text: string;
    try {
      text = await readFile(jsonPath, 'utf8');
    } catch (error) {
      throw new UsageError(`cannot read the inventory dump ${options.inventoryJson}: ${(error as Error).message}`);
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (error) {
      throw new UsageError(`${options.inventoryJson}: not valid JSON (expected the output of ansible-inventory --list): ${(error as Error).message}`);
    }
    return { ...parseInventoryJson(data, options.inventoryJson), ...(inventoryPath ? { inventoryPath } : {}), jsonPath };
  }
  if (!options.inventory || !inventoryPath) {
    throw new UsageError('no inventory given: use --inventory PATH (or --inventory-json FILE)');
  }
  try {
    await stat(inventoryPath);
  } catch {
    throw new UsageError(`inventory ${options.inventory} does not exist`);
  }
  const stdout = await runAnsibleInventory(inventoryPath, options);
  let data: unknown;
  try {
    data = JSON.parse(stdout);
  } catch (error) {
    throw new RcptsyncError(`ansible-inventory -i ${options.inventory} --list printed something that is not JSON: ${(error as Error).message}`);
  }
  return { ...parseInventoryJson(data, options.inventory), inventoryPath };
}

function runAnsibleInventory(inventoryPath: string, options: ResolveOptions): Promise<string> {
  const executable = options.ansibleInventory ?? 'ansible-inventory';
  const args = ['-i', inventoryPath, '--list'];
  const shown = `${executable} ${args.join(' ')}`;
  const env = {
    ...(options.env ?? process.env),
    // An inventory Ansible cannot parse is otherwise a warning and an empty result.
    ANSIBLE_INVENTORY_UNPARSED_FAILED: 'True',
    ANSIBLE_NOCOLOR: '1',
    ANSIBLE_FORCE_COLOR: '0',
  };
  return new Promise((resolvePromise, reject) => {
    execFile(executable, args, { env, maxBuffer: MAX_INVENTORY_OUTPUT, timeout: INVENTORY_TIMEOUT_MS, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (!error) {
        resolvePromise(stdout);
        return;
      }
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        reject(
          new UsageError(
            `${executable} not found: install ansible-core (e.g. apt-get install ansible-core) or pass a pre-resolved dump with --inventory-json (the output of ansible-inventory --list)`,
          ),
        );
        return;
      }
      const exit =
        typeof code === 'number'
          ? `exit code ${code}`
          : error.killed
            ? `a timeout after ${INVENTORY_TIMEOUT_MS / 1000} s`
            : error.signal
              ? `signal ${error.signal}`
              : String(code ?? error.message);
      reject(new RcptsyncError(`inventory could not be resolved: command failed with ${exit}: ${shown}`, ExitCode.usage, stderr.trim() || undefined));
    });
  });
}

/** Turn `ansible-inventory --list` JSON into groups and hostvars; `origin` names it in errors. */
export function parseInventoryJson(data: unknown, origin: string): ResolvedInventory {
  if (!isRecord(data)) throw new UsageError(`${origin}: expected a JSON object as printed by ansible-inventory --list`);
  const meta = data['_meta'];
  const metaHostvars = isRecord(meta) && isRecord(meta['hostvars']) ? meta['hostvars'] : {};

  const direct: Record<string, { hosts: string[]; children: string[]; vars?: Record<string, unknown> }> = {};
  for (const [name, value] of Object.entries(data)) {
    if (name === '_meta') continue;
    if (!isRecord(value)) throw new UsageError(`${origin}: group ${name} is not an object`);
    const hosts = stringList(value['hosts'], `${origin}: group ${name}: hosts`);
    const children = stringList(value['children'], `${origin}: group ${name}: children`);
    direct[name] = { hosts, children, ...(isRecord(value['vars']) ? { vars: value['vars'] } : {}) };
  }
  // Children that only appear as someone's child still are groups.
  for (const group of Object.values(direct)) {
    for (const child of group.children) direct[child] ??= { hosts: [], children: [] };
  }

  const groups: Record<string, ResolvedGroup> = {};
  const collect = (name: string, seen: Set<string>): Set<string> => {
    const found = new Set<string>();
    const group = direct[name];
    if (!group || seen.has(name)) return found; // Ansible refuses cycles; stay safe anyway
    seen.add(name);
    for (const host of group.hosts) found.add(host);
    for (const child of group.children) for (const host of collect(child, seen)) found.add(host);
    seen.delete(name);
    return found;
  };
  for (const name of Object.keys(direct).sort()) {
    const group = direct[name]!;
    groups[name] = {
      hosts: [...group.hosts],
      children: [...group.children],
      allHosts: [...collect(name, new Set())].sort(),
      ...(group.vars ? { vars: group.vars } : {}),
    };
  }

  const hostNames = new Set<string>(Object.keys(metaHostvars));
  for (const group of Object.values(groups)) for (const host of group.allHosts) hostNames.add(host);
  const hostvars: Record<string, Record<string, unknown>> = {};
  const exported = Object.values(groups).some((group) => group.vars);
  for (const host of [...hostNames].sort()) {
    const own = metaHostvars[host];
    if (own !== undefined && !isRecord(own)) throw new UsageError(`${origin}: hostvars of ${host} is not an object`);
    hostvars[host] = exported ? { ...groupVarsFor(host, groups), ...(own ?? {}) } : { ...(own ?? {}) };
  }
  return { origin, groups, hostvars };
}

/**
 * Group variables of an `--export` dump as Ansible applies them: `all` first, then
 * by depth (parents before children), then by name, later ones winning.
 */
function groupVarsFor(host: string, groups: Record<string, ResolvedGroup>): Record<string, unknown> {
  const merged: Record<string, unknown> = {};
  for (const name of groupsOfHost(host, groups)) Object.assign(merged, groups[name]?.vars ?? {});
  return merged;
}

/** The groups a host belongs to (directly or through children), lowest precedence first. */
export function groupsOfHost(host: string, groups: Record<string, ResolvedGroup>): string[] {
  const depth = groupDepths(groups);
  return Object.keys(groups)
    .filter((name) => name === 'all' || groups[name]!.allHosts.includes(host))
    .sort((a, b) => (depth.get(a) ?? 0) - (depth.get(b) ?? 0) || a.localeCompare(b));
}

/** Depth of each group below `all` (longest path), as Ansible orders group variables. */
export function groupDepths(groups: Record<string, ResolvedGroup>): Map<string, number> {
  const depth = new Map<string, number>();
  const visit = (name: string, level: number, seen: Set<string>): void => {
    if (seen.has(name)) return;
    if ((depth.get(name) ?? -1) < level) depth.set(name, level);
    seen.add(name);
    for (const child of groups[name]?.children ?? []) visit(child, level + 1, seen);
    seen.delete(name);
  };
  const roots = Object.keys(groups).filter((name) => !Object.values(groups).some((g) => g.children.includes(name)));
  for (const root of roots) visit(root, root === 'all' ? 0 : 1, new Set());
  return depth;
}

function stringList(value: unknown, where: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
    throw new UsageError(`${where}: expected a list of names`);
  }
  return value as string[];
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
