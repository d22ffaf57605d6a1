// The collection summary's counts per domain: distinct addresses across every
// source, whether a list comes checked (with its domain runs) or not.
import { describe, expect, it } from 'vitest';
import { collectionSummary } from '../../../src/commands/reporter.js';
import { domainRuns, trustCheckedList } from '../../../src/model/address-keys.js';
import type { Snapshot, SourceRecord } from '../../../src/model/snapshot.js';

function source(host: string, addresses: string[], checked: boolean): SourceRecord {
  if (checked) trustCheckedList(addresses, domainRuns(addresses));
  return { host, index: 0, type: 'static', label: 'sources[0] (static)', addresses, refused: 0 };
}

function snapshot(checked: boolean): Snapshot {
  return {
    format: 'rcptsync-snapshot',
    version: 1,
    sources: [
      source('lists1', ['a@a.example', 'b@a.example', 'x@b.example'], checked),
      source('lists2', ['b@a.example', 'c@a.example', 'y@c.example'], checked),
    ],
    gateways: [],
  };
}

describe('collectionSummary', () => {
  it('counts each domain\'s distinct addresses across sources, the same for checked and unchecked lists', () => {
    for (const checked of [true, false]) {
      const summary = collectionSummary(snapshot(checked), 1);
      expect(summary.data['domains']).toEqual([
        { domain: 'a.example', addresses: 3 },
        { domain: 'b.example', addresses: 1 },
        { domain: 'c.example', addresses: 1 },
      ]);
      expect(summary.text).toContain('Addresses per domain:\n  a.example: 3\n  b.example: 1\n  c.example: 1\nWarnings: 1 refused entry');
    }
  });
});
