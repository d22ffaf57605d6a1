/**
 * Snapshot -> rendered tree. Per gateway, into `<outDir>/<gateway>/`:
 * relay_recipients, relay_domains, transport and vars.yml; plus
 * `<outDir>/manifest.json`. The same snapshot always gives the same bytes: the
 * order is by domain, then local part; no time, no host name, no path of the
 * machine that rendered it.
 *
 * The whole tree is written beside outDir and swapped in (swap.ts), so a failed
 * or interrupted run leaves the previous tree as it was.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { domainToASCII } from 'node:url';
import { ConfigError, ExitCode, RcptsyncError, type ConfigProblem } from '../errors.js';
import { unicodeDomain } from '../model/address.js';
import { compareCodePoints } from '../model/address-keys.js';
import { checkSnapshotSettings } from '../model/snapshot-io.js';
import { buildGatewayTables, type GatewayTable } from '../tables/gateway-tables.js';
import type { Snapshot } from '../model/snapshot.js';
import { MANIFEST_VERSION, serialiseManifest, type GatewayManifest, type Manifest, type PlainFileEntry, type TableFileEntry } from './manifest.js';
import { KeyDigest, writeRenderedFile, type FileFigures } from './output.js';
import { eximRouteData, gatewayOutputs, recipientsFile, tableFiles, type Mta } from './exim.js';
import {
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  acquireRenderLock,
  assertReplaceable,
  recoverInterruptedSwap,
  swapInTree,
  syncDirectory,
  treePaths,
  type SwapStep,
  type TreePaths,
} from './swap.js';
import { loadTemplates, trustAddressList, type RenderedFile } from './templates.js';

export type RenderStep = 'written' | SwapStep;

export interface RenderOptions {
  outDir: string;
  /** A folder of the user's templates; each one missing there comes from the built-in set. */
  templatesDir?: string;
  /** Called after each step of the write-and-swap; tests use it to interrupt a run at a chosen point. */
  onStep?: (step: RenderStep) => void;
  /** buildGatewayTables(snapshot), when the caller already built them for this same snapshot (sync's plan). */
  tables?: GatewayTable[];
}

export interface GatewaySummary {
  name: string;
  /** Domains as rendered (an IDN with SMTPUTF8 counts twice: A-label and U-label). */
  domains: number;
  /** relay_recipients (Exim: recipients) lines. */
  entries: number;
  mta: Mta;
  /** `host label` of each contributing source. */
  sources: string[];
}

export interface RenderSummary {
  outDir: string;
  gateways: GatewaySummary[];
  manifest: Manifest;
  /** What was repaired from an interrupted earlier run, if anything. */
  recovered: string[];
}

/** One domain as the templates see it. Every string in it has been validated. */
export interface DomainView {
  /** The name as written in the files: the A-label, or its U-label form. */
  domain: string;
  alabel: string;
  unicode: boolean;
  nextHop: string;
  /** Exim gateways only: the next hop as manualroute route_data (exim.ts). */
  route?: string;
  /** Lines this domain has in relay_recipients. */
  entries: number;
  roleAddresses: boolean;
  allowEmpty: boolean;
  /** `host label` of each source that filled the domain. */
  sources: string[];
  /** `local@domain` keys, sorted, unique; for `{{table addresses "OK"}}`. */
  addresses: readonly string[];
}

export interface SourceView {
  host: string;
  label: string;
  type: string;
  index: number;
}

/** What every template of one gateway is rendered with. */
export interface GatewayContext {
  gateway: string;
  mta: Mta;
  smtputf8: boolean;
  totals: { sources: number; domains: number; entries: number };
  sources: SourceView[];
  domains: DomainView[];
  /** The Ansible vars file's content; render it with `{{yaml vars}}`. */
  vars: {
    rcptsync_rendered: {
      gateway: string;
      relay_domains: string[];
      transport: Record<string, string>;
      entries: Record<string, number>;
      /** Exim gateways only. */
      mta?: 'exim';
      routes?: Record<string, string>;
    };
  };
}

