/**
 * The other two tables of a gateway, in the plan: which domains it relays
 * (relay_domains) and where it sends each (transport). A review that shows only
 * recipients misses a rerouted next hop, or a domain the gateway stops relaying
 * (its mail then gets 554 Relay access denied), so these are compared too, as
 * Terraform's "~ change" next to "+ add" and "- remove".
 */
import { ExitCode, RcptsyncError } from '../errors.js';
import { unicodeDomain } from '../model/address.js';
import type { Snapshot } from '../model/snapshot.js';
import { compareCodeUnits, filesOfGitRevision, filesOfRenderedTree } from './tables.js';

/** Per gateway: every domain as transport lists it (A-label, and U-label on SMTPUTF8 gateways) -> next hop. */
export type Routes = Map<string, Map<string, string>>;

export const TRANSPORT = 'transport';

export type RouteChangeKind = 'relayed' | 'no longer relayed' | 'next hop';

export interface RouteChange {
  gateway: string;
  domain: string;
  change: RouteChangeKind;
  /** The next hop before (absent for a newly relayed domain). */
  before?: string;
  /** The next hop after (absent for a domain no longer relayed). */
  after?: string;
}

export function routesFromSnapshot(snapshot: Snapshot): Routes {
  const routes: Routes = new Map();
  for (const gateway of snapshot.gateways) {
    const domains = new Map<string, string>();
    for (const d of gateway.domains) {
      domains.set(d.domain, d.nextHop);
      const unicode = unicodeDomain(d.domain);
      if (gateway.smtputf8 && unicode !== d.domain) domains.set(unicode, d.nextHop);
    }
    routes.set(gateway.name, domains);
  }
  return routes;
}

/** `domain nexthop` lines of a rendered transport file; comments and blank lines skipped. */
export function parseTransport(text: string, where: string): Map<string, string> {
  const routes = new Map<string, string>();
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '' || line.trimStart().startsWith('#')) return;
    const match = /^(\S+)[ \t]+(\S+)[ \t]*$/.exec(line);
    if (!match) throw new RcptsyncError(`${where}:${i + 1}: not a "domain nexthop" line: ${JSON.stringify(line.slice(0, 80))}`, ExitCode.runtime);
    routes.set(match[1]!, match[2]!);
  });
  return routes;
}

export async function routesFromRenderedTree(dir: string): Promise<Routes> {
  const routes: Routes = new Map();
  for (const [gateway, file] of await filesOfRenderedTree(dir, TRANSPORT)) routes.set(gateway, parseTransport(file.text, file.where));
  return routes;
}

export async function routesFromGitRevision(repoDir: string, rev: string, treePath: string): Promise<Routes> {
  const routes: Routes = new Map();
  for (const [gateway, file] of await filesOfGitRevision(repoDir, rev, treePath, TRANSPORT)) routes.set(gateway, parseTransport(file.text, file.where));
  return routes;
}

/** Every relayed domain added or dropped and every next hop changed, sorted by gateway and domain. */
export function diffRoutes(before: Routes, after: Routes): RouteChange[] {
  const changes: RouteChange[] = [];
  const gateways = [...new Set([...before.keys(), ...after.keys()])].sort(compareCodeUnits);
  for (const gateway of gateways) {
    const old = before.get(gateway) ?? new Map<string, string>();
    const next = after.get(gateway) ?? new Map<string, string>();
    for (const domain of [...new Set([...old.keys(), ...next.keys()])].sort(compareCodeUnits)) {
      const was = old.get(domain);
      const now = next.get(domain);
      if (was === undefined) changes.push({ gateway, domain, change: 'relayed', after: now! });
      else if (now === undefined) changes.push({ gateway, domain, change: 'no longer relayed', before: was });
      else if (was !== now) changes.push({ gateway, domain, change: 'next hop', before: was, after: now });
    }
  }
  return changes;
}

/** One line for people: `~ mx1: lists.example.org: next hop smtp:[a]:25 -> smtp:[b]:25`. */
export function describeRouteChange(c: RouteChange): string {
  switch (c.change) {
    case 'relayed':
      return `+ ${c.gateway}: ${c.domain}: relayed (to ${c.after})`;
    case 'no longer relayed':
      return `- ${c.gateway}: ${c.domain}: no longer relayed (was ${c.before})`;
    case 'next hop':
      return `~ ${c.gateway}: ${c.domain}: next hop ${c.before} -> ${c.after}`;
  }
}
