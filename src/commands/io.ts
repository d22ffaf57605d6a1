/** What a command may touch of the outside world, injectable for tests. */
export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  /** Progress lines only make sense on a terminal. */
  isTTY: boolean;
}