const IDN_LABEL = /(?:^|\.)xn--/;
const SAFE_ULABEL = /^[^\s\p{C}\p{Z}#@"\\]+$/u;

/**
 * A source's label in the rendered files. A carried-forward source renders as
 * itself (its data did not change, so neither do the files); held removals say
 * what they are, for the reviewer of the rendered tree.
 */
function shownLabel(source: { label: string; held?: true }): string {
  return source.held ? `${source.label} (held removals, pending review)` : source.label;
}

/** The templates' view of each gateway, with U-label forms added where the gateway has SMTPUTF8. */
export function gatewayContexts(snapshot: Snapshot, tables: GatewayTable[] = buildGatewayTables(snapshot)): GatewayContext[] {
  const byName = [...tables].sort((a, b) => (a.gateway < b.gateway ? -1 : a.gateway > b.gateway ? 1 : 0));
  const mtaOf = new Map(snapshot.gateways.map((g) => [g.name, g.mta === 'exim' ? ('exim' as const) : ('postfix' as const)]));
  return byName.map((table) => {
    const mta = mtaOf.get(table.gateway) ?? 'postfix';
    const sourceName = (s: number): string => `${snapshot.sources[s]!.host} ${shownLabel(snapshot.sources[s]!)}`;
    const domains: DomainView[] = [];
    for (const d of table.domains) {
      const view: DomainView = {
        domain: d.domain,
        alabel: d.domain,
        unicode: false,
        nextHop: d.nextHop,
        entries: d.addresses.length,
        roleAddresses: d.roleAddresses,
        allowEmpty: d.allowEmpty,
        sources: d.sources.map(sourceName).sort(),
        addresses: trustAddressList(d.addresses),
      };
      if (mta === 'exim') {
        const route = eximRouteData(d.nextHop);
        if (!route.ok) throw new RcptsyncError(`gateway ${table.gateway}: ${d.domain}: ${route.message}`, ExitCode.usage);
        view.route = route.route;
      }
      domains.push(view);
      if (!table.smtputf8 || !IDN_LABEL.test(d.domain)) continue;
      const ulabel = unicodeDomain(d.domain);
      if (ulabel === d.domain) continue;
      if (!SAFE_ULABEL.test(ulabel) || domainToASCII(ulabel) !== d.domain) {
        throw new RcptsyncError(`gateway ${table.gateway}: domain ${d.domain} has no usable U-label form for SMTPUTF8`, ExitCode.usage);
      }
      const cut = d.domain.length;
      domains.push({
        ...view,
        domain: ulabel,
        unicode: true,
        addresses: trustAddressList(d.addresses.map((key) => key.slice(0, key.length - cut) + ulabel)),
      });
    }
    domains.sort((a, b) => compareCodePoints(a.domain, b.domain));
    const sources = table.sources
      .map((s): SourceView => {
        const { host, type, index } = snapshot.sources[s]!;
        return { host, label: shownLabel(snapshot.sources[s]!), type, index };
      })
      .sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : a.index !== b.index ? a.index - b.index : a.label < b.label ? -1 : 1));
    const entries = domains.reduce((sum, d) => sum + d.entries, 0);
    return {
      gateway: table.gateway,
      mta,
      smtputf8: table.smtputf8,
      totals: { sources: sources.length, domains: domains.length, entries },
      sources,
      domains,
      vars: {
        rcptsync_rendered: {
          gateway: table.gateway,
          relay_domains: domains.map((d) => d.domain),
          transport: Object.fromEntries(domains.map((d) => [d.domain, d.nextHop])),
          entries: Object.fromEntries(domains.map((d) => [d.domain, d.entries])),
          ...(mta === 'exim' ? { mta: 'exim' as const, routes: Object.fromEntries(domains.map((d) => [d.domain, d.route!])) } : {}),
        },
      },
    };
  });
}

/**
 * What each gateway's relay_recipients will hold: gateway -> domain (as written,
 * A-label or U-label) -> keys. The shape plan/ compares (TablesFromSnapshot).
 */
export function renderedTables(snapshot: Snapshot): Map<string, Map<string, string[]>> {
  checkSnapshotSettings(snapshot);
  const tables = new Map<string, Map<string, string[]>>();
  for (const context of gatewayContexts(snapshot)) {
    tables.set(context.gateway, new Map(context.domains.map((d) => [d.domain, [...d.addresses]])));
  }
  return tables;
}

/** A relayed domain that no source fills is an error, unless it is declared empty. */
function emptyDomainProblems(tables: GatewayTable[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const table of tables) {
    for (const d of table.domains) {
      if (d.collected.length === 0 && !d.allowEmpty) {
        problems.push({
          host: table.gateway,
          path: `rcptsync_relay_domains.${d.domain}`,
          message: `no source provides any address for ${d.domain} (role addresses do not count); if that is intended, set rcptsync_domain_settings: {"${d.domain}": {allow_empty: true}}`,
        });
      }
    }
  }
  return problems;
}

/** Render the snapshot into outDir, atomically. */
export async function renderTree(snapshot: Snapshot, options: RenderOptions): Promise<RenderSummary> {
  const paths = treePaths(options.outDir);
  mkdirSync(paths.parent, { recursive: true });
  const lock = acquireRenderLock(paths.outDir);
  try {
    return await renderLocked(snapshot, options, paths);
  } finally {
    lock.release();
  }
}

