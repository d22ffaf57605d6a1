/**
 * @typedef {object} HostRecap
 * @property {number} ok
 * @property {number} changed
 * @property {number} unreachable
 * @property {number} failed
 * @property {number} skipped
 * @property {number} rescued
 * @property {number} ignored
 */
/**
 * @typedef {object} PlaybookRun
 * @property {number} code ansible-playbook's exit status
 * @property {string} stdout
 * @property {string} stderr
 * @property {Record<string, HostRecap>} recap per host, from the PLAY RECAP
 * @property {number} seconds wall time
 */
/**
 * Runs `ansible-playbook PLAYBOOK -i INVENTORY -e @EXTRA_VARS` (the lab's files) from
 * the repository root. Never throws for a failed play: check `code`.
 * @param {import('./lab.mjs').Lab} lab
 * @param {string} playbook path relative to the repository root, e.g. playbooks/sync.yml
 * @param {string[]} [extraArgs]
 * @returns {Promise<PlaybookRun>}
 */
export function runPlaybook(lab: import("./lab.mjs").Lab, playbook: string, extraArgs?: string[]): Promise<PlaybookRun>;
/**
 * Parses the PLAY RECAP of ansible-playbook's default output.
 * @param {string} stdout
 * @returns {Record<string, HostRecap>}
 */
export function parseRecap(stdout: string): Record<string, HostRecap>;
/** A readable tail of a playbook run for assertion messages. @param {PlaybookRun} result */
export function describeRun(result: PlaybookRun): string;
export type HostRecap = {
    ok: number;
    changed: number;
    unreachable: number;
    failed: number;
    skipped: number;
    rescued: number;
    ignored: number;
};
export type PlaybookRun = {
    /**
     * ansible-playbook's exit status
     */
    code: number;
    stdout: string;
    stderr: string;
    /**
     * per host, from the PLAY RECAP
     */
    recap: Record<string, HostRecap>;
    /**
     * wall time
     */
    seconds: number;
};
