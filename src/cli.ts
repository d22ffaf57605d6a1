/**
 * Entry point: picks the command, loads it lazily, and turns every error into
 * a message and an exit code. No business logic lives here.
 */
import { ExitCode, RcptsyncError } from './errors.js';
import type { Io } from './commands/io.js';

type CommandModule = { run(argv: string[], io: Io): Promise<number> };

const commands: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  validate: { summary: 'check the inventory and every rcptsync_ variable; no connection', load: () => import('./commands/validate.js') },
  collect: { summary: 'collect every address from the list servers into a snapshot file', load: () => import('./commands/collect.js') },
  render: { summary: 'render a snapshot into the per-gateway tree (after the safety checks)', load: () => import('./commands/render.js') },
  sync: { summary: 'collect, check against the last good state, and render', load: () => import('./commands/sync.js') },
  plan: { summary: 'collect and show what sync would change, writing nothing', load: () => import('./commands/plan.js') },
  status: { summary: 'compare the maps deployed on each gateway with the rendered manifest', load: () => import('./commands/status.js') },
  doctor: { summary: 'check keys, known_hosts, SSH and each source command of every list server', load: () => import('./commands/doctor.js') },
};

export const usage = `Usage: rcptsync <command> [options]

Commands:
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(9)} ${c.summary}`)
  .join('\n')}

Run "rcptsync <command> --help" for a command's options, "rcptsync --version" for the version.

Exit codes:
  0  success (plan: no safety problem)
  1  runtime failure: SSH, a remote command, bad command output, I/O
  2  usage error or invalid inventory/configuration
  3  a safety threshold broken (too many removals, a source gone empty): the removals held
     for review and the rest published, or nothing written with --on-refusal stop
  4  plan --expect-no-changes: there are changes
  5  published with failed sources carried forward from the last-known-good state
     (collect -o/--state-dir: the snapshot written with them); plan: sync would do so
  6  the same as 5, with a HOST KEY problem among the carried sources

doctor exits 0 when every check passes and 1 when any fails.
`;

export async function cli(argv: string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? io.stderr : io.stdout).write(usage);
    return name === undefined ? ExitCode.usage : ExitCode.ok;
  }
  if (name === '--version') {
    io.stdout.write(`${await version()}\n`);
    return ExitCode.ok;
  }
  const command = commands[name];
  if (!command) {
    io.stderr.write(`rcptsync: unknown command "${name}"\n\n${usage}`);
    return ExitCode.usage;
  }
  try {
    const module = await command.load();
    return await module.run(rest, io);
  } catch (error) {
    return reportError(error, io);
  }
}

export function reportError(error: unknown, io: Io): number {
  if (error instanceof RcptsyncError) {
    io.stderr.write(`rcptsync: error: ${error.message}\n`);
    if (error.detail) io.stderr.write(`${error.detail.replace(/^/gm, '  ')}\n`);
    return error.exitCode;
  }
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  io.stderr.write(`rcptsync: internal error (please report): ${text}\n`);
  return ExitCode.runtime;
}

async function version(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
