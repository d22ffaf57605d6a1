/**
 * A plan for people and scripts. Text for a terminal (DNSControl-like `+`/`-`
 * lines, Terraform's closing `Plan:` line), Markdown for a pull-request comment,
 * JSON for scripts. Everything sorted, no timestamps: the same plan prints the
 * same bytes.
 *
 * A plan can come with what the run around it decided (the verdict: applied,
 * held, refused; sources carried forward; breaches accepted by --force; which
 * source added and removed what). Markdown puts that first and stays within a
 * size bound (a GitHub comment takes 65,536 characters): unchanged domains are
 * counted, not listed, and samples shrink until the whole fits.
 */
import type { Counts, DomainPlan, GatewayPlan, Plan } from './diff.js';
import { formatCount } from './guard.js';
import { describeRouteChange } from './routes.js';

export type PlanFormat = 'text' | 'markdown' | 'json';

/** What the run decided about a plan, for the report around it (every field optional). */
export interface PlanContext {
  /** What the plan compares with, e.g. `the last-known-good state`. */
  baseline?: string;
  verdict?: 'applied' | 'held' | 'degraded' | 'refused';
  /** Breaches that refuse the run (nothing is published). */
  refusals?: string[];
  /** Breaches whose removals are held (the rest is published). */
  holds?: string[];
  /** `gateways: domain: N from host label (first: ...)` lines. */
  held?: string[];
  /** Breaches accepted by --force or --allow-removals. */
  accepted?: string[];
  /** Carried-forward source lines. */
  carried?: string[];
  /** Added and removed per source. */
  attribution?: SourceChange[];
  /** Where the full diff is, for the Markdown note (e.g. `git diff -- rendered/`). */
  fullDiff?: string;
}

export interface SourceChange {
  host: string;
  label: string;
  added: number;
  removed: number;
}

export interface FormatOptions {
  /** Addresses listed per domain and direction before `… and N more` (default 50). */
  maxListed?: number;
  /** Markdown only: the output never exceeds this many bytes (default 60,000). */
  maxBytes?: number;
  context?: PlanContext;
}

export const PLAN_JSON_FORMAT = 'rcptsync-plan';
export const PLAN_JSON_VERSION = 2;
/** Under GitHub's 65,536 characters for a pull-request body or comment, with room for a note around it. */
export const DEFAULT_MARKDOWN_BYTES = 60_000;

export function summary(counts: Counts | DomainPlan): string {
  const added = typeof counts.added === 'number' ? counts.added : counts.added.length;
  const removed = typeof counts.removed === 'number' ? counts.removed : counts.removed.length;
  return `+${formatCount(added)} -${formatCount(removed)} =${formatCount(counts.unchanged)}`;
}

/** Terraform's closing line; "to change" counts relayed domains and next hops. */
export function planLine(plan: Plan): string {
  const { added, removed, unchanged } = plan.totals;
  return `Plan: ${formatCount(added)} to add, ${formatCount(plan.routes.length)} to change, ${formatCount(removed)} to remove, ${formatCount(unchanged)} unchanged.`;
}

function capped(list: readonly string[], max: number): { shown: readonly string[]; more: number } {
  return list.length > max ? { shown: list.slice(0, max), more: list.length - max } : { shown: list, more: 0 };
}

function changedDomains(gateway: GatewayPlan): DomainPlan[] {
  return gateway.domains.filter((d) => d.added.length > 0 || d.removed.length > 0);
}

function verdictLine(context: PlanContext): string | undefined {
  switch (context.verdict) {
    case 'applied':
      return 'sync would apply this plan.';
    case 'held':
      return 'sync would hold the removals below for review (they stay accepted) and publish everything else.';
    case 'degraded':
      return 'sync would publish this plan, degraded: failed sources are carried forward from their last good collection.';
    case 'refused':
      return 'sync would refuse this plan and publish nothing.';
    default:
      return undefined;
  }
}

function sourceLine(s: SourceChange): string {
  return `${s.host} ${s.label}: +${formatCount(s.added)} -${formatCount(s.removed)}`;
}

// ---------------------------------------------------------------- text

