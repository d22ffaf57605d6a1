/**
 * buildGatewayTables merges each domain's runs from several sources (sorted,
 * unique, role addresses added) without a comparator sort: check it against a
 * plain sort, in memory and through a snapshot file, on keys chosen to hit the
 * places where string order and table order differ ("a1@d" before "a@d" as
 * strings, after it in a table).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { readSnapshot, writeSnapshot } from '../../../src/model/snapshot-io.js';
import { buildGatewayTables } from '../../../src/tables/gateway-tables.js';
import type { Snapshot } from '../../../src/model/snapshot.js';
import { compareAddresses } from '../../../src/plan/tables.js';

const work = mkdtempSync(path.join(tmpdir(), 'rcptsync-table-merge-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const DOMAINS = ['a.example', 'b.example.org'];
const LOCALS = ['a', 'a1', 'a.b', 'a-', 'ab', 'a.c', 'abuse', 'abuse1', 'postmaster', 'postmaster.x', 'z', 'x=y', 'x', 'x0', 'x9', '0', '00', 'a?'];

function random(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x80000000;
  };
}

/** A snapshot whose `sourceCount` sources each hold a random, overlapping pick of keys, in the given order. */
function snapshotOf(seed: number, sourceCount: number, order: 'sorted' | 'shuffled'): Snapshot {
  const rand = random(seed);
  const sources = Array.from({ length: sourceCount }, (_, s) => {
    const keys: string[] = [];
    for (const domain of DOMAINS) {
      for (const local of LOCALS) if (rand() < 0.5) keys.push(`${local}@${domain}`);
      for (let i = 0; i < 30; i++) if (rand() < 0.3) keys.push(`${LOCALS[Math.floor(rand() * LOCALS.length)]}${Math.floor(rand() * 20)}@${domain}`);
    }
    const unique = [...new Set(keys)];
    if (order === 'sorted') {
      unique.sort((x, y) => {
        const dx = x.slice(x.lastIndexOf('@') + 1);
        const dy = y.slice(y.lastIndexOf('@') + 1);
        return dx !== dy ? (dx < dy ? -1 : 1) : compareAddresses(x, y);
      });
    } else {
      for (let i = unique.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [unique[i], unique[j]] = [unique[j]!, unique[i]!];
      }
    }
    return { host: `lists${s}`, index: 0, type: 'mailman3', label: 'sources[0] (mailman3)', addresses: unique, refused: 0 };
  });
  return {
    format: 'rcptsync-snapshot',
    version: 1,
    sources,
    gateways: [
      {
        name: 'mx1',
        smtputf8: false,
        domains: DOMAINS.map((domain, d) => ({ domain, nextHop: 'smtp:[lists.example]:25', roleAddresses: d === 0, allowEmpty: true })),
      },
    ],
  } as Snapshot;
}

/** What each domain's list must be: every key of the domain (plus role addresses where on), sorted and unique. */
function expected(snapshot: Snapshot): Map<string, { collected: string[]; addresses: string[] }> {
  const out = new Map<string, { collected: string[]; addresses: string[] }>();
  for (const settings of snapshot.gateways[0]!.domains) {
    const keys = new Set(snapshot.sources.flatMap((s) => s.addresses).filter((k) => k.endsWith(`@${settings.domain}`)));
    const collected = [...keys].sort(compareAddresses);
    if (settings.roleAddresses) for (const local of ['abuse', 'postmaster']) keys.add(`${local}@${settings.domain}`);
    out.set(settings.domain, { collected, addresses: [...keys].sort(compareAddresses) });
  }
  return out;
}

describe('buildGatewayTables merges sources into sorted unique lists', () => {
  for (const sourceCount of [1, 2, 3, 5, 8]) {
    for (const order of ['sorted', 'shuffled'] as const) {
      test(`${sourceCount} source(s), ${order}, in memory and read back from a file`, async () => {
        for (let seed = 1; seed <= 5; seed++) {
          const snapshot = snapshotOf(seed * 31 + sourceCount, sourceCount, order);
          const want = expected(snapshot);
          const file = path.join(work, `s${sourceCount}-${order}-${seed}.snapshot`);
          await writeSnapshot(file, snapshot);
          for (const built of [snapshot, await readSnapshot(file)]) {
            for (const domain of buildGatewayTables(built)[0]!.domains) {
              expect(domain.collected).toEqual(want.get(domain.domain)!.collected);
              expect(domain.addresses).toEqual(want.get(domain.domain)!.addresses);
            }
          }
        }
      });
    }
  }
});
