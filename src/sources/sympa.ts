/**
 * Sympa (6.2) lists, from the file Sympa itself keeps of every address it
 * delivers: when a list is created, closed, restored or purged, Sympa renders
 * the installation's `list_aliases.tt2` for it (Sympa::Aliases::Template) and
 * adds those lines to, or removes them from, its `sendmail_aliases` file, then
 * runs `aliases_program` on it. So that file is exactly what the MTA hands to
 * Sympa: a service address the site commented out in its template (Debian's
 * and upstream's comment out `-subscribe`) is a `#` line there, and not accepted.
 * Two layouts, after Sympa's Postfix guide:
 *
 * - `from: transport` (the virtual-domain setting, for several robots):
 *   `$SYSCONFDIR/sympa_transport`, a Postfix table whose keys already are every
 *   address (`announce@lists.example.org sympa:announce@lists.example.org`,
 *   `announce-owner@... sympabounce:announce@...`).
 * - `from: aliases` (Debian's default, `sendmail_aliases` unset):
 *   `/etc/mail/sympa/aliases`, aliases(5) lines piped into Sympa's `queue` or
 *   `bouncequeue`. The name alone is not an address: for the main domain it is
 *   the local part (`announce-request:`), for any other robot it is prefixed with
 *   the robot's domain (`groups.example.org-staff-request:`, meant for a virtual
 *   alias map). The address comes from the pipe's argument: `queue` is given
 *   the address itself; `bouncequeue` the list's posting address, and the
 *   name adds the `return_path_suffix` (`announce-owner:` ... `bouncequeue
 *   announce@lists.example.org`).
 *
 * Not read: `sympa make_alias_file`, which renders the same template for every
 * open list but writes a file under Sympa's tmpdir and prints only its name (a
 * collector would have to write on the list server and find the file), and
 * the list directories, which would mean re-implementing the template.
 *
 * The robot's own addresses are in no file Sympa writes (the guide has the site
 * add them by hand), so they come from `domains`, one set per robot: `sympa@`,
 * `sympa-request@`, `sympa-owner@` (email + return_path_suffix), `listmaster@`,
 * `bounce@` (bounce_email_prefix, the VERP return path `bounce+...@`) and
 * `abuse-feedback-report@`; line 0. `+` forms (VERP, `list-owner+...`) match
 * through the gateway's `recipient_delimiter = +`.
 */
import { printable } from '../model/address.js';
import { splitAliasLine } from './aliases.js';
import { addSiteAddresses } from './list-addresses.js';
import { PostfixTableReader } from './postfix-table.js';
import { ResultBuilder, isBlank, isComment } from './result.js';
import { sympaFileCommand } from './sympa-read.js';
import type { SourceConfig, SourceParser, SourceType } from './types.js';

export interface SympaConfig extends SourceConfig {
  type: 'sympa';
  from?: 'transport' | 'aliases';
  path?: string;
  command?: string;
  /** Read the file as this user through sudo (the file is 0640 sympa:sympa). */
  sudo_user?: string;
  /** The robots (main domain and virtual hosts) whose site addresses are accepted. */
  domains?: string[];
  /** sympa.conf parameters that name the site addresses (Sympa's defaults below). */
  email?: string;
  listmaster_email?: string;
  return_path_suffix?: string;
  bounce_email_prefix?: string;
  site_addresses?: string[];
}

export const SYMPA_TRANSPORT_PATH = '/etc/sympa/sympa_transport';
/** Sympa::Constants::SENDMAIL_ALIASES of Debian's package. */
export const SYMPA_ALIASES_PATH = '/etc/mail/sympa/aliases';
/** Sympa 6.2's defaults (Sympa::Config::Schema). */
export const SYMPA_DEFAULTS = {
  email: 'sympa',
  listmaster_email: 'listmaster',
  return_path_suffix: '-owner',
  bounce_email_prefix: 'bounce',
} as const;

