/**
 * What the e2e suites ask every gateway over SMTP: the addresses a Mailman 3 list
 * must have accepted, each probed on the gateway that relays its domain, and the
 * replies that differ from the expected one.
 */
import { ALIAS_KEYS, ALIASES_DOMAIN, mailman3Addresses } from '../lab/lab.mjs';
import { probeRecipients, type RcptReply } from '../lab/smtp-probe.mjs';

/** `Announce@Lists.Example.Test` */
export const mixedCase = (address: string): string =>
  address.replace(/(^|[.@-])([a-z])/g, (_, separator: string, letter: string) => separator + letter.toUpperCase());

export const domainOf = (address: string): string => address.slice(address.lastIndexOf('@') + 1).toLowerCase();

/** Every address that must be accepted for these Mailman 3 lists, with the role and the lab's alias addresses. */
export function validAddresses(lists: string[]): string[] {
  const domains = [...new Set(lists.map(domainOf))];
  return [
    ...lists.flatMap((list) => mailman3Addresses(list)),
    // VERP bounces and confirmations carry a +extension (recipient_delimiter = +).
    ...lists.map((list) => list.replace('@', '-bounces+someone=example.org@')),
    ...lists.map((list) => list.replace('@', '-confirm+0123456789abcdef@')),
    // Lookups are case-insensitive, and senders do write addresses this way.
    ...lists.map(mixedCase),
    ...lists.map((list) => list.replace('@', '-owner@').toUpperCase()),
    ...domains.flatMap((domain) => [`postmaster@${domain}`, `abuse@${domain}`]),
    ...ALIAS_KEYS.map((key) => `${key}@${ALIASES_DOMAIN}`),
  ];
}

/**
 * Probes each address on the gateway that relays its domain; small batches keep
 * the MTAs' error limits out of the way. An address no gateway relays is an error
 * in the test, not a pass.
 */
export async function probeOnOwnGateway(gateways: ReadonlyArray<{ address: string; domains: string[] }>, addresses: string[]): Promise<RcptReply[]> {
  const unrelayed = addresses.filter((address) => !gateways.some((gateway) => gateway.domains.includes(domainOf(address))));
  if (unrelayed.length > 0) throw new Error(`no gateway of the lab relays: ${unrelayed.join(', ')}`);
  const replies: RcptReply[] = [];
  for (const gateway of gateways) {
    const mine = addresses.filter((address) => gateway.domains.includes(domainOf(address)));
    for (let i = 0; i < mine.length; i += 8) replies.push(...(await probeRecipients(gateway.address, mine.slice(i, i + 8))));
  }
  return replies;
}

/** Replies that are not the expected one, as readable lines (an empty list is the pass); `normalise` evens out multi-line replies. */
export function mismatches(replies: RcptReply[], expected: (address: string) => string, normalise: (text: string) => string = (text) => text): string[] {
  return replies.filter((reply) => normalise(reply.text) !== expected(reply.address)).map((reply) => `${reply.address}: ${reply.text}`);
}
