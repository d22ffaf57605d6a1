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

const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export type RouteResult = { ok: true; route: string } | { ok: false; message: string };

/**
 * A Postfix next hop as Exim manualroute route_data (colon-separated host list):
 * `smtp:[host]:port` -> `host::port` (address records only, as Postfix's
 * brackets mean), `smtp:[host]` -> `host`, `smtp:host` -> `host/MX` (MX lookup,
 * as Postfix without brackets). `relay:` is treated as `smtp:`. Anything else
 * (lmtp:, a port without brackets, IPv6, a second host) has no faithful Exim
 * form here and is refused, naming the forms that work.
 */
export function eximRouteData(nextHop: string): RouteResult {
  const refuse = (why: string): RouteResult => ({
    ok: false,
    message: `next hop "${nextHop}" ${why}; an Exim gateway takes smtp:[host]:port, smtp:[host] or smtp:host (relay: works as smtp:)`,
  });
  const match = /^(smtp|relay):(.*)$/.exec(nextHop);
  if (!match) return refuse('has a transport Exim gateways do not map');
  const rest = match[2]!;
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(rest);
  if (bracketed) {
    const host = bracketed[1]!;
    if (!IPV4.test(host) && !HOST.test(host)) return refuse('has a host that is neither an IPv4 address nor a host name');
    const port = bracketed[2];
    if (port === undefined) return { ok: true, route: host };
    const n = Number(port);
    if (n < 1 || n > 65535) return refuse('has a port outside 1-65535');
    return { ok: true, route: n === 25 ? host : `${host}::${n}` };
  }
  if (HOST.test(rest) && !IPV4.test(rest)) return { ok: true, route: `${rest}/MX` };
  return refuse('is not in a form with an Exim equivalent');
}
