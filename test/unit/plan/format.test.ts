import { describe, expect, it } from 'vitest';
import { diffTables } from '../../../src/plan/diff.js';
import { formatPlan } from '../../../src/plan/format.js';
import { after, before, plan, tables } from './fixture.js';

describe('formatPlan', () => {
  it('text: summary per gateway and domain, capped lists, Terraform-like last line', () => {
    expect(formatPlan(plan, 'text', { maxListed: 2 })).toBe(`mx1: +3 -2 =2
  a.example.org: +3 -2 =1
  b.example.net: +0 -0 =1
mx2: +0 -0 =1
  a.example.org: +0 -0 =1

mx1: a.example.org:
  + dave@a.example.org
  + erin@a.example.org
  + … and 1 more
  - bob@a.example.org
  - carol@a.example.org

Plan: 3 to add, 0 to change, 2 to remove, 3 unchanged.
`);
  });

  it('text: says so when nothing changes, and groups big numbers', () => {
    const many = Array.from({ length: 1234 }, (_, i) => `u${String(i).padStart(4, '0')}@big.example.org`);
    const same = tables({ mx1: { 'big.example.org': many } });
    expect(formatPlan(diffTables(same, same), 'text')).toBe(`mx1: +0 -0 =1,234
  big.example.org: +0 -0 =1,234

No changes. Plan: 0 to add, 0 to change, 0 to remove, 1,234 unchanged.
`);
    const grown = formatPlan(diffTables(new Map(), same), 'text');
    expect(grown).toContain('  + u0049@big.example.org\n  + … and 1,184 more\n');
    expect(grown.endsWith('Plan: 1,234 to add, 0 to change, 0 to remove, 0 unchanged.\n')).toBe(true);
  });

  it('markdown: changed domains only (unchanged ones counted), and a details block per changed domain', () => {
    expect(formatPlan(plan, 'markdown', { maxListed: 2 })).toBe(`### rcptsync plan

**Plan: 3 to add, 0 to change, 2 to remove, 3 unchanged.**

| Gateway | Domain | Added | Removed | Unchanged | Before | After |
|:--|:--|--:|--:|--:|--:|--:|
| mx1 | a.example.org | +3 | -2 | 1 | 3 | 4 |

2 domains unchanged (not listed).

<details><summary>mx1: a.example.org: +3 -2 =1</summary>

\`\`\`diff
+ dave@a.example.org
+ erin@a.example.org
+ … and 1 more
- bob@a.example.org
- carol@a.example.org
\`\`\`

</details>
`);
  });

  it('markdown: names cannot break the table or the HTML', () => {
    const odd = formatPlan(diffTables(new Map(), tables({ 'mx|<b>': { 'a.example.org': ['x```@a.example.org'] } })), 'markdown');
    expect(odd).toContain('| mx\\|&lt;b&gt; | a.example.org |');
    expect(odd).toContain('<summary>mx|&lt;b&gt;: a.example.org: +1 -0 =0</summary>');
    expect(odd).toContain('\n+ x```@a.example.org\n```\n');
  });

  it('json: stable key order, counts and capped lists', () => {
    const value = JSON.parse(formatPlan(plan, 'json', { maxListed: 2 }));
    expect(Object.keys(value)).toEqual(['format', 'version', 'hasChanges', 'totals', 'routes', 'gateways']);
    expect(value.totals).toEqual({ added: 3, removed: 2, unchanged: 3, before: 5, after: 6, changed: 0 });
    expect(value.gateways.map((g: { gateway: string }) => g.gateway)).toEqual(['mx1', 'mx2']);
    expect(value.gateways[0].domains[0]).toEqual({
      domain: 'a.example.org',
      added: 3,
      removed: 2,
      unchanged: 1,
      before: 3,
      after: 4,
      addedAddresses: ['dave@a.example.org', 'erin@a.example.org'],
      addedNotListed: 1,
      removedAddresses: ['bob@a.example.org', 'carol@a.example.org'],
      removedNotListed: 0,
    });
    const all = JSON.parse(formatPlan(plan, 'json', { maxListed: Infinity }));
    expect(all.gateways[0].domains[0].addedAddresses).toEqual(['dave@a.example.org', 'erin@a.example.org', 'frank@a.example.org']);
  });

  it('is byte-identical for equal plans', () => {
    for (const format of ['text', 'markdown', 'json'] as const) {
      expect(formatPlan(diffTables(before, after), format)).toBe(formatPlan(plan, format));
    }
  });
});
