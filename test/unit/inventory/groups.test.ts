/**
 * A list server's variable on a gateway-only host, or a gateway's on a
 * list-server-only host, is an error at its file and line (real
 * ansible-inventory over a YAML inventory): it would silently do nothing.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigProblem } from '../../../src/errors.js';
import { resolveInventory } from '../../../src/inventory/resolve.js';
import { checkInventory } from '../../../src/inventory/validate.js';

describe('variables on a host of the wrong group', () => {
  let dir: string;
  let problems: ConfigProblem[];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rcptsync-groups-'));
    mkdirSync(join(dir, 'host_vars'));
    writeFileSync(
      join(dir, 'hosts.yml'),
      [
        'all:',
        '  children:',
        '    list_servers:',
        '      hosts:',
        '        lists1:',
        '        both:',
        '    mail_gateways:',
        '      hosts:',
        '        mx1:',
        '        both:',
        '',
      ].join('\n'),
    );
    const sources = 'rcptsync_domains: [lists.example.org]\nrcptsync_sources:\n  - type: static\n    addresses: [listmaster@lists.example.org]\n';
    const relay = 'rcptsync_relay_domains:\n  lists.example.org: "smtp:[lists1.example.org]:25"\n';
    writeFileSync(join(dir, 'host_vars', 'lists1.yml'), `${sources}${relay}rcptsync_domain_settings:\n  lists.example.org:\n    min_entries: 1\n`);
    writeFileSync(join(dir, 'host_vars', 'mx1.yml'), `${relay}rcptsync_sources:\n  - type: static\n    addresses: [a@lists.example.org]\n`);
    // A host in both groups may carry both.
    writeFileSync(join(dir, 'host_vars', 'both.yml'), `${sources}${relay}`);
    problems = checkInventory(await resolveInventory({ inventory: dir })).problems;
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('names the host, the variable, its line and the group it is missing from', () => {
    expect(problems).toEqual([
      {
        host: 'lists1',
        path: 'rcptsync_domain_settings',
        file: join(dir, 'host_vars', 'lists1.yml'),
        line: 7,
        column: 1,
        message: 'a gateway variable on a host of list_servers only: nothing would be rendered for it; add lists1 to mail_gateways, or move the variable to a gateway',
      },
      {
        host: 'lists1',
        path: 'rcptsync_relay_domains',
        file: join(dir, 'host_vars', 'lists1.yml'),
        line: 5,
        column: 1,
        message: 'a gateway variable on a host of list_servers only: nothing would be rendered for it; add lists1 to mail_gateways, or move the variable to a gateway',
      },
      {
        host: 'mx1',
        path: 'rcptsync_sources',
        file: join(dir, 'host_vars', 'mx1.yml'),
        line: 3,
        column: 1,
        message: 'a list-server variable on a host of mail_gateways only: these sources would never be collected; add mx1 to list_servers, or move the variable to a list server',
      },
    ]);
  });
});