async function renderLocked(snapshot: Snapshot, options: RenderOptions, paths: TreePaths): Promise<RenderSummary> {
  const recovered = recoverInterruptedSwap(paths.outDir, { lockHeld: true });
  assertReplaceable(paths.outDir);
  checkSnapshotSettings(snapshot);
  const templates = loadTemplates(options.templatesDir);
  const tables = options.tables ?? buildGatewayTables(snapshot);
  const empty = emptyDomainProblems(tables);
  if (empty.length > 0) throw new ConfigError(empty);
  const contexts = gatewayContexts(snapshot, tables);

  mkdirSync(paths.newDir);
  const manifest: Manifest = { format: MANIFEST_FORMAT, version: MANIFEST_VERSION, gateways: {} };
  try {
    for (const context of contexts) {
      const dir = path.join(paths.newDir, context.gateway);
      mkdirSync(dir);
      const figures: Record<string, FileFigures> = {};
      const recipients = recipientsFile(context.mta);
      let recipientsTemplate: RenderedFile = 'relay_recipients';
      for (const [template, file] of gatewayOutputs(context.mta)) {
        const { output, tables: pending } = templates.render(template, context);
        if (file === recipients) recipientsTemplate = template;
        figures[file] = writeRenderedFile(path.join(dir, file), output, pending, {
          kind: file === 'vars.yml' ? 'yaml' : 'postfix-table',
          refuseCatchAll: file === recipients,
          digestLiteralKeys: file === recipients,
          where: templates.origin(template),
        });
      }
      checkRecipientsTemplate(templates.origin(recipientsTemplate), context, figures[recipients]!);
      syncDirectory(dir);
      manifest.gateways[context.gateway] = gatewayManifest(context, figures);
    }
    writeFileSync(path.join(paths.newDir, MANIFEST_FILE), serialiseManifest(manifest), { flag: 'wx', flush: true });
    syncDirectory(paths.newDir);
    options.onStep?.('written');
    swap(paths, options.onStep);
  } catch (error) {
    rmSync(paths.newDir, { recursive: true, force: true });
    throw error instanceof RcptsyncError ? error : new RcptsyncError(`cannot render into ${paths.outDir}: ${(error as Error).message}`, ExitCode.runtime);
  }
  return {
    outDir: paths.outDir,
    recovered,
    manifest,
    gateways: contexts.map((c) => ({ name: c.gateway, mta: c.mta, domains: c.totals.domains, entries: c.totals.entries, sources: c.sources.map((s) => `${s.host} ${s.label}`) })),
  };
}

/**
 * A custom template must not drop, repeat or replace addresses: a smaller map
 * rejects valid mail, and equal counts prove nothing (one domain's table twice
 * and another's not at all). Each domain's list written through {{table}} counts
 * once at most; the keys of the lines the template wrote itself must be exactly
 * the addresses of the other domains.
 */
function checkRecipientsTemplate(where: string, context: GatewayContext, figures: FileFigures): void {
  const fail = (message: string): never => {
    throw new RcptsyncError(`template ${where}: gateway ${context.gateway}: ${message}`, ExitCode.usage);
  };
  const times = new Map<readonly string[], number>();
  for (const list of figures.tables) times.set(list, (times.get(list) ?? 0) + 1);
  const expectedLiteral = new KeyDigest();
  for (const d of context.domains) {
    const n = times.get(d.addresses) ?? 0;
    if (n > 1) fail(`relay_recipients writes the table of ${d.domain} ${n} times`);
    if (n === 0) for (const key of d.addresses) expectedLiteral.add(key);
  }
  if (figures.entries !== context.totals.entries) fail(`rendered ${figures.entries} entries, expected ${context.totals.entries}`);
  if (figures.literalDigest && !figures.literalDigest.equals(expectedLiteral)) {
    fail('the addresses in relay_recipients are not the ones collected (a template may reorder them, never replace them)');
  }
}

function swap(paths: TreePaths, onStep?: (step: RenderStep) => void): void {
  try {
    swapInTree(paths, onStep);
  } catch (error) {
    // A failed second rename: put the old tree back rather than leave no tree.
    try {
      recoverInterruptedSwap(paths.outDir, { lockHeld: true });
    } catch {
      // The next run repairs it.
    }
    throw error;
  }
}

function gatewayManifest(context: GatewayContext, figures: Record<string, FileFigures>): GatewayManifest {
  const table = (f: FileFigures): TableFileEntry => ({ sha256: f.sha256, entries: f.entries, bytes: f.bytes });
  const domains: Record<string, { entries: number }> = {};
  for (const d of context.domains) domains[d.domain] = { entries: d.entries };
  const files: Record<string, TableFileEntry | PlainFileEntry> = {};
  for (const name of tableFiles(context.mta)) files[name] = table(figures[name]!);
  files['vars.yml'] = { sha256: figures['vars.yml']!.sha256, bytes: figures['vars.yml']!.bytes };
  // Postfix gateways keep the manifest they always had; only Exim ones say what they are.
  return context.mta === 'exim' ? { mta: 'exim', files, domains } : { files, domains } as GatewayManifest;
}
