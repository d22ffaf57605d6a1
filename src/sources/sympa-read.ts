/**
 * Reading the file Sympa rewrites in place. Sympa 6.2 (Sympa::Aliases::Template)
 * adds a list's lines by appending to its `sendmail_aliases` file, and removes
 * a closed list's lines by writing every other line back over the start of the
 * same file and truncating it, under an exclusive Sympa::LockedFile lock
 * (File::NFSLock: a lock file `FILE,lock` beside it, taken as stale after 20
 * minutes). A plain `cat` during that rewrite can see the new start followed by
 * the old tail: a line cut in two, a valid address lost, a shrink small enough
 * to pass every threshold. An append caught halfway ends without its LF, which
 * the line splitter already refuses as truncated.
 *
 * So the command refuses to read while a fresh lock is there, and fails when
 * the lock appeared or the file changed (size, modification or change time in
 * nanoseconds, inode) while it was read: the source then fails like any
 * command (carried forward, named in the run's output) and is read again on the
 * next run. The output cannot be taken back once sent, hence a failure rather
 * than a retry. One line, so that a forced-command allow-list can hold it.
 */
import { shellQuote } from './shell.js';

/** Sympa::LockedFile's stale_lock_timeout: an older lock is left over, not held. */
export const SYMPA_STALE_LOCK_MINUTES = 20;

/** EX_TEMPFAIL (sysexits.h): try again later. */
export const SYMPA_BUSY_EXIT = 75;

/** `sudoUser`: the file is read (only the cat) as that user, `sudo -n -u USER cat -- FILE`. */
export function sympaFileCommand(path: string, sudoUser?: string): string {
  // find takes no `--`: a relative path is anchored so that it cannot read as an option.
  const lock = `${path.startsWith('/') ? '' : './'}${path},lock`;
  const locked = `[ -n "$(find "$l" -maxdepth 0 -mmin -${SYMPA_STALE_LOCK_MINUTES} 2>/dev/null)" ]`;
  const state = 'stat -c %s:%.9Y:%.9Z:%i -- "$f"';
  return [
    `f=${shellQuote(path)}`,
    `l=${shellQuote(lock)}`,
    `if ${locked}; then echo "Sympa holds the lock $l (a list is being created or closed): not read, try again on the next run" >&2; exit ${SYMPA_BUSY_EXIT}; fi`,
    `before=$(${state}) || exit 66`,
    `${sudoUser === undefined ? '' : `sudo -n -u ${shellQuote(sudoUser)} `}cat -- "$f" || exit`,
    `if ${locked} || [ "$before" != "$(${state} 2>/dev/null)" ]; then echo "$f changed while it was read (Sympa rewrites it in place): not used, try again on the next run" >&2; exit ${SYMPA_BUSY_EXIT}; fi`,
  ].join('; ');
}
