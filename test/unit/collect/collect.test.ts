// The collector's output lists: in contract order, each key normaliseAddress's
// own output, and registered as checked with their domain runs, so that the
// gateway tables and the summary take them by run instead of testing every key.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect } from '../../../src/collect/collect.js';
import { loadInventory } from '../../../src/inventory/load.js';
import { checkedRunsOf, domainRuns, sortAddressKeys } from '../../../src/model/address-keys.js';
import { buildGatewayTables } from '../../../src/tables/gateway-tables.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rcptsync-collect-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function collectStatic(addresses: string[]) {
  const file = join(dir, `inventory-${addresses.length}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      _meta: {
        hostvars: {
          lists1: { rcptsync_sources: [{ type: 'static', addresses }] },
          mx1: { rcptsync_relay_domains: { 'a.example': 'smtp:[10.0.0.1]:25', 'b.example': 'smtp:[10.0.0.1]:25' } },
        },
      },
      all: { children: ['list_servers', 'mail_gateways'] },
      list_servers: { hosts: ['lists1'] },
      mail_gateways: { hosts: ['mx1'] },
    }),
  );
  return collect(await loadInventory({ inventoryJson: file }), { concurrency: 1, strict: false });
}

describe('collected address lists', () => {
  it('are normalised, sorted by domain then local part, unique, and registered as checked with their runs', async () => {
    const { snapshot } = await collectStatic(['Zed@B.Example', 'a1@a.example', 'a@a.example', 'a-b@A.example', 'zed@b.example', 'c@b.example']);
    const addresses = snapshot.sources[0]!.addresses;
    expect(addresses).toEqual(['a@a.example', 'a-b@a.example', 'a1@a.example', 'c@b.example', 'zed@b.example']);
    expect(addresses).toEqual(sortAddressKeys(addresses));
    expect(checkedRunsOf(addresses)).toEqual(domainRuns(addresses));
    expect(Object.isFrozen(addresses)).toBe(true);
  });

  it('are lower-cased where the input is not, and the same where it is', async () => {
    const { snapshot } = await collectStatic(['list@a.example', 'List-Bounces@a.example', 'x@A.EXAMPLE']);
    expect(snapshot.sources[0]!.addresses).toEqual(['list@a.example', 'list-bounces@a.example', 'x@a.example']);
  });

  it('fill the gateway tables by their runs, with the same tables as an unchecked copy', async () => {
    const { snapshot } = await collectStatic(['b@a.example', 'a@a.example', 'c@b.example']);
    const unchecked = { ...snapshot, sources: snapshot.sources.map((s) => ({ ...s, addresses: [...s.addresses] })) };
    expect(checkedRunsOf(unchecked.sources[0]!.addresses)).toBeUndefined();
    expect(buildGatewayTables(snapshot)).toEqual(buildGatewayTables(unchecked));
  });
});
