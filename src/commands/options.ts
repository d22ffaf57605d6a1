/**
 * Command-line options shared by the commands, parsed with node:util parseArgs
 * (strict: an unknown option is a usage error). Each option carries its help
 * text, so `--help` can never drift from what is parsed.
 */
import { parseArgs } from 'node:util';
import { UsageError } from '../errors.js';
import { closest } from '../inventory/validate.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  value?: string;
  help: string;
  default?: string;
}

export type OptionSet = Record<string, OptionSpec>;

export const inventoryOptions: OptionSet = {
  inventory: { type: 'string', short: 'i', value: 'INV', help: 'Ansible inventory (file or directory), resolved with ansible-inventory --list' },
  'inventory-json': { type: 'string', value: 'FILE', help: 'pre-resolved inventory (the JSON of ansible-inventory --list) instead of -i' },
  'list-group': { type: 'string', value: 'NAME', help: 'group of the list servers', default: 'list_servers' },
  'gateway-group': { type: 'string', value: 'NAME', help: 'group of the gateways', default: 'mail_gateways' },
};

export const collectOptions: OptionSet = {
  concurrency: { type: 'string', value: 'N', help: 'list servers collected at once', default: '8' },
  strict: { type: 'boolean', help: 'a refused entry (invalid address) fails the run instead of being skipped with a warning' },
  json: { type: 'boolean', help: 'one JSON object per event on stdout (for cron and log shippers)' },
};

export const renderOptions: OptionSet = {
  output: { type: 'string', short: 'o', value: 'DIR', help: 'rendered tree to replace atomically', default: 'rendered' },
  templates: { type: 'string', value: 'DIR', help: 'your own handlebars templates (missing files fall back to the built-in ones)' },
  'state-dir': { type: 'string', value: 'DIR', help: 'where the last-known-good snapshot is kept (default: .rcptsync-state beside the output)' },
  'metrics-file': { type: 'string', value: 'FILE', help: 'Prometheus textfile to write (node_exporter textfile collector)' },
};

export const safetyOptions: OptionSet = {
  force: { type: 'boolean', help: 'accept a shrink over the safety thresholds (after review)' },
  'allow-removals': { type: 'string', value: 'N', help: 'accept up to N removed entries per gateway without --force' },
  'on-refusal': {
    type: 'string',
    value: 'hold|stop',
    help: 'when removals break a threshold: hold them for review and publish the additions (hold), or publish nothing (stop)',
    default: 'hold',
  },
};

/** --on-refusal, checked. */
export function refusalPolicy(values: ParsedOptions): 'hold' | 'stop' {
  const value = values['on-refusal'] ?? 'hold';
  if (value !== 'hold' && value !== 'stop') throw new UsageError(`--on-refusal must be hold or stop, got "${String(value)}"`);
  return value;
}

export const helpOption: OptionSet = {
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

export type ParsedOptions = Record<string, string | boolean | undefined>;

export function parseOptions(argv: string[], sets: OptionSet[]): { values: ParsedOptions; positionals: string[] } {
  const merged: OptionSet = Object.assign({}, ...sets, helpOption);
  const config = Object.fromEntries(
    Object.entries(merged).map(([name, spec]) => [
      name,
      { type: spec.type, ...(spec.short ? { short: spec.short } : {}), ...(spec.default !== undefined ? { default: spec.default } : {}) },
    ]),
  );
  try {
    const { values, positionals } = parseArgs({ args: argv, options: config, allowPositionals: true, strict: true });
    return { values: values as ParsedOptions, positionals };
  } catch (error) {
    const message = (error as Error).message;
    // node:util says "Unknown option '--forse'..."; name the option meant, as validate does for variables.
    const unknown = /^Unknown option '--([^']+)'/.exec(message);
    const guess = unknown ? closest(unknown[1]!, Object.keys(merged)) : undefined;
    throw new UsageError(guess ? `unknown option --${unknown![1]} (did you mean --${guess}?)` : message);
  }
}

export function helpText(command: string, synopsis: string, description: string, sets: OptionSet[]): string {
  const merged: OptionSet = Object.assign({}, ...sets, helpOption);
  const rows = Object.entries(merged).map(([name, spec]) => {
    const flag = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.value ? ` ${spec.value}` : ''}`;
    const help = spec.default !== undefined ? `${spec.help} (default: ${spec.default})` : spec.help;
    return `  ${flag.padEnd(28)} ${help}`;
  });
  return `Usage: rcptsync ${command} ${synopsis}\n\n${description}\n\nOptions:\n${rows.join('\n')}\n\nExit codes: 0 ok, 1 runtime failure (nothing written), 2 usage or invalid configuration, 3 a safety threshold broken (removals held, or nothing written with --on-refusal stop), 4 changes exist (plan --expect-no-changes), 5 published (collect: snapshot written) with failed sources carried forward, 6 the same with a HOST KEY problem.\n`;
}

export function stringOption(values: ParsedOptions, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

export function integerOption(values: ParsedOptions, name: string, min: number): number | undefined {
  const raw = stringOption(values, name);
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw) || Number(raw) < min) throw new UsageError(`--${name} must be an integer >= ${min}, got "${raw}"`);
  return Number(raw);
}

export function inventorySource(values: ParsedOptions): { inventory?: string; inventoryJson?: string; listGroup: string; gatewayGroup: string } {
  const inventory = stringOption(values, 'inventory');
  const inventoryJson = stringOption(values, 'inventory-json');
  if (!inventory === !inventoryJson) throw new UsageError('give exactly one of -i/--inventory and --inventory-json');
  return {
    ...(inventory ? { inventory } : {}),
    ...(inventoryJson ? { inventoryJson } : {}),
    listGroup: stringOption(values, 'list-group')!,
    gatewayGroup: stringOption(values, 'gateway-group')!,
  };
}
