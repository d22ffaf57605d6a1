#!/usr/bin/env node
/**
 * Installs the missing packages when root; otherwise says what is missing.
 * @param {{ log?: (line: string) => void }} [options]
 * @returns {number | null} an exit code to stop with (2), or null when everything is there
 */
export function ensureSystemPackages({ log }?: {
    log?: (line: string) => void;
}): number | null;
/** @returns {string[]} the required packages that dpkg does not report as installed */
export function missingPackages(): string[];
/**
 * sshd, Postfix, Mailman 3 and Sympa (on SQLite: dbconfig-sqlite3) for the labs, ansible for the roles, swaks for SMTP probes, iproute2 and util-linux
 * for namespaces; prometheus for promtool (the alert rules of examples/monitoring), systemd for systemd-analyze
 * verify of the scheduled units (neither is started: nothing runs as a service here).
 */
export const REQUIRED_PACKAGES: string[];
