/** Deterministic data for the benchmarks: every run measures the same addresses. */

/** Pseudo-random numbers (mulberry32). */
export function random(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher-Yates, in place, with `rand` from random(). */
export function shuffle(items, rand) {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

const WORDS = ['announce', 'team', 'dev', 'users', 'board', 'help', 'news', 'sales', 'ops', 'events', 'jobs', 'press', 'members', 'alumni'];
const MAILMAN = ['', '-bounces', '-confirm', '-join', '-leave', '-owner', '-request', '-subscribe', '-unsubscribe'];

/**
 * `count` distinct local parts of a list server's domain, in the order made:
 * half lists with Mailman's sub-addresses (`announce-x1`, `announce-x1-bounces`,
 * ...), half people (`user.abc`).
 */
export function mailingListLocals(rand, count) {
  const locals = new Set();
  while (locals.size < count) {
    if (rand() < 0.5) {
      const list = `${WORDS[Math.floor(rand() * WORDS.length)]}-${Math.floor(rand() * 100000).toString(36)}`;
      for (const suffix of MAILMAN) if (locals.size < count) locals.add(`${list}${suffix}`);
    } else {
      locals.add(`user.${Math.floor(rand() * 1e9).toString(36)}`);
    }
  }
  return locals;
}
