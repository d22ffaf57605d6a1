/**
 * Quoting for the few configuration values (file paths) that go into a remote
 * command line. Single-quote style, as in POSIX sh: everything between single
 * quotes is literal, and a single quote itself is written as '\''.
 * Nothing collected from a list server is ever passed through here.
 */
export function shellQuote(value: string): string {
  // A NUL cannot be carried in a command line: sh would cut the word there.
  if (value.includes('\0')) throw new Error('cannot shell-quote a value containing NUL');
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** `cat -- 'path'`: print a file, refusing a path that could be read as an option. */
export function catCommand(path: string): string {
  return `cat -- ${shellQuote(path)}`;
}
