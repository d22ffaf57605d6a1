/**
 * The variables that make a host a list server (`rcptsync_sources`) or a
 * gateway (`rcptsync_relay_domains`, `rcptsync_domain_settings`) mean nothing on
 * a host of the other group only: rcptsync would never collect those sources or
 * render those domains, and the operator would not find out. Such a host is an
 * error naming the group it is missing from.
 */
import type { VarPath } from './positions.js';

const LIST_SERVER_ONLY = ['rcptsync_sources'];
const GATEWAY_ONLY = ['rcptsync_relay_domains', 'rcptsync_domain_settings'];

export function checkGroupVariables(
  hostvars: Record<string, Record<string, unknown>>,
  groups: { listServers: string[]; gateways: string[]; listGroup: string; gatewayGroup: string },
  report: (host: string, path: VarPath, message: string) => void,
): void {
  const lists = new Set(groups.listServers);
  const gateways = new Set(groups.gateways);
  for (const host of groups.gateways) {
    if (lists.has(host)) continue;
    for (const name of LIST_SERVER_ONLY) {
      if (hostvars[host]?.[name] === undefined) continue;
      report(host, [name], `a list-server variable on a host of ${groups.gatewayGroup} only: these sources would never be collected; add ${host} to ${groups.listGroup}, or move the variable to a list server`);
    }
  }
  for (const host of groups.listServers) {
    if (gateways.has(host)) continue;
    for (const name of GATEWAY_ONLY) {
      if (hostvars[host]?.[name] === undefined) continue;
      report(host, [name], `a gateway variable on a host of ${groups.listGroup} only: nothing would be rendered for it; add ${host} to ${groups.gatewayGroup}, or move the variable to a gateway`);
    }
  }
}
