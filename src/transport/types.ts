/** What the collector needs from a list server connection. */

export interface SshTarget {
  /** Inventory name, used in every message. */
  name: string;
  host: string;
  port: number;
  user: string;
  privateKeyFile?: string;
  /** Path of an ssh-agent socket (SSH_AUTH_SOCK). */
  agentSocket?: string;
  /** OpenSSH known_hosts file to check the host key against; no trust on first use. */
  knownHostsFile: string;
  connectTimeoutMs: number;
  /**
   * A jump host (ProxyJump) to tunnel through: the same key or agent and the
   * same known_hosts file are used for it, as for the host itself.
   */
  jump?: SshJump;
  /** `ansible_connection: local`: the commands run on this machine, without SSH. */
  local?: boolean;
}

/** One ProxyJump hop: `[user@]host[:port]`. */
export interface SshJump {
  host: string;
  port: number;
  user: string;
}

export interface RunOptions {
  /** Whole-command timeout: the channel is closed and the command reported as hung. */
  timeoutMs: number;
  /** Cap on stdout bytes; over it the command is stopped and reported. */
  maxOutputBytes: number;
  /** Receives each complete stdout line (UTF-8 decoded, without LF) as it arrives. */
  onLine(text: string, lineNumber: number): void;
  /** A line that is not valid UTF-8, its bytes escaped; without it such output fails as a whole. */
  onBadLine?(escaped: string, lineNumber: number): void;
}

export interface RunResult {
  exitCode: number;
  /** stderr, capped, for error messages. */
  stderr: string;
  bytes: number;
  lines: number;
}

export interface RemoteSession {
  run(command: string, options: RunOptions): Promise<RunResult>;
  close(): void;
}
