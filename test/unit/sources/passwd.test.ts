import { describe, expect, it } from 'vitest';
import { passwd, type PasswdConfig } from '../../../src/sources/passwd.js';
import { addresses, fixture, parse } from './feed.js';

const config: PasswdConfig = { type: 'passwd', domains: ['example.test'] };

describe('passwd (captured getent passwd)', () => {
  it('yields users in the default uid range 1000..59999 only', () => {
    const result = parse(config, fixture('passwd/getent-passwd.txt'));
    expect(result.problems).toEqual([]);
    expect(result.candidates).toEqual([{ address: 'cloudsdk@example.test', line: 19 }]);
  });

  it('honours min_uid and max_uid inclusively', () => {
    const result = parse({ ...config, min_uid: 100, max_uid: 999 }, fixture('passwd/getent-passwd.txt'));
    expect(addresses(result)).toEqual([
      'systemd-network@example.test',
      'systemd-timesync@example.test',
      'messagebus@example.test',
      'polkitd@example.test',
      'postgres@example.test',
      'postfix@example.test',
      'sshd@example.test',
    ]);
  });

  it('combines each user with every domain', () => {
    const result = parse({ ...config, domains: ['a.example', 'b.example'] }, fixture('passwd/getent-passwd.txt'));
    expect(addresses(result)).toEqual(['cloudsdk@a.example', 'cloudsdk@b.example']);
  });

  it('reports malformed lines', () => {
    const result = parse(config, [
      'alice:x:1001:1001::/home/alice',
      'bob:x:1002:1002::/home/bob:/bin/sh:extra',
      'carol:x:10x3:1003::/home/carol:/bin/sh',
      ':x:1004:1004::/home/nobody:/bin/sh',
      'dave:x:1005:1005::/home/dave:/bin/sh',
    ]);
    expect(addresses(result)).toEqual(['dave@example.test']);
    expect(result.problems.map((p) => p.line)).toEqual([1, 2, 3, 4]);
  });

  it('runs getent passwd', () => {
    expect(passwd.command(config)).toBe('getent passwd');
  });
});
