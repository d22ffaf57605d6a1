/** `--name N` from a benchmark's command line as a number, or `fallback` when it is not given. */
export function numberOption(name, fallback, args = process.argv.slice(2)) {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}
