#!/usr/bin/python
# -*- coding: utf-8 -*-
# Read-only look at a Postfix gateway in one module call: the table types it
# supports, the checksums of the published tables, leftovers to clean up, the
# main.cf changes the role would make (rcptsync's tables added to the site's
# lists, global settings changed minimally), settings that would let mail for
# unknown recipients past relay_recipient_maps (in main.cf and in master.cf
# overrides of the SMTP service), and conflicts with the site's own entries.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: postfix_relay_gateway_inspect
short_description: Inspect a Postfix relay gateway without changing it
description:
  - Runs postconf and postmap with -c I(config_dir) and reads the map directory.
  - Works out the main.cf changes for I(state) without making them.
  - Fails when postconf cannot read the configuration or I(map_type) is not supported.
options:
  config_dir:
    description: Postfix configuration directory.
    type: path
    required: true
  map_dir:
    description: Directory of the published tables.
    type: path
    required: true
  map_type:
    description: Table type the role publishes.
    type: str
    required: true
  maps:
    description: Names of the tables.
    type: list
    elements: str
    required: true
  suffixes:
    description: Indexed-file suffix per table type.
    type: dict
    required: true
  tmp_prefix:
    description: Prefix of the temporary names a publish uses.
    type: str
    required: true
  domains:
    description: Relayed domains, checked for settings that bypass the recipient table and for conflicts.
    type: list
    elements: str
    default: []
  state:
    description: C(present) adds rcptsync's tables to main.cf, C(absent) takes them out again.
    type: str
    choices: [present, absent]
    default: present
  smtp_port:
    description: Port of the public SMTP service whose master.cf overrides are checked (25 also matches C(smtp)).
    type: int
    default: 25
  recipient_delimiter:
    description: Characters that must be in recipient_delimiter (missing ones are appended).
    type: str
    default: "+"
  reject_code:
    description: Wanted unknown_relay_recipient_reject_code.
    type: str
    default: "550"
  relay_subdomains:
    description: true keeps relay_domains in parent_domain_matches_subdomains, false removes it, null leaves it alone.
    type: bool
  owner_request_special:
    description: Wanted owner_request_special, or null to leave it alone.
    type: str
  manage_relay_restrictions:
    description: Make sure reject_unauth_destination guards relaying.
    type: bool
    default: true
  record_file:
    description: JSON file (written by postfix_relay_gateway_settings) with the values main.cf had before rcptsync changed them.
    type: path
    required: true
  reload_marker:
    description: File that exists while a change waits for its reload.
    type: path
    required: true
author: rcptsync maintainers
'''

RETURN = r'''
params:
  description: Parameter name to its expanded value, for the parameters the role reads.
  type: dict
  returned: success
sources:
  description: Table name to the sha256 of its published source, or null.
  type: dict
  returned: success
indexed:
  description: Table name to whether its indexed file of I(map_type) exists.
  type: dict
  returned: success
leftovers:
  description: Files of interrupted publishes (temporary names).
  type: list
  returned: success
other_types:
  description: Indexed files of other table types, to remove once Postfix no longer uses them.
  type: list
  returned: success
changes:
  description: main.cf parameter to its new value (null to remove the line, back to the default).
  type: dict
  returned: success
before:
  description: For each parameter in I(changes), its value in main.cf now (null when main.cf does not set it).
  type: dict
  returned: success
