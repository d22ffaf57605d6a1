#!/usr/bin/env python3
"""Check one gateway's rendered files against rendered/manifest.json.

Runs on the control node. Usage:
  check_rendered.py RENDERED_DIR GATEWAY MIN_ENTRIES MAP...

Prints one JSON object: {"errors": [...], "tables": {name: {"entries": N,
"first": key-or-null}}, "domains": [...]}. "errors" lists every reason to
refuse the deployment (a missing or altered file, an entry count that differs
from the manifest or is under MIN_ENTRIES, a catch-all "@domain" key in
relay_recipients). Exit status 0 whenever the check itself ran.
"""
import hashlib
import json
import os
import sys


def digest_and_count(path):
    """sha256 of the file, its entries (lines neither blank nor comments),
    its first key and the line numbers of keys starting with "@"."""
    sha = hashlib.sha256()
    entries = 0
    first = None
    catch_alls = []
    with open(path, 'rb') as handle:
        for number, raw in enumerate(handle, start=1):
            sha.update(raw)
            line = raw.strip()
            if not line or line.startswith(b'#'):
                continue
            entries += 1
            key = line.split()[0].decode('utf-8', 'replace')
            if first is None:
                first = key
            if key.startswith('@'):
                catch_alls.append('%s:%d: %s' % (path, number, key))
    return sha.hexdigest(), entries, first, catch_alls


def main(argv):
    rendered_dir, gateway, min_entries = argv[1], argv[2], int(argv[3])
    maps = argv[4:]
    result = {'errors': [], 'tables': {}, 'domains': []}
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
    result['domains'] = sorted((expected.get('domains') or {}).keys())
    for name in maps:
        if name not in files:
            errors.append('%s: gateway %s has no %s' % (manifest_path, gateway, name))
    # Every file the manifest lists must match, not only the tables.
    for name in sorted(files):
        path = os.path.join(rendered_dir, gateway, name)
        want = files[name]
        try:
            sha, entries, first, catch_alls = digest_and_count(path)
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
        if name == 'relay_recipients':
            if entries < min_entries:
                errors.append('%s: %d entries, under the minimum of %d (postfix_relay_gateway_min_entries)'
                              % (path, entries, min_entries))
            for where in catch_alls:
                errors.append('%s: catch-all entry; it would accept every recipient of its domain' % where)
    print(json.dumps(result))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
