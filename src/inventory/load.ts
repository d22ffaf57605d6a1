/**
 * The inventory as the rest of rcptsync sees it: resolve (ansible-inventory or a
 * JSON dump) -> validate every rcptsync_ variable -> build the typed model.
 */
import { homedir, userInfo } from 'node:os';
import { isAbsolute, join, resolve as resolvePath } from 'node:path';
import type { DomainSettings, GatewaySettings } from '../model/snapshot.js';
import { normaliseDomain } from '../model/address.js';
import type { SourceConfig } from '../sources/types.js';
import type { SshTarget } from '../transport/types.js';
import type { GatewayPolicy, Inventory, ListServer, Thresholds } from './model.js';
import { jumpOf } from './connection.js';
import { isRecord, resolveInventory, type ResolvedInventory } from './resolve.js';
import { parsePort, validateInventory, type ValidateOptions } from './validate.js';

export interface LoadOptions extends ValidateOptions {
  inventory?: string;
  inventoryJson?: string;
  /** For `~`, the default user and SSH_AUTH_SOCK (default process.env). */
  env?: NodeJS.ProcessEnv;
}

/** Defaults of the optional variables; schemas/ states the same values (a test keeps them equal). */
export const DEFAULTS = {
  knownHostsFile: '~/.ssh/known_hosts',
  connectTimeoutSeconds: 10,
  commandTimeoutSeconds: 120,
  maxOutputBytes: 64 * 1024 * 1024,
  maxStaleHours: 72,
  sshPort: 22,
  smtputf8: false,
  roleAddresses: true,
  allowEmpty: false,
  maxRemovalPercent: 30,
  removalFloor: 10,
  minEntries: 0,
} as const;

export async function loadInventory(options: LoadOptions): Promise<Inventory> {
  const resolved = await resolveInventory({
    ...(options.inventory !== undefined ? { inventory: options.inventory } : {}),
    ...(options.inventoryJson !== undefined ? { inventoryJson: options.inventoryJson } : {}),
    ...(options.env ? { env: options.env } : {}),
  });
  return buildInventory(resolved, options);
}

/** Validate a resolved inventory and build the model (throws ConfigError with every problem). */
export function buildInventory(resolved: ResolvedInventory, options: Omit<LoadOptions, 'inventory' | 'inventoryJson'> = {}): Inventory {
  const validated = validateInventory(resolved, options);
  const env = options.env ?? process.env;
  const listServers = validated.listServers.map((name) => buildListServer(name, resolved.hostvars[name] ?? {}, env));
  const gateways = validated.gateways.map((name) => buildGateway(name, resolved.hostvars[name] ?? {}));
  const policies = validated.gateways.map((name) => buildPolicy(name, resolved.hostvars[name] ?? {}));
  const gatewayTargets = validated.gateways.map((name) => sshTargetOf(name, resolved.hostvars[name] ?? {}, env));
  return { listServers, gateways, policies, gatewayTargets };
}

function buildListServer(name: string, vars: Record<string, unknown>, env: NodeJS.ProcessEnv): ListServer {
  const str = (key: string): string | undefined => (typeof vars[key] === 'string' ? (vars[key] as string) : undefined);
  const num = (key: string, fallback: number): number => (typeof vars[key] === 'number' ? (vars[key] as number) : fallback);
  return {
    name,
    ssh: sshTargetOf(name, vars, env),
    sources: (vars['rcptsync_sources'] as Record<string, unknown>[]).map(buildSource),
    commandTimeoutMs: Math.round(num('rcptsync_command_timeout', DEFAULTS.commandTimeoutSeconds) * 1000),
    maxOutputBytes: num('rcptsync_max_output_bytes', DEFAULTS.maxOutputBytes),
    maxStaleHours: num('rcptsync_max_stale', DEFAULTS.maxStaleHours),
    ...(Array.isArray(vars['rcptsync_domains']) ? { domains: new Set((vars['rcptsync_domains'] as string[]).map(aLabel)) } : {}),
  };
}

/** How to reach a host over SSH, from the usual Ansible variables (list servers, and gateways for `status`). */
export function sshTargetOf(name: string, vars: Record<string, unknown>, env: NodeJS.ProcessEnv): SshTarget {
  const str = (key: string): string | undefined => (typeof vars[key] === 'string' ? (vars[key] as string) : undefined);
  const keyFile = str('ansible_ssh_private_key_file') ?? str('ansible_private_key_file');
  const agentSocket = env['SSH_AUTH_SOCK'];
  const connectTimeout = typeof vars['rcptsync_connect_timeout'] === 'number' ? vars['rcptsync_connect_timeout'] : DEFAULTS.connectTimeoutSeconds;
  const jump = jumpOf(vars);
  const local = vars['ansible_connection'] === 'local' || vars['ansible_connection'] === 'ansible.builtin.local';
  return {
    name,
    host: str('ansible_host') ?? str('ansible_ssh_host') ?? name,
    port: parsePort(vars['ansible_port'] ?? vars['ansible_ssh_port']) ?? DEFAULTS.sshPort,
    user: str('ansible_user') ?? str('ansible_ssh_user') ?? currentUser(env),
    ...(keyFile ? { privateKeyFile: expandPath(keyFile, env) } : {}),
    ...(agentSocket ? { agentSocket } : {}),
    knownHostsFile: expandPath(str('rcptsync_known_hosts_file') ?? DEFAULTS.knownHostsFile, env),
    connectTimeoutMs: Math.round(connectTimeout * 1000),
    // As OpenSSH: the jump host's user is the local one unless the spec names one.
    ...(jump ? { jump: { host: jump.host, port: jump.port, user: jump.user ?? currentUser(env) } } : {}),
    ...(local ? { local: true } : {}),
  };
}