/** The robot's site addresses (Sympa::get_address and the guide's robot aliases). */
export function sympaRobotAddresses(config: SympaConfig, domain: string): string[] {
  const email = config.email ?? SYMPA_DEFAULTS.email;
  const suffix = config.return_path_suffix ?? SYMPA_DEFAULTS.return_path_suffix;
  return [
    `${email}@${domain}`,
    `${email}-request@${domain}`,
    `${email}${suffix}@${domain}`,
    `${config.listmaster_email ?? SYMPA_DEFAULTS.listmaster_email}@${domain}`,
    `${config.bounce_email_prefix ?? SYMPA_DEFAULTS.bounce_email_prefix}@${domain}`,
    `abuse-feedback-report@${domain}`,
  ];
}

// `"| /usr/lib/sympa/bin/queue list-request@domain"`: list_aliases.tt2's pipe, quoted or not.
const PIPE = /^"?\|\s*(?:\S*\/)?(queue|bouncequeue)\s+([^\s"]+)\s*"?$/;

function addRobots(out: ResultBuilder, config: SympaConfig): void {
  for (const domain of config.domains ?? []) {
    for (const address of sympaRobotAddresses(config, domain)) out.candidate(address, 0);
  }
  addSiteAddresses(out, config);
}

function transportParser(config: SympaConfig): SourceParser {
  const out = new ResultBuilder();
  const table = new PostfixTableReader(out, (key, line) => {
    if (key.includes('@')) out.candidate(key, line);
    else out.problemWithText(line, 'key without "@domain" in a Sympa transport map', key);
  });
  return {
    line: (text, lineNumber) => table.line(text, lineNumber),
    end() {
      table.end();
      addRobots(out, config);
      return out.result();
    },
  };
}

/** The address an aliases line stands for, or why it is not one of Sympa's. */
function aliasAddress(name: string, value: string): { address: string } | { reason: string } {
  const pipe = PIPE.exec(value);
  if (!pipe) return { reason: 'not a pipe into Sympa\'s queue or bouncequeue' };
  const [, program, target] = pipe as unknown as [string, string, string];
  const at = target.indexOf('@');
  if (at <= 0 || at !== target.lastIndexOf('@') || at === target.length - 1) {
    return { reason: `${program} argument is not one list@domain` };
  }
  const local = target.slice(0, at);
  const domain = target.slice(at + 1);
  const robotPrefix = `${domain}-`;
  if (program === 'queue') {
    // Main domain: the name is the local part; another robot: domain-local.
    if (name === local || name === robotPrefix + local) return { address: target };
    return { reason: `alias name does not match its queue address ${printable(target)}` };
  }
  // bouncequeue gets the list; the name is the list plus return_path_suffix.
  const own = name.startsWith(robotPrefix + local) ? name.slice(robotPrefix.length) : name;
  if (own.startsWith(local) && own.length > local.length) return { address: `${own}@${domain}` };
  return { reason: `alias name is not list ${printable(target)} with a return_path_suffix` };
}

function aliasesParser(config: SympaConfig): SourceParser {
  const out = new ResultBuilder();
  return {
    line(text, lineNumber) {
      if (isBlank(text) || isComment(text)) return;
      if (/^\s/u.test(text)) {
        // list_aliases.tt2 writes one line per alias; a continuation is someone else's.
        out.problemWithText(lineNumber, 'continuation line (Sympa writes one line per alias)', text);
        return;
      }
      const split = splitAliasLine(text);
      if (!split.ok) {
        out.problemWithText(lineNumber, split.reason, text);
        return;
      }
      const outcome = aliasAddress(split.name, split.value);
      if ('address' in outcome) out.candidate(outcome.address, lineNumber);
      else out.problemWithText(lineNumber, outcome.reason, text);
    },
    end() {
      addRobots(out, config);
      return out.result();
    },
  };
}

export const sympa: SourceType<SympaConfig> = {
  type: 'sympa',
  command(config) {
    if (config.command !== undefined) return config.command;
    // Not a plain cat: Sympa rewrites the file in place when a list is closed (see sympa-read.ts).
    return sympaFileCommand(config.path ?? (config.from === 'aliases' ? SYMPA_ALIASES_PATH : SYMPA_TRANSPORT_PATH), config.sudo_user);
  },
  createParser: (config) => (config.from === 'aliases' ? aliasesParser(config) : transportParser(config)),
};
