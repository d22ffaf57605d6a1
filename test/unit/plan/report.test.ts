// The plan as a review (issue 8): route changes as "~", the run's verdict and
// breaches first (held, refused, accepted by --force), per-source attribution,
// and Markdown that fits a pull-request comment however big the change.
import { describe, expect, it } from 'vitest';
import { attributeChanges, ROLE_ROW, UNKNOWN_ROW } from '../../../src/plan/attribution.js';
import { diffTables, withRoutes } from '../../../src/plan/diff.js';
import { DEFAULT_MARKDOWN_BYTES, formatPlan, type PlanContext } from '../../../src/plan/format.js';
import { findViolations } from '../../../src/plan/guard.js';
import { diffRoutes, parseTransport, routesFromSnapshot } from '../../../src/plan/routes.js';
import type { Snapshot } from '../../../src/model/snapshot.js';
import { after, before, tables } from './fixture.js';

const routed = withRoutes(diffTables(before, after), [
  { gateway: 'mx1', domain: 'a.example.org', change: 'next hop', before: 'smtp:[lists1]:25', after: 'smtp:[203.0.113.9]:2525' },
  { gateway: 'mx2', domain: 'new.example.org', change: 'relayed', after: 'smtp:[lists2]:25' },
]);
const context: PlanContext = {
  baseline: 'the last-known-good state',
  verdict: 'held',
  holds: ['mx1: a.example.org: 2 of 3 entries (66.7%) would be removed, over 30%'],
  held: ['mx1: a.example.org: 2 from lists1 sources[0] (mailman3) (first: bob@a.example.org, carol@a.example.org)'],
  attribution: [{ host: 'lists1', label: 'sources[0] (mailman3)', added: 3, removed: 2 }],
  fullDiff: 'git diff -- rendered',
};

describe('routes', () => {
  const snapshot = (nextHop: string, domains: string[], smtputf8 = false): Snapshot => ({
    format: 'rcptsync-snapshot',
    version: 1,
    sources: [],
    gateways: [{ name: 'mx1', smtputf8, domains: domains.map((domain) => ({ domain, nextHop, roleAddresses: true, allowEmpty: true })) }],
  });

  it('finds a changed next hop, a domain newly relayed and one no longer relayed', () => {
    const changes = diffRoutes(routesFromSnapshot(snapshot('smtp:[lists1]:25', ['a.example.org', 'b.example.org'])), routesFromSnapshot(snapshot('smtp:[203.0.113.9]:2525', ['a.example.org', 'c.example.org'])));
    expect(changes).toEqual([
      { gateway: 'mx1', domain: 'a.example.org', change: 'next hop', before: 'smtp:[lists1]:25', after: 'smtp:[203.0.113.9]:2525' },
      { gateway: 'mx1', domain: 'b.example.org', change: 'no longer relayed', before: 'smtp:[lists1]:25' },
      { gateway: 'mx1', domain: 'c.example.org', change: 'relayed', after: 'smtp:[203.0.113.9]:2525' },
    ]);
  });

  it('compares the U-label forms an SMTPUTF8 gateway carries too', () => {
    const on = routesFromSnapshot(snapshot('smtp:[x]:25', ['xn--bcher-kva.example'], true));
    expect([...on.get('mx1')!.keys()]).toEqual(['xn--bcher-kva.example', 'bücher.example']);
    expect(diffRoutes(routesFromSnapshot(snapshot('smtp:[x]:25', ['xn--bcher-kva.example'])), on)).toEqual([
      { gateway: 'mx1', domain: 'bücher.example', change: 'relayed', after: 'smtp:[x]:25' },
    ]);
  });

  it('reads a rendered transport file and refuses a line it cannot read', () => {
    expect(parseTransport('# header\n\na.example.org smtp:[lists1]:25\nb.example.org\trelay:[x]\n', 'mx1/transport')).toEqual(
      new Map([
        ['a.example.org', 'smtp:[lists1]:25'],
        ['b.example.org', 'relay:[x]'],
      ]),
    );
    expect(() => parseTransport('a.example.org\n', 'mx1/transport')).toThrow(/mx1\/transport:1: not a "domain nexthop" line/);
  });

  it('a domain no longer relayed is its own breach, whatever its size; a changed next hop is a change, not a breach', () => {
    const plan = withRoutes(diffTables(tables({ mx1: { 'old.example.org': ['a@old.example.org', 'b@old.example.org'] } }), tables({ mx1: {} })), [
      { gateway: 'mx1', domain: 'old.example.org', change: 'no longer relayed', before: 'smtp:[x]:25' },
    ]);
    expect(plan.hasChanges).toBe(true);
    expect(findViolations(plan, { policies: [] }).map((v) => [v.rule, v.message])).toEqual([
      ['domain-unrelayed', 'mx1: old.example.org: no longer relayed: its 2 entries go and its mail will be refused (554 Relay access denied); run with --force to accept'],
    ]);
    const rerouted = withRoutes(diffTables(new Map(), new Map()), [{ gateway: 'mx1', domain: 'a.example.org', change: 'next hop', before: 'a', after: 'b' }]);
    expect(rerouted.hasChanges).toBe(true);
    expect(findViolations(rerouted, { policies: [] })).toEqual([]);
  });
});

