/** The small snapshot behind the golden files: two gateways, an IDN domain, role addresses off, an empty domain. */
import type { Snapshot } from '../../../src/model/snapshot.js';

const mm3 = (list: string, domain: string): string[] =>
  ['', '-bounces', '-confirm', '-join', '-leave', '-owner', '-request', '-subscribe', '-unsubscribe'].map((s) => `${list}${s}@${domain}`);

export function fixtureSnapshot(): Snapshot {
  return {
    format: 'rcptsync-snapshot',
    version: 1,
    sources: [
      {
        host: 'lists1',
        index: 0,
        type: 'mailman3',
        label: 'sources[0] (mailman3)',
        addresses: [...mm3('announce', 'lists.example.org'), ...mm3('team', 'lists.example.org'), ...mm3('info', 'xn--bcher-kva.example')],
        refused: 1,
      },
      {
        host: 'lists1',
        index: 1,
        type: 'aliases',
        label: 'sources[1] (aliases)',
        addresses: ['helpdesk@support.example.net', 'postmaster@support.example.net', 'tickets@support.example.net'],
        refused: 0,
      },
      {
        host: 'lists2',
        index: 0,
        type: 'static',
        label: 'office',
        // Overlaps lists1 on lists.example.org; "a" and "a.b" sort differently by local part than by whole line.
        addresses: ['a@lists.example.org', 'a.b@lists.example.org', 'announce@lists.example.org', 'someone@unrelayed.example.com'],
        refused: 0,
      },
    ],
    gateways: [
      {
        name: 'gw1.example.net',
        smtputf8: true,
        domains: [
          { domain: 'lists.example.org', nextHop: 'smtp:[lists1.example.org]:25', roleAddresses: true, allowEmpty: false },
          { domain: 'quiet.example.org', nextHop: 'smtp:[lists2.example.org]:25', roleAddresses: true, allowEmpty: true },
          { domain: 'xn--bcher-kva.example', nextHop: 'smtp:[lists1.example.org]:25', roleAddresses: true, allowEmpty: false },
        ],
      },
      {
        name: 'gw2.example.net',
        smtputf8: false,
        domains: [
          { domain: 'support.example.net', nextHop: 'relay:[lists1.example.org]', roleAddresses: false, allowEmpty: false },
          { domain: 'xn--bcher-kva.example', nextHop: 'smtp:[lists1.example.org]:25', roleAddresses: true, allowEmpty: false },
        ],
      },
    ],
  };
}
