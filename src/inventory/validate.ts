/**
 * Validating every rcptsync_ variable of every host, all problems at once:
 * JSON Schema first (schemas/), then the rules a schema cannot say (domains,
 * addresses, duplicates after IDN normalisation, group membership). Each problem
 * names the host, the variable path and, where the file is known, file:line:col.
 */
import type { ErrorObject } from 'ajv';
import { ConfigError, type ConfigProblem } from '../errors.js';
import { DomainCache, normaliseAddress, normaliseDomain, printable } from '../model/address.js';
import { eximRouteData } from '../model/next-hop.js';
import { checkConnection } from './connection.js';
import { checkGroupVariables } from './groups.js';
import { PositionFinder, displayPath, type VarPath } from './positions.js';
import { isRecord, type ResolvedInventory } from './resolve.js';
import { loadSchemas, SOURCE_TYPES, type Schemas } from './schemas.js';
import { SYMPA_DEFAULTS } from '../sources/sympa.js';

export const DEFAULT_LIST_GROUP = 'list_servers';
export const DEFAULT_GATEWAY_GROUP = 'mail_gateways';

export interface ValidateOptions {
  listGroup?: string;
  gatewayGroup?: string;
  /** Another schemas/ directory (tests). */
  schemasDir?: string;
}

export interface ValidatedInventory {
  resolved: ResolvedInventory;
  /** Sorted host names. */
  listServers: string[];
  gateways: string[];
}

/** Validate, throwing one ConfigError that carries every problem. */
export function validateInventory(resolved: ResolvedInventory, options: ValidateOptions = {}): ValidatedInventory {
  const { problems, listServers, gateways } = checkInventory(resolved, options);
  if (problems.length > 0) throw new ConfigError(problems);
  return { resolved, listServers, gateways };
}

/** Every problem of the inventory, sorted by host then path, without duplicates. */
export function checkInventory(
  resolved: ResolvedInventory,
  options: ValidateOptions = {},
): { problems: ConfigProblem[]; listServers: string[]; gateways: string[] } {
  const schemas = loadSchemas(options.schemasDir);
  const positions = new PositionFinder(resolved);
  const problems: ConfigProblem[] = [];
  const report = (host: string, path: VarPath, message: string): void => {
    problems.push({ host, path: formatPath(path), ...(positions.locate(host, path) ?? {}), message });
  };

  const inventoryFile = resolved.inventoryPath ?? resolved.jsonPath;
  const members = (group: string, role: string, option: string): string[] => {
    const found = resolved.groups[group];
    const where = inventoryFile ? { file: displayPath(inventoryFile) } : {};
    if (!found) {
      problems.push({ ...where, message: `the ${role} group "${group}" is not in the inventory (name another with ${option})` });
      return [];
    }
    if (found.allHosts.length === 0) problems.push({ ...where, message: `the ${role} group "${group}" has no hosts` });
    return found.allHosts;
  };
  const listGroup = options.listGroup ?? DEFAULT_LIST_GROUP;
  const gatewayGroup = options.gatewayGroup ?? DEFAULT_GATEWAY_GROUP;
  const listServers = members(listGroup, 'list-server', '--list-group');
  const gateways = members(gatewayGroup, 'gateway', '--gateway-group');

  // Typos first: an unknown rcptsync_ name on any host (group_vars/all reaches all of them).
  for (const [host, vars] of Object.entries(resolved.hostvars)) {
    for (const name of Object.keys(vars)) {
      if (!name.startsWith('rcptsync_') || schemas.knownVariables.has(name)) continue;
      const guess = closest(name, [...schemas.knownVariables]);
      report(host, [name], `unknown variable ${name}${guess ? ` (did you mean ${guess}?)` : ''}`);
    }
  }

  for (const host of listServers) {
    const vars = resolved.hostvars[host] ?? {};
    const own = pick(vars, schemas.listServerVariables);
    for (const error of runSchema(schemas.listServer, own, `host of group ${listGroup}`)) report(host, error.path, error.message);
    checkTemplates(own, report.bind(null, host));
    checkSsh(vars, report.bind(null, host));
    checkConnection(vars, report.bind(null, host));
    checkSources(own['rcptsync_sources'], report.bind(null, host));
    checkServerDomains(own['rcptsync_domains'], report.bind(null, host));
  }
  for (const host of gateways) {
    const own = pick(resolved.hostvars[host] ?? {}, schemas.gatewayVariables);
    for (const error of runSchema(schemas.gateway, own, `host of group ${gatewayGroup}`)) report(host, error.path, error.message);
    checkTemplates(own, report.bind(null, host));
    checkGateway(own, report.bind(null, host));
  }
  checkGroupVariables(resolved.hostvars, { listServers, gateways, listGroup, gatewayGroup }, report);
  return { problems: sortProblems(problems), listServers, gateways };
}

