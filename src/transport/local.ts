/**
 * `ansible_connection: local`: a list server that is the control node itself.
 * The source commands run here, as the user running rcptsync, through
 * `/bin/sh -c` as sshd would run them, with the same timeout, output cap, line
 * splitting and messages as over SSH (ssh.ts), so a source behaves the same
 * whichever way it is reached.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { ExitCode, RcptsyncError } from '../errors.js';
import { commandOutcome, LineSplitter, OutputError } from './line-splitter.js';
import { STDERR_KEEP_BYTES } from './ssh.js';
import type { RemoteSession, RunOptions, RunResult, SshTarget } from './types.js';

export class LocalSession implements RemoteSession {
  readonly #running = new Set<ChildProcess>();
  #closed = false;

  constructor(private readonly target: SshTarget) {}

  close(): void {
    this.#closed = true;
    for (const child of this.#running) killGroup(child);
  }

  run(command: string, options: RunOptions): Promise<RunResult> {
    const { name } = this.target;
    if (this.#closed) return Promise.reject(new RcptsyncError(`${name}: session already closed: ${command}`));
    return new Promise<RunResult>((resolve, reject) => {
      // Its own process group, so that a timeout stops the whole pipeline.
      const child = spawn('/bin/sh', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      this.#running.add(child);
      let settled = false;
      const stderrChunks: Buffer[] = [];
      let stderrKept = 0;
      let stderrDropped = 0;
      const splitter = new LineSplitter(options.maxOutputBytes, options.onLine, options.onBadLine);
      const stderrText = (): string => {
        const text = Buffer.concat(stderrChunks).toString('utf8');
        return stderrDropped > 0 ? `${text}\n[${stderrDropped} more bytes of stderr not shown]` : text;
      };
      const outputError = (err: OutputError): RcptsyncError => {
        switch (err.kind) {
          case 'too-large':
            return new RcptsyncError(`${name}: command output exceeded ${options.maxOutputBytes} bytes: ${command}`);
          case 'not-utf8':
            return new RcptsyncError(`${name}: command output is not valid UTF-8 at line ${err.lineNumber}: ${command}`);
          case 'truncated':
            return new RcptsyncError(`${name}: command output ended in the middle of line ${err.lineNumber} (no final newline; truncated?): ${command}`);
        }
      };
      const finish = (err: Error | undefined, result?: RunResult): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#running.delete(child);
        if (err) {
          killGroup(child);
          child.stdout?.removeAllListeners('data');
          if (err instanceof OutputError) reject(outputError(err));
          else reject(err); // RcptsyncError, or thrown by onLine: the caller's own error, unchanged
        } else {
          resolve(result!);
        }
      };
      const timer = setTimeout(() => {
        finish(new RcptsyncError(`${name}: command timed out after ${Number((options.timeoutMs / 1000).toFixed(3))} s: ${command}`));
      }, options.timeoutMs);

      child.stdout!.on('data', (chunk: Buffer) => {
        if (settled) return;
        try {
          splitter.push(chunk);
        } catch (e) {
          finish(e as Error);
        }
      });
      child.stderr!.on('data', (chunk: Buffer) => {
        const room = STDERR_KEEP_BYTES - stderrKept;
        if (room > 0) {
          const kept = chunk.subarray(0, room);
          stderrChunks.push(kept);
          stderrKept += kept.length;
        }
        stderrDropped += Math.max(0, chunk.length - Math.max(room, 0));
      });
      child.on('error', (e) => finish(new RcptsyncError(`${name}: cannot start command on this control node: ${e.message}: ${command}`)));
      child.on('close', (code: number | null, signal: NodeJS.Signals | null) => {
        if (settled) return;
        if (signal) {
          finish(new RcptsyncError(`${name}: command killed by signal ${signal.replace(/^SIG/, '')}: ${command}`, ExitCode.runtime, stderrText().trim() || undefined));
          return;
        }
        try {
          finish(undefined, commandOutcome(splitter, code ?? -1, stderrText()));
        } catch (e) {
          finish(e as Error);
        }
      });
    });
  }
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}
