// What the templates see (gatewayContexts) and the empty-domain rule, exactly:
// the sources of each domain sorted by name, and the problem a domain nobody
// fills is reported with.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { ConfigError } from '../../../src/errors.js';
import { gatewayContexts, renderTree } from '../../../src/render/index.js';
import { fixtureSnapshot } from './fixture-snapshot.js';

const work = mkdtempSync(path.join(tmpdir(), 'rcptsync-contexts-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('gatewayContexts', () => {
  test("a domain's sources are named 'host label' and sorted by that name", () => {
    const snapshot = fixtureSnapshot();
    // lists1 sources[0] becomes "zeta", sources[1] "alpha", and both fill support.example.net.
    snapshot.sources[0]!.label = 'zeta';
    snapshot.sources[0]!.addresses.push('z@support.example.net');
    snapshot.sources[1]!.label = 'alpha';
    const gw2 = gatewayContexts(snapshot).find((c) => c.gateway === 'gw2.example.net')!;
    expect(gw2.domains.find((d) => d.domain === 'support.example.net')!.sources).toEqual(['lists1 alpha', 'lists1 zeta']);
    const gw1 = gatewayContexts(fixtureSnapshot()).find((c) => c.gateway === 'gw1.example.net')!;
    expect(gw1.domains.find((d) => d.domain === 'lists.example.org')!.sources).toEqual(['lists1 sources[0] (mailman3)', 'lists2 office']);
  });
});

describe('a relayed domain that no source fills', () => {
  test('is reported with the gateway, the variable path and what to do', async () => {
    const snapshot = fixtureSnapshot();
    snapshot.gateways[0]!.domains[1]!.allowEmpty = false; // quiet.example.org
    const error = await renderTree(snapshot, { outDir: path.join(work, 'rendered') }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ host: 'gw1.example.net', path: 'rcptsync_relay_domains.quiet.example.org' });
    // How to declare it empty is worded elsewhere; what is wrong is said first.
    expect(problems[0]!.message).toMatch(/^no source provides any address for quiet\.example\.org \(role addresses do not count\); ./);
  });
});
