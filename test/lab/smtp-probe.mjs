/**
 * A small SMTP client that asks a server what it would do with recipients, at RCPT
 * time: EHLO, MAIL FROM:<>, one RCPT TO per address, QUIT. It never sends DATA,
 * so nothing is ever queued. Returns the server's full reply per recipient.
 */
import { connect } from 'node:net';

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
export async function probeRecipients(host, addresses, options = {}) {
  const { port = 25, helo = 'probe.example.test', sender = '', timeoutMs = 10_000 } = options;
  const session = await SmtpSession.open(host, port, timeoutMs);
  try {
    expect(await session.reply(), 220, 'greeting');
    expect(await session.command(`EHLO ${helo}`), 250, 'EHLO');
    expect(await session.command(`MAIL FROM:<${sender}>`), 250, 'MAIL FROM');
    /** @type {RcptReply[]} */
    const replies = [];
    for (const address of addresses) {
      if (/[\r\n<>]/.test(address)) throw new Error(`refusing to probe an address with CR, LF or angle brackets: ${JSON.stringify(address)}`);
      const reply = await session.command(`RCPT TO:<${address}>`);
      replies.push({ address, code: reply.code, text: reply.text });
    }
    await session.command('QUIT').catch(() => undefined);
    return replies;
  } finally {
    session.close();
  }
}

/** Probes one recipient. @param {string} host @param {string} address @param {ProbeOptions} [options] */
export async function probeRecipient(host, address, options = {}) {
  const [reply] = await probeRecipients(host, [address], options);
  return /** @type {RcptReply} */ (reply);
}

/**
 * @param {{ code: number, text: string }} reply @param {number} code @param {string} step
 */
function expect(reply, code, step) {
  if (reply.code !== code) throw new Error(`SMTP ${step}: expected ${code}, got: ${reply.text}`);
}

class SmtpSession {
  /** @param {import('node:net').Socket} socket @param {number} timeoutMs */
  constructor(socket, timeoutMs) {
    this.socket = socket;
    this.timeoutMs = timeoutMs;
    this.buffer = '';
    /** @type {string[]} */
    this.lines = [];
    /** @type {(() => void) | null} */
    this.wake = null;
    /** @type {Error | null} */
    this.failure = null;
    socket.setEncoding('latin1');
    socket.on('data', (chunk) => {
      this.buffer += chunk;
      let end;
      while ((end = this.buffer.indexOf('\n')) >= 0) {
        this.lines.push(this.buffer.slice(0, end).replace(/\r$/, ''));
        this.buffer = this.buffer.slice(end + 1);
      }
      this.wake?.();
    });
    const fail = (/** @type {Error} */ error) => {
      this.failure ??= error;
      this.wake?.();
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed by the server')));
  }

  /** @param {string} host @param {number} port @param {number} timeoutMs @returns {Promise<SmtpSession>} */
  static open(host, port, timeoutMs) {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`SMTP: no connection to ${host}:${port} within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new SmtpSession(socket, timeoutMs));
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`SMTP: cannot connect to ${host}:${port}: ${error.message}`));
      });
    });
  }

  /** @param {string} line */
  async command(line) {
    this.socket.write(`${line}\r\n`);
    return this.reply();
  }

  /** Reads one (possibly multi-line) reply. @returns {Promise<{ code: number, text: string }>} */
  async reply() {
    /** @type {string[]} */
    const parts = [];
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const line = this.lines.shift();
      if (line === undefined) {
        if (this.failure) throw new Error(`SMTP: ${this.failure.message}${parts.length ? ` after ${parts.join(' | ')}` : ''}`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`SMTP: no reply within ${this.timeoutMs} ms`);
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, left);
          this.wake = () => {
            clearTimeout(timer);
            this.wake = null;
            resolve(undefined);
          };
        });
        continue;
      }
      const match = /^(\d{3})([ -])(.*)$/.exec(line);
      if (!match) throw new Error(`SMTP: malformed reply line: ${JSON.stringify(line)}`);
      parts.push(line);
      if (match[2] === ' ') return { code: Number(match[1]), text: parts.join('\n') };
    }
  }

  close() {
    this.socket.destroy();
  }
}
