/**
 * The snapshot: everything `collect` found, with where it came from, plus the
 * gateway settings from the inventory that rendering needs. `render` reads only
 * this, so a snapshot renders to the same bytes anywhere.
 */
export const SNAPSHOT_FORMAT = 'rcptsync-snapshot';
export const SNAPSHOT_VERSION = 1;

export interface Snapshot {
  format: typeof SNAPSHOT_FORMAT;
  version: typeof SNAPSHOT_VERSION;
  /** Sorted by host, then source index. */
  sources: SourceRecord[];
  /** Sorted by name. */
  gateways: GatewaySettings[];
}

export interface SourceRecord {
  host: string;
  /** Index in the host's `rcptsync_sources`. */
  index: number;
  type: string;
  /** Human label, e.g. `sources[0] (mailman3)` or the source's `name`. */
  label: string;
  /** Normalised `local@domain` keys, sorted by domain then local part, unique. */
  addresses: string[];
  /** Entries refused by validation (reported as warnings at collect time). */
  refused: number;
}

export interface DomainSettings {
  /** A-label, lower-case. */
  domain: string;
  /** Postfix transport(5) next hop, e.g. `smtp:[lists1.example.org]:25`. */
  nextHop: string;
  /** Accept postmaster@ and abuse@ for this domain (RFC 5321 4.5.1, RFC 2142). */
  roleAddresses: boolean;
  /** The domain may legitimately have no collected address. */
  allowEmpty: boolean;
}

export interface GatewaySettings {
  name: string;
  /** Sorted by domain. */
  domains: DomainSettings[];
  /** Render U-label forms of IDN domains too (the gateway has smtputf8_enable). */
  smtputf8: boolean;
}
