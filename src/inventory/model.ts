/**
 * The inventory as rcptsync uses it, after resolving (ansible-inventory or a JSON
 * dump) and validating every `rcptsync_` variable against schemas/.
 */
import type { SourceConfig } from '../sources/types.js';
import type { GatewaySettings } from '../model/snapshot.js';
import type { SshTarget } from '../transport/types.js';

export interface ListServer {
  name: string;
  ssh: SshTarget;
  /** `rcptsync_sources`, validated; each keeps its index for messages. */
  sources: SourceConfig[];
  commandTimeoutMs: number;
  maxOutputBytes: number;
  /** `rcptsync_max_stale`: how long a failing source may be carried forward. */
  maxStaleHours: number;
  /** `rcptsync_domains` (A-labels): the only domains this server may add addresses to; undefined: any. */
  domains?: ReadonlySet<string>;
}

/** Safety thresholds (issue 4); per gateway with per-domain overrides. */
export interface Thresholds {
  /** Refuse when more than this share of existing entries would go (0-100). */
  maxRemovalPercent: number;
  /** Refuse when more than this many entries would go (absent: no absolute limit). */
  maxRemovals?: number;
  /** Tables with fewer existing entries than this are exempt from the percentage rule. */
  removalFloor: number;
  /** A domain may never fall under this many entries. */
  minEntries: number;
}

export interface GatewayPolicy {
  gateway: string;
  thresholds: Thresholds;
  /** Per-domain overrides, keyed by A-label domain. */
  domains: Record<string, Partial<Thresholds>>;
}

export interface Inventory {
  listServers: ListServer[];
  gateways: GatewaySettings[];
  policies: GatewayPolicy[];
  /** How to reach each gateway over SSH (for `status`), in the order of `gateways`' group. */
  gatewayTargets: SshTarget[];
}