describe('the plan as a review', () => {
  it('text: routes as +/~/-, attribution, then the verdict sections', () => {
    expect(formatPlan(routed, 'text', { maxListed: 1, context })).toBe(`Compared with the last-known-good state.
mx1: +3 -2 =2
  a.example.org: +3 -2 =1
  b.example.net: +0 -0 =1
mx2: +0 -0 =1
  a.example.org: +0 -0 =1

Relayed domains and next hops:
  ~ mx1: a.example.org: next hop smtp:[lists1]:25 -> smtp:[203.0.113.9]:2525
  + mx2: new.example.org: relayed (to smtp:[lists2]:25)

By source:
  lists1 sources[0] (mailman3): +3 -2

mx1: a.example.org:
  + dave@a.example.org
  + … and 2 more
  - bob@a.example.org
  - … and 1 more

Plan: 3 to add, 2 to change, 2 to remove, 3 unchanged.

sync would hold these removals for review (still accepted) and publish everything else:
  mx1: a.example.org: 2 of 3 entries (66.7%) would be removed, over 30%

Held:
  mx1: a.example.org: 2 from lists1 sources[0] (mailman3) (first: bob@a.example.org, carol@a.example.org)
`);
  });

  it('markdown: verdict and breaches first, then routes, sources, changed domains and samples, and where the full diff is', () => {
    expect(formatPlan(routed, 'markdown', { maxListed: 1, context })).toBe(`### rcptsync plan

**sync would hold the removals below for review (they stay accepted) and publish everything else.**

**Plan: 3 to add, 2 to change, 2 to remove, 3 unchanged.**

Compared with the last-known-good state.

**Held for review (still accepted)**

- mx1: a.example.org: 2 of 3 entries (66.7%) would be removed, over 30%

**Held removals**

- mx1: a.example.org: 2 from lists1 sources\\[0\\] (mailman3) (first: bob@a.example.org, carol@a.example.org)

**Relayed domains and next hops**

- \`~ mx1: a.example.org: next hop smtp:[lists1]:25 -> smtp:[203.0.113.9]:2525\`
- \`+ mx2: new.example.org: relayed (to smtp:[lists2]:25)\`

| Source | Added | Removed |
|:--|--:|--:|
| lists1 sources\\[0\\] (mailman3) | +3 | -2 |

| Gateway | Domain | Added | Removed | Unchanged | Before | After |
|:--|:--|--:|--:|--:|--:|--:|
| mx1 | a.example.org | +3 | -2 | 1 | 3 | 4 |

2 domains unchanged (not listed).

<details><summary>mx1: a.example.org: +3 -2 =1</summary>

\`\`\`diff
+ dave@a.example.org
+ … and 2 more
- bob@a.example.org
- … and 1 more
\`\`\`

</details>

_Every address is in the rendered tree's diff: \`git diff -- rendered\`._
`);
  });

  it('shows breaches that --force accepted, in every format', () => {
    const accepted = { ...context, verdict: 'applied' as const, holds: [], held: [], accepted: ['mx1: a.example.org: 2 of 3 entries (66.7%) would be removed, over 30%'] };
    expect(formatPlan(routed, 'text', { context: accepted })).toMatch(/Accepted by --force or --allow-removals \(would otherwise be held\):\n  mx1: a\.example\.org: 2 of 3/);
    expect(formatPlan(routed, 'markdown', { context: accepted })).toMatch(/\*\*Accepted by --force or --allow-removals\*\*\n\n- mx1: a\.example\.org: 2 of 3/);
  });

  it('json: routes and per-source changes for scripts', () => {
    const value = JSON.parse(formatPlan(routed, 'json', { context }));
    expect(value.totals.changed).toBe(2);
    expect(value.routes[0]).toEqual({ gateway: 'mx1', domain: 'a.example.org', change: 'next hop', before: 'smtp:[lists1]:25', after: 'smtp:[203.0.113.9]:2525' });
    expect(value.sources).toEqual([{ host: 'lists1', label: 'sources[0] (mailman3)', added: 3, removed: 2 }]);
  });

  it('markdown stays within the bound for 1,000,000 addresses over 1,000 domains with a 30% shrink', () => {
    const domains = 1000;
    const perDomain = 1000;
    const old = new Map<string, string[]>();
    const next = new Map<string, string[]>();
    for (let d = 0; d < domains; d++) {
      const domain = `d${String(d).padStart(4, '0')}.example.org`;
      const keys = Array.from({ length: perDomain }, (_, i) => `member${String(i).padStart(4, '0')}@${domain}`);
      old.set(domain, keys);
      // Every third domain loses 90% of its entries: 30% of the whole.
      next.set(domain, d % 3 === 0 ? keys.slice(0, perDomain / 10) : keys);
    }
    const plan = diffTables(new Map([['mx1', old], ['mx2', old]]), new Map([['mx1', next], ['mx2', next]]));
    const removals = plan.gateways.flatMap((g) => g.domains.filter((d) => d.removed.length > 0).map((d) => `${g.gateway}: ${d.domain}: ${d.removed.length} of ${d.before} entries (90.0%) would be removed, over 30%`));
    const big: PlanContext = { baseline: 'the last-known-good state', verdict: 'held', holds: removals, attribution: [{ host: 'lists3', label: 'mailman3', added: 0, removed: 300_600 }] };
    const markdown = formatPlan(plan, 'markdown', { context: big });
    expect(Buffer.byteLength(markdown)).toBeLessThanOrEqual(DEFAULT_MARKDOWN_BYTES);
    // What matters survives: the verdict, the totals and the per-source line.
    expect(markdown).toContain('**sync would hold the removals below for review');
    expect(markdown).toContain('**Plan: 0 to add, 0 to change, 601,200 to remove, 1,398,800 unchanged.**');
    const small = formatPlan(plan, 'markdown', { context: { ...big, holds: removals.slice(0, 3) }, maxBytes: 20_000 });
    expect(Buffer.byteLength(small)).toBeLessThanOrEqual(20_000);
    expect(small).toContain('| lists3 mailman3 | +0 | -300,600 |');
    expect(small).toMatch(/\| … and [\d,]+ more changed domains \|/);
    expect(small).toContain('1,332 domains unchanged (not listed).');
  }, 60_000);
});