/** A copy of the source object with its domains in A-label form (deduplicated, order kept). */
function buildSource(source: Record<string, unknown>): SourceConfig {
  const copy: SourceConfig = { ...(source as SourceConfig) };
  if (Array.isArray(source['domains'])) {
    copy['domains'] = [...new Set((source['domains'] as string[]).map(aLabel))];
  }
  if (typeof source['domain'] === 'string') copy['domain'] = aLabel(source['domain']);
  return copy;
}

function buildGateway(name: string, vars: Record<string, unknown>): GatewaySettings {
  const relay = vars['rcptsync_relay_domains'] as Record<string, string>;
  const settings = settingsByDomain(vars);
  const domains: DomainSettings[] = Object.entries(relay)
    .map(([raw, nextHop]) => {
      const domain = aLabel(raw);
      const own = settings.get(domain) ?? {};
      return {
        domain,
        nextHop,
        roleAddresses: typeof own['role_addresses'] === 'boolean' ? own['role_addresses'] : DEFAULTS.roleAddresses,
        allowEmpty: typeof own['allow_empty'] === 'boolean' ? own['allow_empty'] : DEFAULTS.allowEmpty,
      };
    })
    .sort((a, b) => (a.domain < b.domain ? -1 : a.domain > b.domain ? 1 : 0));
  return { name, domains, smtputf8: vars['rcptsync_smtputf8'] === true, ...(vars['rcptsync_mta'] === 'exim' ? { mta: 'exim' as const } : {}) };
}

function buildPolicy(name: string, vars: Record<string, unknown>): GatewayPolicy {
  const thresholds: Thresholds = {
    maxRemovalPercent: numberOr(vars['rcptsync_max_removal_percent'], DEFAULTS.maxRemovalPercent),
    removalFloor: numberOr(vars['rcptsync_removal_floor'], DEFAULTS.removalFloor),
    minEntries: numberOr(vars['rcptsync_min_entries'], DEFAULTS.minEntries),
    ...(typeof vars['rcptsync_max_removals'] === 'number' ? { maxRemovals: vars['rcptsync_max_removals'] } : {}),
  };
  const domains: Record<string, Partial<Thresholds>> = {};
  for (const [domain, own] of [...settingsByDomain(vars)].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const override: Partial<Thresholds> = {};
    if (typeof own['max_removal_percent'] === 'number') override.maxRemovalPercent = own['max_removal_percent'];
    if (typeof own['max_removals'] === 'number') override.maxRemovals = own['max_removals'];
    if (typeof own['removal_floor'] === 'number') override.removalFloor = own['removal_floor'];
    if (typeof own['min_entries'] === 'number') override.minEntries = own['min_entries'];
    if (Object.keys(override).length > 0) domains[domain] = override;
  }
  return { gateway: name, thresholds, domains };
}

function settingsByDomain(vars: Record<string, unknown>): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  const settings = vars['rcptsync_domain_settings'];
  if (!isRecord(settings)) return out;
  for (const [raw, value] of Object.entries(settings)) if (isRecord(value)) out.set(aLabel(raw), value);
  return out;
}

/** Validation has already refused invalid domains; this only converts. */
function aLabel(raw: string): string {
  const result = normaliseDomain(raw);
  return result.ok ? result.domain : raw;
}

function numberOr(value: unknown, fallback: number): number {
  return typeof value === 'number' ? value : fallback;
}

function currentUser(env: NodeJS.ProcessEnv): string {
  const fromEnv = env['USER'] ?? env['LOGNAME'];
  if (fromEnv) return fromEnv;
  try {
    return userInfo().username;
  } catch {
    return 'root';
  }
}

/** `~` and `~/x` become the home directory; relative paths are taken from the working directory. */
export function expandPath(path: string, env: NodeJS.ProcessEnv = process.env): string {
  const home = env['HOME'] || homedir();
  if (path === '~') return home;
  if (path.startsWith('~/')) return join(home, path.slice(2));
  return isAbsolute(path) ? path : resolvePath(path);
}

/** `max_stale` of the source, else `rcptsync_max_stale` of its list server, else the default. */
export function maxStaleHoursOf(inventory: Inventory, host: string, index: number): number {
  const server = inventory.listServers.find((s) => s.name === host);
  const own = server?.sources[index]?.['max_stale'];
  return typeof own === 'number' ? own : (server?.maxStaleHours ?? DEFAULTS.maxStaleHours);
}

/** One line per list server that may add addresses to every relayed domain (no rcptsync_domains). */
export function unboundListServerWarnings(inventory: Inventory): string[] {
  return inventory.listServers
    .filter((server) => server.domains === undefined)
    .map(
      (server) =>
        `${server.name}: no rcptsync_domains: its sources may add addresses to every relayed domain, including domains routed to other backends; declare the domains it serves (recommended)`,
    );
}
