/**
 * @typedef {object} RunResult
 * @property {number} code exit status (128+signal when killed)
 * @property {string} stdout
 * @property {string} stderr
 */
/**
 * @typedef {object} RunOptions
 * @property {boolean} [check] throw when the exit status is not 0 (default true)
 * @property {string} [input] written to stdin
 * @property {NodeJS.ProcessEnv} [env]
 * @property {string} [cwd]
 * @property {number} [timeoutMs] kill the command after this long (default 120 s)
 */
/**
 * @param {string} command
 * @param {string[]} args
 * @param {RunOptions} [options]
 * @returns {Promise<RunResult>}
 */
export function run(command: string, args: string[], options?: RunOptions): Promise<RunResult>;
/** @param {string} command @param {string[]} args */
export function describe(command: string, args: string[]): string;
export function sleep(ms: number): Promise<any>;
export type RunResult = {
    /**
     * exit status (128+signal when killed)
     */
    code: number;
    stdout: string;
    stderr: string;
};
export type RunOptions = {
    /**
     * throw when the exit status is not 0 (default true)
     */
    check?: boolean | undefined;
    /**
     * written to stdin
     */
    input?: string | undefined;
    env?: NodeJS.ProcessEnv | undefined;
    cwd?: string | undefined;
    /**
     * kill the command after this long (default 120 s)
     */
    timeoutMs?: number | undefined;
};
