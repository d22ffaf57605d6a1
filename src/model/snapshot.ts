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
  /**
   * When these addresses were collected (ISO 8601, UTC). The last-known-good
   * state records it for every source, so that a source carried forward can be
   * told how stale it is; a fresh collection's snapshot leaves it out (the same
   * collection is then the same bytes).
   */
  collectedAt?: string;
  /** This run could not collect the source: the addresses are its last-known-good ones. */
  carriedForward?: CarriedForward;
  /**
   * Not a collection: addresses this source had when the tables were last
   * published that are gone now, kept on the gateways because removing them
   * broke a safety threshold. They stay until a reviewed run (--force,
   * --allow-removals) lets them go.
   */
  held?: true;
}

export interface CarriedForward {
  /** Why the source failed, e.g. `lists1: SSH connection to 127.0.0.1:1 refused`. */
  reason: string;
  /** The failure was a host key problem (changed, unknown or revoked key): a security event. */
  hostKey: boolean;
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
  /** `rcptsync_mta: exim`: render Exim lookup files instead of Postfix tables. Absent: Postfix. */
  mta?: 'exim';
}