function formatText(plan: Plan, max: number, context: PlanContext): string {
  const lines: string[] = [];
  if (context.baseline) lines.push(`Compared with ${context.baseline}.`);
  if (plan.gateways.length === 0) lines.push('No gateways.');
  for (const gateway of plan.gateways) {
    lines.push(`${gateway.gateway}: ${summary(gateway)}`);
    for (const domain of gateway.domains) lines.push(`  ${domain.domain}: ${summary(domain)}`);
  }
  if (plan.routes.length > 0) {
    lines.push('', 'Relayed domains and next hops:');
    for (const change of plan.routes) lines.push(`  ${describeRouteChange(change)}`);
  }
  if (context.attribution && context.attribution.length > 0) {
    lines.push('', 'By source:');
    for (const s of context.attribution) lines.push(`  ${sourceLine(s)}`);
  }
  for (const gateway of plan.gateways) {
    for (const domain of changedDomains(gateway)) {
      lines.push('', `${gateway.gateway}: ${domain.domain}:`);
      for (const [sign, list] of [['+', domain.added], ['-', domain.removed]] as const) {
        const { shown, more } = capped(list, max);
        for (const address of shown) lines.push(`  ${sign} ${address}`);
        if (more > 0) lines.push(`  ${sign} … and ${formatCount(more)} more`);
      }
    }
  }
  lines.push('', plan.hasChanges ? planLine(plan) : `No changes. ${planLine(plan)}`);
  const section = (title: string, items: string[] | undefined): void => {
    if (!items || items.length === 0) return;
    lines.push('', title, ...items.map((item) => `  ${item}`));
  };
  section('Carried forward (failed when collected; their last good addresses are published):', context.carried);
  section('sync would refuse this plan and publish nothing:', context.refusals);
  section('sync would hold these removals for review (still accepted) and publish everything else:', context.holds);
  section('Held:', context.held);
  section('Accepted by --force or --allow-removals (would otherwise be held):', context.accepted);
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------- markdown

function html(text: string): string {
  return text.replace(/[&<>"]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&quot;'));
}

/** Keep names from breaking out of a Markdown table cell. */
function md(text: string): string {
  return html(text).replace(/[|\\`*_[\]]/g, '\\$&');
}

function bullets(title: string, items: string[] | undefined): string[] {
  if (!items || items.length === 0) return [];
  return ['', `**${title}**`, '', ...items.map((item) => `- ${md(item)}`)];
}

interface MarkdownShape {
  /** Samples per domain and direction in the details blocks (0: no details). */
  listed: number;
  /** Rows of the changed-domains table, and of the per-source table. */
  rows: number;
}

function markdownWith(plan: Plan, context: PlanContext, shape: MarkdownShape): string {
  const out: string[] = ['### rcptsync plan', ''];
  const verdict = verdictLine(context);
  if (verdict) out.push(`**${verdict}**`, '');
  out.push(plan.hasChanges ? `**${planLine(plan)}**` : `No changes. ${planLine(plan)}`);
  if (context.baseline) out.push('', `Compared with ${md(context.baseline)}.`);
  out.push(...bullets('Refused: nothing would be published', context.refusals));
  out.push(...bullets('Held for review (still accepted)', context.holds));
  out.push(...bullets('Held removals', context.held));
  out.push(...bullets('Accepted by --force or --allow-removals', context.accepted));
  out.push(...bullets('Carried forward (failed when collected; their last good addresses are published)', context.carried));
  if (plan.routes.length > 0) {
    out.push('', '**Relayed domains and next hops**', '');
    const shown = plan.routes.slice(0, shape.rows);
    for (const change of shown) out.push(`- \`${describeRouteChange(change).replace(/`/g, "'")}\``);
    if (plan.routes.length > shown.length) out.push(`- … and ${formatCount(plan.routes.length - shown.length)} more (see \`rcptsync plan --format json\`)`);
  }
  const sources = context.attribution ?? [];
  if (sources.length > 0) {
    out.push('', '| Source | Added | Removed |', '|:--|--:|--:|');
    const shown = [...sources].sort((a, b) => b.added + b.removed - (a.added + a.removed)).slice(0, shape.rows);
    for (const s of shown) out.push(`| ${md(`${s.host} ${s.label}`)} | +${formatCount(s.added)} | -${formatCount(s.removed)} |`);
    if (sources.length > shown.length) out.push(`| … and ${formatCount(sources.length - shown.length)} more sources | | |`);
  }
  const changed = plan.gateways.flatMap((g) => changedDomains(g).map((d) => ({ gateway: g.gateway, domain: d })));
  const unchangedDomains = plan.gateways.reduce((n, g) => n + g.domains.length, 0) - changed.length;
  if (changed.length > 0) {
    out.push('', '| Gateway | Domain | Added | Removed | Unchanged | Before | After |', '|:--|:--|--:|--:|--:|--:|--:|');
    // The biggest changes first: what a reviewer must see survives the size bound.
    const ordered = [...changed].sort((a, b) => b.domain.added.length + b.domain.removed.length - (a.domain.added.length + a.domain.removed.length));
    for (const { gateway, domain: d } of ordered.slice(0, shape.rows)) {
      out.push(`| ${md(gateway)} | ${md(d.domain)} | +${formatCount(d.added.length)} | -${formatCount(d.removed.length)} | ${formatCount(d.unchanged)} | ${formatCount(d.before)} | ${formatCount(d.after)} |`);
    }
    if (ordered.length > shape.rows) out.push(`| … and ${formatCount(ordered.length - shape.rows)} more changed domains | | | | | | |`);
  }
  if (unchangedDomains > 0) out.push('', `${formatCount(unchangedDomains)} domain${unchangedDomains === 1 ? '' : 's'} unchanged (not listed).`);
  if (shape.listed > 0) {
    for (const { gateway, domain } of changed.slice(0, shape.rows)) {
      out.push('', `<details><summary>${html(gateway)}: ${html(domain.domain)}: ${summary(domain)}</summary>`, '', '```diff');
      for (const [sign, list] of [['+', domain.added], ['-', domain.removed]] as const) {
        const { shown, more } = capped(list, shape.listed);
        // Every line starts with the sign, so no address can close the fence.
        for (const address of shown) out.push(`${sign} ${address}`);
        if (more > 0) out.push(`${sign} … and ${formatCount(more)} more`);
      }
      out.push('```', '', '</details>');
    }
  }
  if (context.fullDiff && plan.hasChanges) out.push('', `_Every address is in the rendered tree's diff: \`${context.fullDiff.replace(/`/g, "'")}\`._`);
  return `${out.join('\n')}\n`;
}

