/**
 * A plan for people and scripts. Text for a terminal (DNSControl-like `+`/`-`
 * lines, Terraform's closing `Plan:` line), Markdown for a pull-request comment,
 * JSON for scripts. Everything sorted, no timestamps: the same plan prints the
 * same bytes.
 */
import type { Counts, DomainPlan, GatewayPlan, Plan } from './diff.js';
import { formatCount } from './guard.js';

export type PlanFormat = 'text' | 'markdown' | 'json';

export interface FormatOptions {
  /** Addresses listed per domain and direction before `… and N more` (default 50). */
  maxListed?: number;
}

export const PLAN_JSON_FORMAT = 'rcptsync-plan';
export const PLAN_JSON_VERSION = 1;

export function summary(counts: Counts | DomainPlan): string {
  const added = typeof counts.added === 'number' ? counts.added : counts.added.length;
  const removed = typeof counts.removed === 'number' ? counts.removed : counts.removed.length;
  return `+${formatCount(added)} -${formatCount(removed)} =${formatCount(counts.unchanged)}`;
}

/** Terraform's closing line. */
export function planLine(plan: Plan): string {
  const { added, removed, unchanged } = plan.totals;
  return `Plan: ${formatCount(added)} to add, ${formatCount(removed)} to remove, ${formatCount(unchanged)} unchanged.`;
}

function capped(list: readonly string[], max: number): { shown: readonly string[]; more: number } {
  return list.length > max ? { shown: list.slice(0, max), more: list.length - max } : { shown: list, more: 0 };
}

function changedDomains(gateway: GatewayPlan): DomainPlan[] {
  return gateway.domains.filter((d) => d.added.length > 0 || d.removed.length > 0);
}

function formatText(plan: Plan, max: number): string {
  const lines: string[] = [];
  if (plan.gateways.length === 0) lines.push('No gateways.');
  for (const gateway of plan.gateways) {
    lines.push(`${gateway.gateway}: ${summary(gateway)}`);
    for (const domain of gateway.domains) lines.push(`  ${domain.domain}: ${summary(domain)}`);
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
  return `${lines.join('\n')}\n`;
}

function html(text: string): string {
  return text.replace(/[&<>"]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&quot;'));
}

/** Keep names from breaking out of a Markdown table cell. */
function md(text: string): string {
  return html(text).replace(/[|\\]/g, '\\$&');
}

function formatMarkdown(plan: Plan, max: number): string {
  const out: string[] = ['### rcptsync plan', ''];
  out.push(plan.hasChanges ? `**${planLine(plan)}**` : `No changes. ${planLine(plan)}`, '');
  out.push('| Gateway | Domain | Added | Removed | Unchanged | Before | After |');
  out.push('|:--|:--|--:|--:|--:|--:|--:|');
  const row = (gateway: string, domain: string, c: Counts) =>
    `| ${gateway} | ${domain} | +${formatCount(c.added)} | -${formatCount(c.removed)} | ${formatCount(c.unchanged)} | ${formatCount(c.before)} | ${formatCount(c.after)} |`;
  for (const gateway of plan.gateways) {
    out.push(row(`**${md(gateway.gateway)}**`, '*all*', gateway));
    for (const d of gateway.domains) {
      out.push(row(md(gateway.gateway), md(d.domain), { ...d, added: d.added.length, removed: d.removed.length }));
    }
  }
  for (const gateway of plan.gateways) {
    for (const domain of changedDomains(gateway)) {
      out.push('', `<details><summary>${html(gateway.gateway)}: ${html(domain.domain)}: ${summary(domain)}</summary>`, '', '```diff');
      for (const [sign, list] of [['+', domain.added], ['-', domain.removed]] as const) {
        const { shown, more } = capped(list, max);
        // Every line starts with the sign, so no address can close the fence.
        for (const address of shown) out.push(`${sign} ${address}`);
        if (more > 0) out.push(`${sign} … and ${formatCount(more)} more`);
      }
      out.push('```', '', '</details>');
    }
  }
  return `${out.join('\n')}\n`;
}

function countsJson(c: Counts): Counts {
  return { added: c.added, removed: c.removed, unchanged: c.unchanged, before: c.before, after: c.after };
}

function formatJson(plan: Plan, max: number): string {
  // Keys are written in a fixed order; scripts and golden files can rely on it.
  const value = {
    format: PLAN_JSON_FORMAT,
    version: PLAN_JSON_VERSION,
    hasChanges: plan.hasChanges,
    totals: countsJson(plan.totals),
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
  };
  return `${JSON.stringify(value, null, 2)}\n`;
}

export function formatPlan(plan: Plan, format: PlanFormat, options: FormatOptions = {}): string {
  const max = Math.max(0, options.maxListed ?? 50);
  switch (format) {
    case 'text':
      return formatText(plan, max);
    case 'markdown':
      return formatMarkdown(plan, max);
    case 'json':
      return formatJson(plan, max);
  }
}