type Report = (path: VarPath, message: string) => void;

/** Run a compiled schema and turn ajv errors into paths and plain messages. */
function runSchema(validate: Schemas['listServer'], data: Record<string, unknown>, role: string): { path: VarPath; message: string }[] {
  if (validate(data)) return [];
  const out: { path: VarPath; message: string }[] = [];
  for (const error of validate.errors ?? []) {
    const converted = convertError(error, role);
    if (converted) out.push(converted);
  }
  return out;
}

function convertError(error: ErrorObject, role: string): { path: VarPath; message: string } | undefined {
  const path = pointerToPath(error.instancePath);
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'if': // the failing "then" branch reports the details itself
      return undefined;
    case 'required': {
      const missing = String(params['missingProperty']);
      const what = path.length === 0 ? `required on every ${role}, but not set` : `required key "${missing}" is missing`;
      return { path: [...path, missing], message: what };
    }
    case 'additionalProperties': {
      const extra = String(params['additionalProperty']);
      const allowed = Object.keys((error.parentSchema?.['properties'] as Record<string, unknown> | undefined) ?? {});
      const guess = closest(extra, allowed);
      const type = isRecord(error.data) && typeof error.data['type'] === 'string' ? ` for a ${error.data['type']} source` : '';
      return {
        path: [...path, extra],
        message: `unknown key "${printable(extra)}"${type}${guess ? ` (did you mean "${guess}"?)` : ''}; allowed: ${allowed.join(', ')}`,
      };
    }
    case 'type':
      return { path, message: `must be ${describeType(String(params['type']))}, not ${describeValue(error.data)}` };
    case 'enum': {
      const allowed = (params['allowedValues'] as unknown[]).map((value) => String(value));
      const guess = typeof error.data === 'string' ? closest(error.data, allowed) : undefined;
      const isType = path[path.length - 1] === 'type' && path.length >= 2;
      return {
        path,
        message: `${isType ? 'unknown source type' : 'invalid value'} ${JSON.stringify(error.data)}${guess ? ` (did you mean "${guess}"?)` : ''}; one of: ${allowed.join(', ')}`,
      };
    }
    case 'pattern': {
      const custom = error.parentSchema?.['x-message'];
      return { path, message: typeof custom === 'string' ? `${custom}; got ${JSON.stringify(error.data)}` : `${error.message}` };
    }
    case 'minItems':
      return { path, message: Number(params['limit']) === 1 ? 'must not be empty' : `must have at least ${params['limit']} items` };
    case 'minProperties':
      return { path, message: 'must not be empty' };
    case 'minLength':
      return { path, message: 'must not be an empty string' };
    default:
      return { path, message: error.message ?? `fails ${error.keyword}` };
  }
}

/** `rcptsync_domains`: valid domains, unique after IDN normalisation. */
function checkServerDomains(domains: unknown, report: Report): void {
  if (!Array.isArray(domains)) return;
  const seen = new Map<string, number>();
  domains.forEach((domain, i) => {
    if (typeof domain !== 'string') return;
    const result = normaliseDomain(domain);
    if (!result.ok) report(['rcptsync_domains', i], `invalid domain: ${result.reason}`);
    else if (seen.has(result.domain)) report(['rcptsync_domains', i], `${result.domain} appears twice (also at [${seen.get(result.domain)}])`);
    else seen.set(result.domain, i);
  });
}