describe('attribution', () => {
  const snapshot = (sources: Array<[string, string, string[], boolean?]>): Snapshot => ({
    format: 'rcptsync-snapshot',
    version: 1,
    sources: sources.map(([host, label, addresses, held], index) => ({ host, index, type: 'static', label, addresses, refused: 0, ...(held ? { held: true as const } : {}) })),
    gateways: [],
  });

  it('credits each added and removed address to the sources that have or had it; role addresses and unknown baselines get their own rows', () => {
    const plan = diffTables(
      tables({ mx1: { 'a.example.org': ['gone@a.example.org', 'kept@a.example.org', 'postmaster@a.example.org'] } }),
      tables({ mx1: { 'a.example.org': ['kept@a.example.org', 'new@a.example.org', 'abuse@a.example.org'] } }),
    );
    const now = snapshot([['lists1', 'mailman3', ['kept@a.example.org', 'new@a.example.org']]]);
    const then = snapshot([['lists2', 'aliases', ['gone@a.example.org', 'kept@a.example.org']]]);
    expect(attributeChanges(plan, then, now)).toEqual([
      { ...ROLE_ROW, added: 1, removed: 1 },
      { host: 'lists1', label: 'mailman3', added: 1, removed: 0 },
      { host: 'lists2', label: 'aliases', added: 0, removed: 1 },
    ]);
    expect(attributeChanges(plan, undefined, now)).toContainEqual({ ...UNKNOWN_ROW, added: 0, removed: 2 });
  });
});
