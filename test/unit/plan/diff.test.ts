import { describe, expect, it } from 'vitest';
import { diffSorted, diffTables } from '../../../src/plan/diff.js';
import { sortedUnique, type GatewayTables } from '../../../src/plan/tables.js';

function tables(spec: Record<string, Record<string, string[]>>): GatewayTables {
  return new Map(Object.entries(spec).map(([g, d]) => [g, new Map(Object.entries(d))]));
}

describe('diffSorted', () => {
  it('merges two sorted lists into added, removed and unchanged', () => {
    expect(diffSorted(['a@x.org', 'b@x.org', 'd@x.org'], ['b@x.org', 'c@x.org', 'd@x.org', 'e@x.org'])).toEqual({
      added: ['c@x.org', 'e@x.org'],
      removed: ['a@x.org'],
      unchanged: 2,
    });
    expect(diffSorted([], ['a@x.org'])).toEqual({ added: ['a@x.org'], removed: [], unchanged: 0 });
    expect(diffSorted(['a@x.org'], [])).toEqual({ added: [], removed: ['a@x.org'], unchanged: 0 });
  });
});

describe('diffTables', () => {
  it('compares per gateway and per domain, with totals', () => {
    const before = tables({
      mx1: { 'a.org': ['x@a.org', 'y@a.org'], 'gone.org': ['z@gone.org'] },
      old: { 'a.org': ['x@a.org'] },
    });
    const after = tables({
      mx1: { 'a.org': ['y@a.org', 'w@a.org', 'x@a.org'], 'new.org': ['n@new.org'] },
      mx2: { 'a.org': ['x@a.org'] },
    });
    const plan = diffTables(before, after);
    expect(plan.gateways.map((g) => g.gateway)).toEqual(['mx1', 'mx2', 'old']);
    const mx1 = plan.gateways[0]!;
    expect(mx1.domains).toEqual([
      { domain: 'a.org', added: ['w@a.org'], removed: [], unchanged: 2, before: 2, after: 3 },
      { domain: 'gone.org', added: [], removed: ['z@gone.org'], unchanged: 0, before: 1, after: 0 },
      { domain: 'new.org', added: ['n@new.org'], removed: [], unchanged: 0, before: 0, after: 1 },
    ]);
    expect(mx1).toMatchObject({ added: 2, removed: 1, unchanged: 2, before: 3, after: 4 });
    expect(plan.gateways[1]).toMatchObject({ gateway: 'mx2', added: 1, removed: 0, before: 0, after: 1 });
    expect(plan.gateways[2]).toMatchObject({ gateway: 'old', added: 0, removed: 1, before: 1, after: 0 });
    expect(plan.totals).toEqual({ added: 3, removed: 2, unchanged: 2, before: 4, after: 5 });
    expect(plan.hasChanges).toBe(true);
  });

  it('sorts and deduplicates unsorted input, and reports no changes for equal tables', () => {
    const a = tables({ mx1: { 'a.org': ['b@a.org', 'a@a.org', 'b@a.org'] } });
    const b = tables({ mx1: { 'a.org': ['a@a.org', 'b@a.org'] } });
    const plan = diffTables(a, b);
    expect(plan.hasChanges).toBe(false);
    expect(plan.totals).toEqual({ added: 0, removed: 0, unchanged: 2, before: 2, after: 2 });
  });

  it('orders by local part in code-unit order, a prefix first, as the renderer does', () => {
    expect(sortedUnique(['a.b@a.org', 'a@a.org', 'B@a.org', 'a-@a.org', 'a@a.org'])).toEqual(['B@a.org', 'a@a.org', 'a-@a.org', 'a.b@a.org']);
    const plan = diffTables(tables({ g: { 'a.org': ['a@a.org', 'a.c@a.org'] } }), tables({ g: { 'a.org': ['a.b@a.org', 'a@a.org', 'B@a.org'] } }));
    expect(plan.gateways[0]!.domains[0]).toMatchObject({ added: ['B@a.org', 'a.b@a.org'], removed: ['a.c@a.org'], unchanged: 1 });
  });

  // Exact on a million entries; how fast is bench/plan.mjs's business, not a test's.
  it('diffs 1,000,000 entries exactly', () => {
    const before: string[] = [];
    const after: string[] = [];
    for (let i = 0; i < 1_000_000; i++) {
      const key = `user${String(i).padStart(7, '0')}@big.example.org`;
      if (i % 200 !== 0) before.push(key);
      if (i % 200 !== 1) after.push(key);
    }
    const plan = diffTables(tables({ mx1: { 'big.example.org': before } }), tables({ mx1: { 'big.example.org': after } }));
    expect(plan.totals).toMatchObject({ added: 5000, removed: 5000, unchanged: 990_000, before: 995_000, after: 995_000 });
    const domain = plan.gateways[0]!.domains[0]!;
    const key = (i: number): string => `user${String(i).padStart(7, '0')}@big.example.org`;
    expect(domain.added).toEqual(Array.from({ length: 5000 }, (_, n) => key(200 * n)));
    expect(domain.removed).toEqual(Array.from({ length: 5000 }, (_, n) => key(200 * n + 1)));
  });
});