/** Rules beyond the schema for each source object (only where the schema's types hold). */
function checkSources(sources: unknown, report: Report): void {
  if (!Array.isArray(sources)) return;
  const domainCache = new DomainCache();
  sources.forEach((source, index) => {
    if (!isRecord(source) || !SOURCE_TYPES.includes(source['type'] as never)) return;
    const at = (...rest: (string | number)[]): VarPath => ['rcptsync_sources', index, ...rest];
    const domains = source['domains'];
    if (Array.isArray(domains)) {
      domains.forEach((domain, i) => {
        if (typeof domain !== 'string') return;
        const result = normaliseDomain(domain);
        if (!result.ok) report(at('domains', i), `invalid domain: ${result.reason}`);
      });
    }
    if (typeof source['domain'] === 'string') {
      const result = normaliseDomain(source['domain']);
      if (!result.ok) report(at('domain'), `invalid domain: ${result.reason}`);
    }
    for (const key of ['addresses', 'site_addresses']) {
      const list = source[key];
      if (!Array.isArray(list)) continue;
      list.forEach((address, i) => {
        if (typeof address !== 'string') return;
        // One domain check per domain, not per address: a static source may list a million.
        const result = normaliseAddress(address, domainCache);
        if (!result.ok) report(at(key, i), `invalid address "${printable(address)}": ${result.reason}`);
      });
    }
    if (source['type'] === 'sympa') checkSympaLocalParts(source, at, report);
    const min = source['min_uid'];
    const max = source['max_uid'];
    if (typeof min === 'number' && typeof max === 'number' && min > max) {
      report(at('min_uid'), `min_uid ${min} is greater than max_uid ${max}`);
    }
  });
}

/** The sympa.conf local parts (and suffix) of a sympa source must make valid site addresses. */
function checkSympaLocalParts(source: Record<string, unknown>, at: (...rest: (string | number)[]) => VarPath, report: Report): void {
  const email = typeof source['email'] === 'string' ? source['email'] : SYMPA_DEFAULTS.email;
  for (const key of ['email', 'listmaster_email', 'return_path_suffix', 'bounce_email_prefix'] as const) {
    const value = source[key];
    if (typeof value !== 'string' || value === '') continue; // the schema reports an empty one
    const address = `${key === 'return_path_suffix' ? email + value : value}@example.org`;
    const result = normaliseAddress(address);
    if (!result.ok) report(at(key), `gives an invalid address "${printable(address.slice(0, -'@example.org'.length))}@...": ${result.reason}`);
  }
}

/** Relayed domains are valid and unique after IDN normalisation; settings name relayed domains. */
function checkGateway(vars: Record<string, unknown>, report: Report): void {
  const relay = vars['rcptsync_relay_domains'];
  const relayed = new Map<string, string>(); // A-label -> spelling in the inventory
  if (isRecord(relay)) {
    for (const raw of Object.keys(relay)) {
      const result = normaliseDomain(raw);
      if (!result.ok) {
        report(['rcptsync_relay_domains', raw], `invalid domain: ${result.reason}`);
        continue;
      }
      const earlier = relayed.get(result.domain);
      if (earlier !== undefined) {
        report(
          ['rcptsync_relay_domains', raw],
          `domain listed twice: "${printable(earlier)}" and "${printable(raw)}" are both ${result.domain} after normalisation`,
        );
        continue;
      }
      relayed.set(result.domain, raw);
      // An Exim gateway's next hop must have a manualroute form (render/exim.ts); say so at validate, not only at render.
      const nextHop = relay[raw];
      if (vars['rcptsync_mta'] === 'exim' && typeof nextHop === 'string') {
        const route = eximRouteData(nextHop);
        if (!route.ok) report(['rcptsync_relay_domains', raw], route.message);
      }
    }
  }
  const settings = vars['rcptsync_domain_settings'];
  if (isRecord(settings) && isRecord(relay)) {
    const seen = new Map<string, string>();
    for (const raw of Object.keys(settings)) {
      const result = normaliseDomain(raw);
      if (!result.ok) {
        report(['rcptsync_domain_settings', raw], `invalid domain: ${result.reason}`);
        continue;
      }
      if (!relayed.has(result.domain)) {
        report(['rcptsync_domain_settings', raw], `settings for ${result.domain}, which this gateway does not relay (not in rcptsync_relay_domains)`);
      }
      const earlier = seen.get(result.domain);
      if (earlier !== undefined) {
        report(['rcptsync_domain_settings', raw], `domain listed twice: "${printable(earlier)}" and "${printable(raw)}" are both ${result.domain} after normalisation`);
      }
      seen.set(result.domain, raw);
    }
  }
}

