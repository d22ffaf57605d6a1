/**
 * A small YAML writer for vars.yml: block style for mappings and lists, and
 * every key and string as a JSON string, which YAML reads as a double-quoted
 * scalar (JSON's escapes are a subset of YAML's). Nothing a value holds can
 * change the document's structure, and no YAML library has to be loaded.
 */
export function toYaml(value: unknown): string {
  return emit(value, '').replace(/^\n/, '');
}

function scalar(value: unknown): string | null {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`cannot write ${value} in YAML`);
    return String(value);
  }
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  return null;
}

// Identifier-like keys stay plain for readability, except words YAML 1.1 (PyYAML, hence Ansible) reads as booleans or null.
const PLAIN_KEY = /^[a-z_][a-z0-9_]*$/;
const RESERVED = /^(?:y|n|yes|no|on|off|true|false|null)$/;

function yamlKey(key: string): string {
  return PLAIN_KEY.test(key) && !RESERVED.test(key) ? key : JSON.stringify(key);
}

function emit(value: unknown, indent: string): string {
  const simple = scalar(value);
  if (simple !== null) return ` ${simple}`;
  if (Array.isArray(value)) {
    if (value.length === 0) return ' []';
    return value.map((item) => `\n${indent}-${emit(item, `${indent}  `)}`).join('');
  }
  if (typeof value === 'object' && value !== undefined) {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) return ' {}';
    return entries.map(([key, item]) => `\n${indent}${yamlKey(key)}:${emit(item, `${indent}  `)}`).join('');
  }
  throw new Error(`cannot write a ${typeof value} in YAML`);
}
