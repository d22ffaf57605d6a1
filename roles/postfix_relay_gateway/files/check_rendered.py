#!/usr/bin/env python3
"""Check one gateway's rendered files against rendered/manifest.json.

Runs on the control node. Usage:
  check_rendered.py RENDERED_DIR GATEWAY MIN_ENTRIES MAP...

Prints one JSON object: {"errors": [...], "tables": {name: {"entries": N,
"first": key-or-null}}, "domains": [...], "mta": "postfix" or "exim"}. The
recipients checks apply to relay_recipients (Postfix) and recipients (Exim;
roles/exim_relay_gateway runs this script too). "errors" lists every reason to
refuse the deployment (a missing or altered file, an entry count that differs
from the manifest or is under MIN_ENTRIES, a catch-all "@domain" key in
relay_recipients, a key with "%" or "!"). Exit status 0 whenever the check itself ran.
"""
import hashlib
import json
import os
import re
import sys


# A line that is not plainly "key value": empty, or starting with whitespace, a
# comment sign or "@". Only these need a closer look; every other line is an
# entry. Finding them with one regular-expression scan (and counting newlines in
# C) keeps a million-line table well under a second, where a Python loop over
# every line took about two on a busy machine.
IRREGULAR_CHARS = b'\n \t\r\x0b\x0c#@'
IRREGULAR_AFTER_NEWLINE = re.compile(br'\n(?=[\n \t\r\x0b\x0c#@])')
# A key with "%" or "!" in it: user%host@domain and host!user@domain are
# sender-specified routing; such a key would put a routing form into the table.
ROUTING_KEY = re.compile(br'^[^\s#%!]*[%!]\S*', re.M)


def digest_and_count(path):
    """sha256 of the file, its entries (lines neither blank nor comments, as
    bytes.strip() sees them), its first key and the line numbers of keys
    starting with "@"."""
    with open(path, 'rb') as handle:
        data = handle.read()
    sha = hashlib.sha256(data)
    lines = data.count(b'\n') + (0 if data.endswith(b'\n') or not data else 1)
    entries = lines
    catch_alls = []
    starts = [match.end() for match in IRREGULAR_AFTER_NEWLINE.finditer(data)]
    if data and data[:1] in IRREGULAR_CHARS:
        starts.insert(0, 0)
    for start in starts:
        end = data.find(b'\n', start)
        line = data[start:end if end >= 0 else len(data)].strip()
        if not line or line.startswith(b'#'):
            entries -= 1
            continue
        if line.startswith(b'@'):
            number = data.count(b'\n', 0, start) + 1
            key = line.split()[0].decode('utf-8', 'replace')
            catch_alls.append('%s:%d: %s' % (path, number, key))
    first = None
    if entries > 0:
        # The first entry is the first line that is not blank or a comment.
        offset = 0
        while True:
            end = data.find(b'\n', offset)
            line = data[offset:end if end >= 0 else len(data)].strip()
            if line and not line.startswith(b'#'):
                first = line.split()[0].decode('utf-8', 'replace')
                break
            offset = end + 1
    routing = ['%s:%d: %s' % (path, data.count(b'\n', 0, m.start()) + 1, m.group(0).decode('utf-8', 'replace'))
               for m in ROUTING_KEY.finditer(data)] if b'%' in data or b'!' in data else []
    return sha.hexdigest(), entries, first, catch_alls, routing


def main(argv):
    rendered_dir, gateway, min_entries = argv[1], argv[2], int(argv[3])
    maps = argv[4:]
    result = {'errors': [], 'tables': {}, 'domains': [], 'mta': 'postfix'}
    errors = result['errors']
    manifest_path = os.path.join(rendered_dir, 'manifest.json')
    try:
        with open(manifest_path, encoding='utf-8') as handle:
            manifest = json.load(handle)
    except (OSError, ValueError) as error:
        errors.append('%s: cannot read the manifest: %s (run rcptsync sync first)' % (manifest_path, error))
        print(json.dumps(result))
        return 0
    if manifest.get('format') != 'rcptsync-manifest' or manifest.get('version') != 1:
        errors.append('%s: not an rcptsync manifest of version 1' % manifest_path)
    expected = (manifest.get('gateways') or {}).get(gateway)
    if not isinstance(expected, dict):
        errors.append('%s: no gateway named %s' % (manifest_path, gateway))
        print(json.dumps(result))
        return 0
    files = expected.get('files') or {}
    result['mta'] = 'exim' if expected.get('mta') == 'exim' else 'postfix'
    result['domains'] = sorted((expected.get('domains') or {}).keys())
    for name in maps:
        if name not in files:
            errors.append('%s: gateway %s has no %s' % (manifest_path, gateway, name))
    # Every file the manifest lists must match, not only the tables.
    for name in sorted(files):
        path = os.path.join(rendered_dir, gateway, name)
        want = files[name]
        try:
            sha, entries, first, catch_alls, routing = digest_and_count(path)
        except OSError as error:
            errors.append('%s: cannot read: %s' % (path, error.strerror))
            continue
        if sha != want.get('sha256'):
            errors.append('%s: sha256 %s differs from the manifest (%s); the file changed after rendering'
                          % (path, sha, want.get('sha256')))
        if name in maps:
            result['tables'][name] = {'entries': entries, 'first': first, 'sha256': want.get('sha256')}
            if entries != want.get('entries'):
                errors.append('%s: %d entries, the manifest says %s' % (path, entries, want.get('entries')))
        if name in ('relay_recipients', 'recipients'):
            if entries < min_entries:
                errors.append('%s: %d entries, under the minimum of %d (postfix_relay_gateway_min_entries)'
                              % (path, entries, min_entries))
            for where in catch_alls:
                errors.append('%s: catch-all entry; it would accept every recipient of its domain' % where)
            for where in routing:
                errors.append('%s: a %% or ! in the local part is sender-specified routing (user%%host@, host!user@); refused' % where)
    print(json.dumps(result))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
