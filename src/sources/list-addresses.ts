/**
 * Shared by the Mailman sources. A list's posting address and its sub-addresses. Anything that is not exactly
 * `name@domain` is passed on alone, so that validation refuses and reports it
 * once, and no sub-address is ever derived from it (an empty name would give a
 * valid-looking `-bounces@domain`).
 */
export function listAddresses(posting: string, subaddresses: readonly string[]): string[] {
  const at = posting.indexOf('@');
  if (at <= 0 || at !== posting.lastIndexOf('@') || at === posting.length - 1) return [posting];
  const local = posting.slice(0, at);
  const domain = posting.slice(at + 1);
  return [posting, ...subaddresses.map((sub) => `${local}-${sub}@${domain}`)];
}
