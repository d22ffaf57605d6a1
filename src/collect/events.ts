/** What the collector tells the outside world while it works (progress, warnings). */
export interface RefusedEntry {
  host: string;
  source: string;
  line: number;
  reason: string;
  /** The offending text, made printable. */
  text: string;
}

export type CollectEvent =
  | { event: 'host-start'; host: string; sources: number; remote: boolean }
  | { event: 'source-done'; host: string; source: string; addresses: number; refused: number; ms: number }
  | { event: 'host-done'; host: string; addresses: number; failed?: number; ms: number }
  /** The host could not be reached: every source of it that needs a connection failed. */
  | { event: 'host-failed'; host: string; error: string; detail?: string }
  | { event: 'source-failed'; host: string; source: string; error: string; detail?: string }
  | ({ event: 'refused-entry' } & RefusedEntry)
  /** Accepted, but unusual (a local part over 64 octets, a dot at its edge). */
  | { event: 'address-warning'; host: string; source: string; line: number; message: string };

export type CollectListener = (event: CollectEvent) => void;
