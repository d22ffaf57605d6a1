#!/usr/bin/env python3
"""Usage: count_changes.py OLD NEW. Prints "ADDED REMOVED": how many entries
(lines neither blank nor comments) of NEW are not in OLD, and of OLD not in NEW.
A table's lines are unique keys, so this is its exact diff size; the header
comments, which carry counts, are left out."""
import sys


def entries(path):
    with open(path, 'rb') as handle:
        return {line.strip() for line in handle if line.strip() and not line.lstrip().startswith(b'#')}


old, new = entries(sys.argv[1]), entries(sys.argv[2])
print(len(new - old), len(old - new))
