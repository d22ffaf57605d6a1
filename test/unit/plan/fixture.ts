// One small plan shared by the format tests: two gateways, a changed domain and
// unchanged ones, given out of order on purpose (the output must be sorted anyway).
import { diffTables } from '../../../src/plan/diff.js';
import type { GatewayTables } from '../../../src/plan/tables.js';

export function tables(spec: Record<string, Record<string, string[]>>): GatewayTables {
  return new Map(Object.entries(spec).map(([g, d]) => [g, new Map(Object.entries(d))]));
}

export const before = tables({
  mx2: { 'a.example.org': ['alice@a.example.org'] },
  mx1: { 'b.example.net': ['x@b.example.net'], 'a.example.org': ['carol@a.example.org', 'alice@a.example.org', 'bob@a.example.org'] },
});
export const after = tables({
  mx1: {
    'a.example.org': ['frank@a.example.org', 'alice@a.example.org', 'dave@a.example.org', 'erin@a.example.org'],
    'b.example.net': ['x@b.example.net'],
  },
  mx2: { 'a.example.org': ['alice@a.example.org'] },
});
export const plan = diffTables(before, after);
