/**
 * What an Exim gateway gets instead of Postfix tables (`rcptsync_mta: exim`):
 * three lsearch files that Exim reads at lookup time, so a new file takes effect
 * without a rebuild or a reload (roles/exim_relay_gateway publishes them):
 *
 * - `recipients`: one full address per line (`local@domain OK`), the same keys in
 *   the same order as a Postfix gateway's relay_recipients. Keyed by the full
 *   address rather than `@@lsearch` (domain -> list of local parts) because one
 *   line per address diffs and reviews address by address, a key never holds a
 *   list separator, and the file's line count is its address count (the manifest
 *   and the role check that); `@@lsearch` would put a domain's whole list on one
 *   line, rewritten whenever any of its addresses changes.
 * - `relay_domains`: `domain OK`, the domains the gateway's ACL and router act on.
 * - `routes`: `domain route_data` for a manualroute router, converted from the
 *   inventory's next hop (Postfix transport(5) syntax, shared by both kinds).
 */
import type { RenderedFile } from './templates.js';

/** Template -> file name in the gateway's folder, per MTA. */
export const POSTFIX_OUTPUTS: ReadonlyArray<readonly [RenderedFile, string]> = [
  ['relay_recipients', 'relay_recipients'],
  ['relay_domains', 'relay_domains'],
  ['transport', 'transport'],
  ['vars.yml', 'vars.yml'],
];
export const EXIM_OUTPUTS: ReadonlyArray<readonly [RenderedFile, string]> = [
  ['exim/recipients', 'recipients'],
  ['exim/relay_domains', 'relay_domains'],
  ['exim/routes', 'routes'],
  ['vars.yml', 'vars.yml'],
];

export type Mta = 'postfix' | 'exim';

/** The files of a gateway of this kind, in the order they are written. */
export function gatewayOutputs(mta: Mta): ReadonlyArray<readonly [RenderedFile, string]> {
  return mta === 'exim' ? EXIM_OUTPUTS : POSTFIX_OUTPUTS;
}

/** Files with an entry count in the manifest, per MTA; the first one holds the recipients. */
export function tableFiles(mta: Mta): readonly string[] {
  return mta === 'exim' ? ['recipients', 'relay_domains', 'routes'] : ['relay_recipients', 'relay_domains', 'transport'];
}

export function recipientsFile(mta: Mta): string {
  return mta === 'exim' ? 'recipients' : 'relay_recipients';
}

export { eximRouteData, type RouteResult } from '../model/next-hop.js';