/**
 * The Markdown plan within `maxBytes`: fewer samples first, then fewer rows; if
 * even the bare verdict does not fit, it is cut at a line with a note.
 */
function formatMarkdown(plan: Plan, max: number, context: PlanContext, maxBytes: number): string {
  const rowsAll = Math.max(1, plan.routes.length, context.attribution?.length ?? 0, plan.gateways.reduce((n, g) => n + g.domains.length, 0));
  const shapes: MarkdownShape[] = [];
  for (const listed of [max, 20, 5, 1, 0]) if (listed <= max) shapes.push({ listed, rows: rowsAll });
  for (let rows = Math.min(rowsAll, 1000); rows >= 5; rows = Math.floor(rows / 2)) shapes.push({ listed: 0, rows });
  shapes.push({ listed: 0, rows: 0 });
  for (const shape of shapes) {
    const text = markdownWith(plan, context, shape);
    if (Buffer.byteLength(text) <= maxBytes) return text;
  }
  const note = '\n_… cut to fit; run `rcptsync plan --format json` for the whole plan._\n';
  const text = markdownWith(plan, context, { listed: 0, rows: 0 });
  let cut = text.slice(0, Math.max(0, maxBytes - Buffer.byteLength(note)));
  while (Buffer.byteLength(cut) > maxBytes - Buffer.byteLength(note)) cut = cut.slice(0, -1);
  return `${cut.slice(0, cut.lastIndexOf('\n') + 1)}${note}`;
}

// ---------------------------------------------------------------- json

function countsJson(c: Counts): Counts {
  return { added: c.added, removed: c.removed, unchanged: c.unchanged, before: c.before, after: c.after };
}

function formatJson(plan: Plan, max: number, context: PlanContext): string {
  // Keys are written in a fixed order; scripts and golden files can rely on it.
  const value = {
    format: PLAN_JSON_FORMAT,
    version: PLAN_JSON_VERSION,
    hasChanges: plan.hasChanges,
    totals: { ...countsJson(plan.totals), changed: plan.routes.length },
    routes: plan.routes,
    gateways: plan.gateways.map((g) => ({
      gateway: g.gateway,
      ...countsJson(g),
      domains: g.domains.map((d) => {
        const added = capped(d.added, max);
        const removed = capped(d.removed, max);
        return {
          domain: d.domain,
          added: d.added.length,
          removed: d.removed.length,
          unchanged: d.unchanged,
          before: d.before,
          after: d.after,
          addedAddresses: added.shown,
          addedNotListed: added.more,
          removedAddresses: removed.shown,
          removedNotListed: removed.more,
        };
      }),
    })),
    ...(context.attribution ? { sources: context.attribution } : {}),
  };
  return `${JSON.stringify(value, null, 2)}\n`;
}

export function formatPlan(plan: Plan, format: PlanFormat, options: FormatOptions = {}): string {
  const max = Math.max(0, options.maxListed ?? 50);
  const context = options.context ?? {};
  switch (format) {
    case 'text':
      return formatText(plan, max, context);
    case 'markdown':
      return formatMarkdown(plan, max, context, options.maxBytes ?? DEFAULT_MARKDOWN_BYTES);
    case 'json':
      return formatJson(plan, max, context);
  }
}
