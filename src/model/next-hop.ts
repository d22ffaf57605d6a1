/**
 * A next hop as the inventory writes it (Postfix transport(5) syntax, shared by
 * both kinds of gateway) in the form an Exim gateway's manualroute router takes.
 * Pure: validate (at validate time) and render (when writing `routes`) both use it.
 */
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
/** A last label of digits only: not a host name (RFC 1123 2.1, RFC 3696 2), but an IPv4 address or a broken one. */
const NUMERIC_TLD = /(?:^|\.)\d+$/;
const isHostName = (text: string): boolean => HOST.test(text) && !NUMERIC_TLD.test(text);

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
    if (!IPV4.test(host) && !isHostName(host)) return refuse('has a host that is neither an IPv4 address nor a host name');
    const port = bracketed[2];
    if (port === undefined) return { ok: true, route: host };
    const n = Number(port);
    if (n < 1 || n > 65535) return refuse('has a port outside 1-65535');
    return { ok: true, route: n === 25 ? host : `${host}::${n}` };
  }
  if (isHostName(rest)) return { ok: true, route: `${rest}/MX` };
  return refuse('is not in a form with an Exim equivalent');
}
