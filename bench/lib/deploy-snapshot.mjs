/**
 * Synthetic snapshots for bench/deploy.mjs, in the shape of bench/render.mjs's:
 * one big gateway with exactly `total` relay_recipients entries over 1,000
 * domains (Mailman lists with their sub-addresses, plain users, and the
 * postmaster@/abuse@ role addresses the renderer adds), and a small second
 * gateway. `variant` swaps one address, so two variants render to tables of the
 * same size that differ (a deploy of either over the other is a real deploy).
 */

const MAILMAN = ['', '-bounces', '-confirm', '-join', '-leave', '-owner', '-request', '-subscribe', '-unsubscribe'];
const WORDS = ['announce', 'team', 'dev', 'users', 'board', 'help', 'news', 'sales', 'ops', 'events', 'jobs', 'press', 'members', 'alumni'];

/** Deterministic pseudo-random numbers (mulberry32): every run measures the same data. */
function random(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` distinct local parts, sorted in code-unit order (the snapshot's contract order). */
function localParts(rand, count, serial) {
  const locals = new Set();
  while (locals.size < count) {
    if (rand() < 0.5) {
      const list = `${WORDS[Math.floor(rand() * WORDS.length)]}-${serial.next++}`;
      for (const suffix of MAILMAN) if (locals.size < count) locals.add(`${list}${suffix}`);
    } else {
      locals.add(`user.${(serial.next++).toString(36)}`);
    }
  }
  return [...locals].sort();
}

/**
 * @param {{ big: { name: string, total: number, domains?: number }, small: { name: string, domain: string, total: number }, variant: string, nextHop: string }} spec
 * @returns {object} a snapshot (src/model/snapshot.ts)
 */
export function deploySnapshot({ big, small, variant, nextHop }) {
  const rand = random(42);
  const serial = { next: 0 };
  const domainCount = big.domains ?? 1000;
  const perDomain = Math.floor(big.total / domainCount) - 2; // + postmaster@ and abuse@
  const hosts = Array.from({ length: 4 }, (_, h) => ({
    host: `lists${h + 1}`, index: 0, type: 'mailman3', label: 'sources[0] (mailman3)', addresses: [], refused: 0,
  }));
  const domains = Array.from({ length: domainCount }, (_, d) => `lists${String(d).padStart(4, '0')}.example${d % 7}.org`).sort();
  domains.forEach((domain, d) => {
    const locals = localParts(rand, perDomain, serial);
    // The one address that differs between variants (same length, so the same table size).
    if (d === 0) locals[0] = `deploy-variant-${variant}`;
    locals.sort();
    for (const local of locals) hosts[d % hosts.length].addresses.push(`${local}@${domain}`);
  });
  const smallSource = {
    host: 'lists5', index: 0, type: 'mailman3', label: 'sources[0] (mailman3)',
    addresses: localParts(rand, small.total - 2, serial).map((local) => `${local}@${small.domain}`), refused: 0,
  };
  const settings = (domain) => ({ domain, nextHop, roleAddresses: true, allowEmpty: false });
  const gateways = [
    { name: big.name, smtputf8: false, domains: domains.map(settings) },
    { name: small.name, smtputf8: false, domains: [settings(small.domain)] },
  ].sort((a, b) => (a.name < b.name ? -1 : 1));
  return { format: 'rcptsync-snapshot', version: 1, sources: [...hosts, smallSource], gateways };
}
