/**
 * @typedef {object} RcptReply
 * @property {string} address
 * @property {number} code SMTP reply code (250, 450, 550, 554, ...)
 * @property {string} text the full reply (multi-line replies joined with a newline), e.g.
 *   `550 5.1.1 <x@lists.example.test>: Recipient address rejected: User unknown in relay recipient table`
 */
/**
 * @typedef {object} ProbeOptions
 * @property {number} [port] default 25
 * @property {string} [helo] EHLO name (default probe.example.test)
 * @property {string} [sender] MAIL FROM address, default the null sender
 * @property {number} [timeoutMs] per reply (default 10 s)
 */
/**
 * @param {string} host
 * @param {string[]} addresses
 * @param {ProbeOptions} [options]
 * @returns {Promise<RcptReply[]>}
 */
export function probeRecipients(host: string, addresses: string[], options?: ProbeOptions): Promise<RcptReply[]>;
/** Probes one recipient. @param {string} host @param {string} address @param {ProbeOptions} [options] */
export function probeRecipient(host: string, address: string, options?: ProbeOptions): Promise<RcptReply>;
export type RcptReply = {
    address: string;
    /**
     * SMTP reply code (250, 450, 550, 554, ...)
     */
    code: number;
    /**
     * the full reply (multi-line replies joined with a newline), e.g.
     * `550 5.1.1 <x@lists.example.test>: Recipient address rejected: User unknown in relay recipient table`
     */
    text: string;
};
export type ProbeOptions = {
    /**
     * default 25
     */
    port?: number | undefined;
    /**
     * EHLO name (default probe.example.test)
     */
    helo?: string | undefined;
    /**
     * MAIL FROM address, default the null sender
     */
    sender?: string | undefined;
    /**
     * per reply (default 10 s)
     */
    timeoutMs?: number | undefined;
};