findings:
  description: >-
    Lines starting with BYPASS (a setting bypasses the table), CONFLICT (a site entry contradicts rcptsync's),
    WARN (worth knowing, not fatal) or UNCHECKED (could not be checked). Each names the file and the setting.
  type: list
  returned: success
reload_pending:
  description: A previous run changed something and its reload did not happen.
  type: bool
  returned: success
'''

import hashlib
import json
import os
import re
import time

from ansible.module_utils.basic import AnsibleModule

LIST_PARAMS = (
    ('relay_domains', 'relay_domains'),
    ('relay_recipient_maps', 'relay_recipients'),
    ('transport_maps', 'transport'),
)
READ_PARAMS = [
    'relay_domains', 'relay_recipient_maps', 'transport_maps', 'recipient_delimiter', 'owner_request_special',
    'unknown_relay_recipient_reject_code', 'parent_domain_matches_subdomains', 'smtpd_relay_restrictions',
    'smtpd_recipient_restrictions', 'compatibility_level', 'receive_override_options', 'recipient_canonical_maps',
    'canonical_maps', 'virtual_alias_maps', 'virtual_mailbox_maps', 'mydestination', 'virtual_alias_domains',
    'virtual_mailbox_domains', 'smtpd_reject_unlisted_recipient', 'allow_untrusted_routing', 'soft_bounce',
]
# Table types whose source file holds "key value" lines we can read for keys.
FILE_TYPES = ('hash', 'btree', 'cdb', 'lmdb', 'dbm', 'sdbm', 'texthash')


def tokens(value):
    """Postfix's list syntax: commas and white space separate, except inside {...}."""
    out, current, depth = [], [], 0
    for char in value or '':
        if char == '{':
            depth += 1
        elif char == '}' and depth > 0:
            depth -= 1
        if depth == 0 and (char == ',' or char.isspace()):
            if current:
                out.append(''.join(current))
                current = []
            continue
        current.append(char)
    if current:
        out.append(''.join(current))
    return out


def sha256_of(path):
    digest = hashlib.sha256()
    try:
        with open(path, 'rb') as handle:
            for block in iter(lambda: handle.read(1 << 20), b''):
                digest.update(block)
    except (IOError, OSError):
        return None
    return digest.hexdigest()


def parse_assignments(text):
    values = {}
    for line in text.splitlines():
        match = re.match(r'^(\S+) =[ ]?(.*)$', line)
        if match:
            values[match.group(1)] = match.group(2)
    return values


class Gateway(object):
    def __init__(self, module):
        self.module = module
        self.config_dir = module.params['config_dir']
        self.main_cf = os.path.join(self.config_dir, 'main.cf')
        self.master_cf = os.path.join(self.config_dir, 'master.cf')
        # An unprivileged login's PATH may lack the sbin directories.
        self.postconf_bin = module.get_bin_path('postconf', required=True, opt_dirs=['/usr/sbin', '/sbin'])
        self.postmap_bin = module.get_bin_path('postmap', required=True, opt_dirs=['/usr/sbin', '/sbin'])

    def postconf(self, *args):
        rc, out, err = self.module.run_command([self.postconf_bin, '-c', self.config_dir] + list(args))
        if rc != 0:
            self.module.fail_json(msg='postconf -c %s %s failed: %s' % (self.config_dir, ' '.join(args), err.strip()))
        return out

    def query(self, table, key):
        """The value when found, False when not, ('error', text) when postmap could not ask."""
        rc, out, err = self.module.run_command([self.postmap_bin, '-c', self.config_dir, '-q', key, table])
        if rc == 0:
            return out.strip() or True
        if err.strip():
            return ('error', err.strip().splitlines()[0])
        return False

    def services(self):
        """master.cf services: (name, type, command), their -o overrides ($names expanded)
        and the same as written."""
        services = []
        for line in self.postconf('-M').splitlines():
            fields = line.split()
            if len(fields) >= 8:
                services.append((fields[0], fields[1], fields[7]))

        def overrides(*flags):
            found = {}
            for line in self.postconf('-P', *flags).splitlines():
                match = re.match(r'^([^/\s]+)/([^/\s]+)/(\S+) =[ ]?(.*)$', line)
                if match:
                    found.setdefault((match.group(1), match.group(2)), {})[match.group(3)] = match.group(4)
            return found
        return services, overrides('-x'), overrides()


class Inspection(object):
    def __init__(self, module, gateway):
        self.module = module
        self.p = module.params
        self.gw = gateway
        self.findings = []
        self.domains = [d.lower() for d in self.p['domains']]
        self.expanded = parse_assignments(gateway.postconf('-x', *READ_PARAMS))
        self.explicit = parse_assignments(gateway.postconf('-n'))
        self.ours_re = re.compile(r'^(?:%s):%s/(relay_domains|relay_recipients|transport)$' % (
            '|'.join(re.escape(t) for t in sorted(self.p['suffixes'])), re.escape(self.p['map_dir'].rstrip('/'))))

    def raw(self, name):
        """The value as main.cf writes it; the expanded default when main.cf does not set it
        (at compatibility_level < 2 relay_domains defaults to $mydestination: kept as a reference)."""
        if name in self.explicit:
            return self.explicit[name]
        if name == 'relay_domains' and self.compat() < 2:
            return '$mydestination'
        return self.expanded.get(name, '')

    def implicit(self, name):
        """What main.cf means for a parameter it does not set (as raw() reads it)."""
        if name == 'relay_domains' and self.compat() < 2:
            return '$mydestination'
        return parse_assignments(self.gw.postconf('-d', '-x', name)).get(name, '')

    def compat(self):
        match = re.match(r'^(\d+)', self.expanded.get('compatibility_level', '0'))
        return int(match.group(1)) if match else 0

    def ours(self, token, table=None):
        match = self.ours_re.match(token)
        return bool(match) and (table is None or match.group(1) == table)

    def table(self, table):
        return '%s:%s/%s' % (self.p['map_type'], self.p['map_dir'].rstrip('/'), table)

    # ---- the main.cf changes -------------------------------------------------

    def wanted_present(self):
        wanted = {}
        for param, table in LIST_PARAMS:
            current = tokens(self.raw(param))
            ours = [i for i, tok in enumerate(current) if self.ours(tok, table)]
            new = list(current)
            if ours:
                # Keep rcptsync's entry where it is (an operator may have placed it); a
                # previous map type is replaced in place; duplicates go.
                new[ours[0]] = self.table(table)
                new = [tok for i, tok in enumerate(new) if i not in ours[1:]]
            else:
                # First: transport_maps is first match wins, so rcptsync's next hop wins
                # for its own domains (its table holds no other domain).
                new.insert(0, self.table(table))
            wanted[param] = new
        delimiter = self.raw('recipient_delimiter')
        missing = ''.join(c for c in self.p['recipient_delimiter'] if c not in delimiter)
        if missing:
            wanted['recipient_delimiter'] = delimiter + missing
        wanted['unknown_relay_recipient_reject_code'] = self.p['reject_code']
        if self.p['owner_request_special'] is not None:
            wanted['owner_request_special'] = self.p['owner_request_special']
        if self.p['relay_subdomains'] is not None:
            current = tokens(self.raw('parent_domain_matches_subdomains'))
            new = [tok for tok in current if tok != 'relay_domains']
            if self.p['relay_subdomains']:
                new = current if 'relay_domains' in current else current + ['relay_domains']
            wanted['parent_domain_matches_subdomains'] = new
        if self.p['manage_relay_restrictions']:
            relay = tokens(self.expanded.get('smtpd_relay_restrictions', ''))
            rcpt = tokens(self.expanded.get('smtpd_recipient_restrictions', ''))
            compat = self.compat()
            keep = ('reject_unauth_destination' in relay
                    or (not relay and 'reject_unauth_destination' in rcpt and compat >= 1))
            if not keep:
                if 'defer_unauth_destination' in relay:
                    new = ['reject_unauth_destination' if tok == 'defer_unauth_destination' else tok for tok in relay]
                elif not relay:
                    new = ['permit_mynetworks', 'permit_sasl_authenticated', 'reject_unauth_destination']
                else:
                    new = relay + ['reject_unauth_destination']
                wanted['smtpd_relay_restrictions'] = new
        return wanted

    def record(self):
        try:
            with open(self.p['record_file']) as handle:
                return json.load(handle)
        except (IOError, OSError, ValueError):
            return {}

    def changes_present(self):
        changes, before = {}, {}
        for name, value in self.wanted_present().items():
            value = ', '.join(value) if isinstance(value, list) else value
            if tokens(value) != tokens(self.raw(name)):
                changes[name] = value
                before[name] = self.explicit.get(name)
        return changes, before

    def changes_absent(self):
        """rcptsync's entries out of the three lists; global settings back to what they
        were before rcptsync changed them, where nobody changed them since."""
        record = self.record()
        changes, before = {}, {}
        for param, _table in LIST_PARAMS:
            current = tokens(self.explicit.get(param, ''))
            rest = [tok for tok in current if not self.ours(tok)]
            if rest == current:
                continue
            old = record.get(param, {})
            if 'before' in old and old['before'] is not None and tokens(old['before']) == rest:
                changes[param] = old['before']
            elif not rest or ('before' in old and old['before'] is None and rest == tokens(self.implicit(param))):
                changes[param] = None
            else:
                changes[param] = ', '.join(rest)
            before[param] = self.explicit.get(param)
        for name, old in sorted(record.items()):
            if name in dict(LIST_PARAMS) or 'set' not in old:
                continue
            now = self.explicit.get(name)
            if now is not None and tokens(now) == tokens(old['set']):
                if old.get('before') is None or tokens(old['before']) != tokens(now):
                    changes[name] = old.get('before')
                    before[name] = now
            else:
                self.findings.append('WARN %s: %s is %s, not the %s rcptsync set: left as it is'
                                     % (self.gw.main_cf, name, json.dumps(now), json.dumps(old['set'])))
        return changes, before

    # ---- bypasses and conflicts ----------------------------------------------

    def effective_views(self):
        """main.cf, and each public SMTP service of master.cf with its -o overrides applied."""
        views = [('%s' % self.gw.main_cf, {}, {})]
        services, overrides, written = self.gw.services()
        port = str(self.p['smtp_port'])
        names = set([port] + (['smtp'] if port == '25' else []))
        public = [(n, t, c) for n, t, c in services
                  if t == 'inet' and n.rsplit(':', 1)[-1] in names and c in ('smtpd', 'postscreen')]
        if any(c == 'postscreen' for _, _, c in public):
            public += [(n, t, c) for n, t, c in services if t == 'pass' and c == 'smtpd']
        for name, kind, command in public:
            views.append(('%s: service %s/%s (%s)' % (self.gw.master_cf, name, kind, command),
                          overrides.get((name, kind), {}), written.get((name, kind), {})))
        return views

    def bypass_findings(self, wanted):
        """main.cf, then each -o override of the public SMTP service (and postscreen's smtpd)."""
        for where, over, written in self.effective_views():
            self.view_findings(where, over, written, main=where == self.gw.main_cf)
        self.table_bypasses()

    def view_findings(self, where, over, written, main):
        add = self.findings.append

        def value(name):
            return over[name] if name in over else self.expanded.get(name, '')

        def origin(name):
            return '-o %s=%s' % (name, over[name]) if name in over else '%s = %s' % (name, self.expanded.get(name, ''))

        def here(*names):
            # main.cf is checked as a whole; a service only for what it overrides.
            return main or any(name in over for name in names)

        if here('receive_override_options') and 'no_unknown_recipient_checks' in tokens(value('receive_override_options')):
            add('BYPASS %s: %s turns the relay recipient check off' % (where, origin('receive_override_options')))
        lists = ('smtpd_relay_restrictions', 'smtpd_recipient_restrictions')
        if (here('smtpd_reject_unlisted_recipient', *lists)
                and value('smtpd_reject_unlisted_recipient').strip().lower() == 'no'):
            explicit = [n for n in lists if 'reject_unlisted_recipient' in tokens(value(n))]
            if explicit:
                add('WARN %s: %s: the table is only consulted where reject_unlisted_recipient is listed (%s); '
                    'a permit before it skips the check' % (where, origin('smtpd_reject_unlisted_recipient'),
                                                            ', '.join(explicit)))
            else:
                add('BYPASS %s: %s and no reject_unlisted_recipient in smtpd_relay_restrictions or '
                    'smtpd_recipient_restrictions: relay_recipient_maps is never consulted, every recipient '
                    'is accepted' % (where, origin('smtpd_reject_unlisted_recipient')))
        # (A -o relay_recipient_maps=$relay_recipient_maps,... is no way to inherit main.cf's list:
        # Postfix refuses the self-reference, "unreasonable macro call nesting".)
        if not main and 'relay_recipient_maps' in over:
            if not tokens(over['relay_recipient_maps']):
                add('BYPASS %s: -o relay_recipient_maps= (empty) accepts every recipient of the relayed domains'
                    % where)
            elif self.p['state'] == 'present' and self.table('relay_recipients') not in tokens(over['relay_recipient_maps']):
                shown = over['relay_recipient_maps']
                if written.get('relay_recipient_maps', shown) != shown:
                    shown = '%s (%s)' % (written['relay_recipient_maps'], shown)
                add('BYPASS %s: -o relay_recipient_maps=%s replaces main.cf\'s list, so rcptsync\'s table %s '
                    'is not consulted there' % (where, shown, self.table('relay_recipients')))
        if here('allow_untrusted_routing') and value('allow_untrusted_routing').strip().lower() == 'yes':
            add('BYPASS %s: %s: sender-specified routing (user%%host@, host!user@) from any client is relayed '
                'to the next hop of a relayed domain' % (where, origin('allow_untrusted_routing')))
        if here('soft_bounce') and value('soft_bounce').strip().lower() == 'yes':
            add('WARN %s: %s: every reject, the 550 for unknown recipients too, becomes a 4xx; senders retry '
                'instead of getting a bounce' % (where, origin('soft_bounce')))
        if not main:
            for name in lists:
                if name in over:
                    # Measured on Postfix 3.7: -o smtpd_recipient_restrictions=permit still answers 550 for an
                    # unknown recipient (the implicit check runs unless smtpd_reject_unlisted_recipient = no).
                    add('WARN %s: -o %s=%s overrides main.cf there (the implicit unknown recipient check still '
                        'applies)' % (where, name, over[name]))

    def query_all(self, where, name, table, keys):
        for key in keys:
            found = self.gw.query(table, key)
            if isinstance(found, tuple):
                self.findings.append('UNCHECKED %s: %s: cannot query %s: %s' % (where, name, table, found[1]))
                return None
            if found is not False:
                return key, found
        return None

    def table_bypasses(self):
        # smtpd accepts a recipient that matches recipient_canonical_maps,
        # canonical_maps or virtual_alias_maps before it consults the address class's
        # own table; a domain in mydestination or virtual_*_domains is not in the
        # relay class at all.
        where = self.gw.main_cf
        values = dict((name, tokens(self.expanded.get(name, ''))) for name in READ_PARAMS)
        probe = 'rcptsync-bypass-probe-%d' % int(time.time())
        for name in ('recipient_canonical_maps', 'canonical_maps', 'virtual_alias_maps', 'virtual_mailbox_maps'):
            for table in values[name]:
                if '{' in table or '}' in table:
                    self.findings.append('UNCHECKED %s: %s: inline table %s is not checked' % (where, name, table))
                    continue
                for domain in self.domains:
                    hit = self.query_all(where, name, table, ('@' + domain, probe + '@' + domain))
                    if hit:
                        self.findings.append('BYPASS %s: %s: %s matches %s, so every recipient at %s is accepted'
                                             % (where, name, table, hit[0], domain))
                        break
        for name in ('mydestination', 'virtual_alias_domains', 'virtual_mailbox_domains'):
            for entry in values[name]:
                if entry.startswith('/'):
                    self.findings.append('UNCHECKED %s: %s: file %s is not checked' % (where, name, entry))
                elif ':' in entry:
                    for domain in self.domains:
                        if self.query_all(where, name, entry, (domain,)):
                            self.findings.append('BYPASS %s: %s: %s lists %s, so %s is not checked against '
                                                 'relay_recipient_maps' % (where, name, entry, domain, domain))
                elif entry.lower() in self.domains:
                    self.findings.append('BYPASS %s: %s: lists %s, so %s is not checked against relay_recipient_maps'
                                         % (where, name, entry.lower(), entry.lower()))

    def conflict_findings(self, wanted):
        """The site's own entries in the three lists, against rcptsync's domains."""
        add = self.findings.append
        where = self.gw.main_cf
        probe = 'rcptsync-conflict-probe-%d' % int(time.time())
        expanded = dict((param, tokens(self.expanded.get(param, ''))) for param, _ in LIST_PARAMS)
        site = dict((param, [t for t in expanded[param] if not self.ours(t)]) for param, _ in LIST_PARAMS)
        # relay_domains
        literal = [t.lower() for t in site['relay_domains'] if ':' not in t and not t.startswith('/')]
        for domain in self.domains:
            if domain in literal:
                add('WARN %s: relay_domains names %s itself: it stays relayed when rcptsync stops relaying it '
                    '(and after state: absent)' % (where, domain))
        for table in [t for t in site['relay_domains'] if ':' in t]:
            for domain in self.domains:
                if self.query_all(where, 'relay_domains', table, (domain,)):
                    add('WARN %s: relay_domains: the site table %s also lists %s: it stays relayed when rcptsync '
                        'stops relaying it' % (where, table, domain))
        # Domains of mydestination are in the local address class: relay_recipient_maps does not apply to them.
        local = set(t.lower() for t in tokens(self.expanded.get('mydestination', '')))
        others = ([t for t in literal if t not in self.domains and t not in local]
                  + [t for t in site['relay_domains'] if ':' in t or t.startswith('/')])
        if others and not site['relay_recipient_maps'] and self.p['state'] == 'present':
            add('CONFLICT %s: relay_recipient_maps is empty, so the site\'s relayed domains (relay_domains = %s) '
                'accept every recipient; adding rcptsync\'s table would make them reject every recipient '
                '(550 User unknown in relay recipient table). Give them a recipient table first, e.g. '
                'relay_recipient_maps = regexp:%s/site_relay_recipients with "/@example\\.com$/ OK"'
                % (where, self.expanded.get('relay_domains', ''), self.gw.config_dir))
        # relay_recipient_maps: a site table that answers for rcptsync's domains.
        for table in site['relay_recipient_maps']:
            for domain in self.domains:
                hit = self.query_all(where, 'relay_recipient_maps', table, ('@' + domain, probe + '@' + domain))
                if hit:
                    add('BYPASS %s: relay_recipient_maps: the site table %s matches %s, so every recipient at %s '
                        'is accepted whatever rcptsync renders' % (where, table, hit[0], domain))
            kind, _, path = table.partition(':')
            if kind in FILE_TYPES and os.path.isfile(path):
                counts = dict((d, 0) for d in self.domains)
                try:
                    with open(path, 'rb') as handle:
                        for line in handle:
                            key = line.split(None, 1)[0].decode('utf-8', 'replace').lower() if line.strip() else ''
                            if key.startswith('#') or '@' not in key:
                                continue
                            domain = key.rsplit('@', 1)[1]
                            if domain in counts:
                                counts[domain] += 1
                except (IOError, OSError):
                    add('UNCHECKED %s: relay_recipient_maps: cannot read %s' % (where, path))
                for domain, count in sorted(counts.items()):
                    if count:
                        add('WARN %s: relay_recipient_maps: the site table %s lists %d address%s at %s: they stay '
                            'accepted whatever rcptsync renders' % (where, table, count, '' if count == 1 else 'es',
                                                                     domain))
        # transport_maps: first match wins.
        final = wanted.get('transport_maps', expanded['transport_maps']) if self.p['state'] == 'present' else []
        ours_at = next((i for i, t in enumerate(final) if self.ours(t, 'transport')), None)
        for table in site['transport_maps']:
            position = final.index(table) if table in final else None
            for domain in self.domains:
                hit = self.query_all(where, 'transport_maps', table, (domain,))
                if not hit:
                    continue
                if ours_at is not None and position is not None and position < ours_at:
                    add('CONFLICT %s: transport_maps: the site table %s routes %s to %s and comes before rcptsync\'s '
                        'table, so rcptsync\'s next hop is never used; move %s first'
                        % (where, table, domain, hit[1], self.table('transport')))
                else:
                    add('WARN %s: transport_maps: the site table %s also routes %s (to %s); rcptsync\'s table comes '
                        'first, so its next hop wins' % (where, table, domain, hit[1]))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config_dir=dict(type='path', required=True),
            map_dir=dict(type='path', required=True),
            map_type=dict(type='str', required=True),
            maps=dict(type='list', elements='str', required=True),
            suffixes=dict(type='dict', required=True),
            tmp_prefix=dict(type='str', required=True),
            domains=dict(type='list', elements='str', default=[]),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            smtp_port=dict(type='int', default=25),
            recipient_delimiter=dict(type='str', default='+'),
            reject_code=dict(type='str', default='550'),
            relay_subdomains=dict(type='bool'),
            owner_request_special=dict(type='str'),
            manage_relay_restrictions=dict(type='bool', default=True),
            record_file=dict(type='path', required=True),
            reload_marker=dict(type='path', required=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    gateway = Gateway(module)

    types = gateway.postconf('-m').split()
    if p['state'] == 'present' and p['map_type'] not in types:
        module.fail_json(msg='Postfix (%s) does not support %s tables (supported: %s); install postfix-%s or set '
                             'postfix_relay_gateway_map_type' % (p['config_dir'], p['map_type'], ' '.join(types),
                                                                 p['map_type']))

    suffix = p['suffixes'][p['map_type']]
    other_suffixes = sorted(s for t, s in p['suffixes'].items() if t != p['map_type'])
    sources, indexed, leftovers, other_types = {}, {}, [], []
    for name in p['maps']:
        path = os.path.join(p['map_dir'], name)
        sources[name] = sha256_of(path)
        indexed[name] = os.path.exists('%s.%s' % (path, suffix))
        tmp = os.path.join(p['map_dir'], p['tmp_prefix'] + name)
        leftovers.extend(f for f in [tmp] + ['%s.%s' % (tmp, s) for s in p['suffixes'].values()] if os.path.exists(f))
        other_types.extend(f for f in ['%s.%s' % (path, s) for s in other_suffixes] if os.path.exists(f))

    inspection = Inspection(module, gateway)
    if p['state'] == 'present':
        wanted = inspection.wanted_present()
        changes, before = inspection.changes_present()
        inspection.bypass_findings(wanted)
        inspection.conflict_findings(wanted)
    else:
        changes, before = inspection.changes_absent()

    module.exit_json(
        changed=False,
        types=types,
        params=dict((name, inspection.expanded.get(name, '')) for name in READ_PARAMS),
        sources=sources,
        indexed=indexed,
        leftovers=sorted(set(leftovers)),
        other_types=other_types,
        changes=changes,
        before=before,
        findings=inspection.findings,
        reload_pending=os.path.exists(p['reload_marker']),
    )


if __name__ == '__main__':
    main()