/** The Ansible connection variables rcptsync reads on a list server. */
function checkSsh(vars: Record<string, unknown>, report: Report): void {
  const host = vars['ansible_host'] ?? vars['ansible_ssh_host'];
  const hostName = vars['ansible_host'] !== undefined ? 'ansible_host' : 'ansible_ssh_host';
  const templated = typeof host === 'string' && /\{\{|\{%/.test(host); // reported below
  if (host !== undefined && !templated && (typeof host !== 'string' || host.length === 0 || /[\s\x00-\x1f]/.test(host))) {
    report([hostName], `must be a host name or address without whitespace, not ${describeValue(host)}`);
  }
  const portName = vars['ansible_port'] !== undefined ? 'ansible_port' : 'ansible_ssh_port';
  const port = vars[portName];
  if (port !== undefined && parsePort(port) === undefined) {
    report([portName], `must be a port number 1-65535, not ${describeValue(port)}`);
  }
  for (const name of ['ansible_user', 'ansible_ssh_user', 'ansible_ssh_private_key_file', 'ansible_private_key_file']) {
    const value = vars[name];
    if (value !== undefined && (typeof value !== 'string' || value.length === 0)) report([name], `must be a non-empty string, not ${describeValue(value)}`);
  }
  for (const name of ['ansible_host', 'ansible_ssh_host', 'ansible_port', 'ansible_user', 'ansible_ssh_private_key_file']) {
    const value = vars[name];
    if (typeof value === 'string' && /\{\{|\{%/.test(value)) {
      report([name], 'contains a Jinja template, which only a playbook evaluates; rcptsync needs the literal value');
    }
  }
}

/** rcptsync runs outside a playbook: a templated value would be used as written. */
function checkTemplates(vars: Record<string, unknown>, report: Report): void {
  const walk = (value: unknown, path: (string | number)[]): void => {
    if (typeof value === 'string') {
      if (/\{\{|\{%/.test(value)) report(path, 'contains a Jinja template, which only a playbook evaluates; rcptsync needs the literal value');
    } else if (Array.isArray(value)) {
      value.forEach((item, i) => walk(item, [...path, i]));
    } else if (isRecord(value)) {
      for (const [key, item] of Object.entries(value)) walk(item, [...path, key]);
    }
  };
  for (const [name, value] of Object.entries(vars)) walk(value, [name]);
}

export function parsePort(value: unknown): number | undefined {
  const port = typeof value === 'string' && /^[0-9]+$/.test(value) ? Number(value) : value;
  return typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535 ? port : undefined;
}

function pick(vars: Record<string, unknown>, names: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of names) if (vars[name] !== undefined) out[name] = vars[name];
  return out;
}

/** `/rcptsync_sources/1/domains/0` -> ['rcptsync_sources', 1, 'domains', 0] */
export function pointerToPath(pointer: string): (string | number)[] {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((part) => (/^(0|[1-9][0-9]*)$/.test(part) ? Number(part) : part));
}

/** ['rcptsync_sources', 1, 'domains', 0] -> `rcptsync_sources[1].domains[0]`; odd keys quoted. */
export function formatPath(path: VarPath): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(segment)) out += out ? `.${segment}` : segment;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  const unique = problems.filter((problem) => {
    const key = `${problem.host ?? ''}\0${problem.path ?? ''}\0${problem.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  const text = (value: string | undefined): string => value ?? '';
  return unique.sort(
    (a, b) =>
      compare(text(a.host), text(b.host)) || comparePaths(text(a.path), text(b.path)) || compare(a.message, b.message),
  );
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Paths compare with numeric indexes as numbers, so [2] sorts before [10]. */
function comparePaths(a: string, b: string): number {
  const split = (path: string): (string | number)[] => path.split(/(\d+)/).map((part) => (/^\d+$/.test(part) ? Number(part) : part));
  const pa = split(a);
  const pb = split(b);
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i]!;
    const y = pb[i]!;
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    return compare(String(x), String(y));
  }
  return pa.length - pb.length;
}

function describeType(type: string): string {
  const names: Record<string, string> = {
    string: 'a string',
    number: 'a number',
    integer: 'an integer',
    boolean: 'a boolean (true or false)',
    array: 'a list',
    object: 'a mapping',
    null: 'null',
  };
  return type
    .split(',')
    .map((t) => names[t] ?? t)
    .join(' or ');
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `the string ${JSON.stringify(printable(value, 40))}`;
  if (typeof value === 'number') return Number.isInteger(value) ? `the integer ${value}` : `the number ${value}`;
  return `${typeof value} ${String(value)}`;
}

/** The closest name within a small edit distance, to suggest for a typo. */
export function closest(name: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of [...candidates].sort()) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  const limit = Math.max(2, Math.floor(name.length / 3));
  return best !== undefined && bestDistance <= limit ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
