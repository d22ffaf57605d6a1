/**
 * Local users in a uid range, from `getent passwd` (passwd(5): seven
 * colon-separated fields `name:password:uid:gid:gecos:home:shell`). Users outside
 * the range are skipped on purpose; a line that is not a passwd entry is a problem.
 */
import { ResultBuilder, isBlank, withDomains } from './result.js';
import type { SourceConfig, SourceType } from './types.js';

export interface PasswdConfig extends SourceConfig {
  type: 'passwd';
  min_uid?: number;
  max_uid?: number;
  domains: string[];
  command?: string;
}

export const PASSWD_COMMAND = 'getent passwd';
export const PASSWD_MIN_UID = 1000;
// Debian's LAST_UID (adduser.conf); 65534 (nobody) stays outside.
export const PASSWD_MAX_UID = 59999;

export const passwd: SourceType<PasswdConfig> = {
  type: 'passwd',
  command: (config) => config.command ?? PASSWD_COMMAND,
  createParser(config) {
    const out = new ResultBuilder();
    const min = config.min_uid ?? PASSWD_MIN_UID;
    const max = config.max_uid ?? PASSWD_MAX_UID;
    return {
      line(text, lineNumber) {
        if (isBlank(text)) return;
        const fields = text.split(':');
        if (fields.length !== 7) {
          out.problemWithText(lineNumber, `passwd entry with ${fields.length} fields instead of 7`, text);
          return;
        }
        const [name, , uidText] = fields as [string, string, string];
        if (!/^\d+$/.test(uidText)) {
          out.problemWithText(lineNumber, 'passwd entry with a non-numeric uid', text);
          return;
        }
        if (name === '') {
          out.problemWithText(lineNumber, 'passwd entry without a user name', text);
          return;
        }
        const uid = Number(uidText);
        if (uid < min || uid > max) return;
        for (const address of withDomains(name, config.domains)) out.candidate(address, lineNumber);
      },
      end: () => out.result(),
    };
  },
};
