/**
 * The committed JSON Schemas (schemas/*.schema.json) and their compiled
 * validators. The schema files are the reference; docs/variables.md is kept in
 * step with them by a test.
 */
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv';

/** schemas/ of the package: two levels up from src/inventory or dist/inventory. */
export const SCHEMAS_DIR = fileURLToPath(new URL('../../schemas/', import.meta.url));

export const SOURCE_TYPES = ['mailman3', 'mailman2', 'sympa', 'aliases', 'postfix_map', 'passwd', 'command', 'static'] as const;
export type SourceTypeName = (typeof SOURCE_TYPES)[number];

export type JsonSchema = Record<string, unknown> & {
  properties?: Record<string, Record<string, unknown>>;
  $defs?: Record<string, JsonSchema>;
};

export interface Schemas {
  listServer: ValidateFunction;
  gateway: ValidateFunction;
  /** The raw documents, for known names, defaults and documentation checks. */
  documents: { listServer: JsonSchema; gateway: JsonSchema; source: JsonSchema; playbook?: JsonSchema };
  /** Every known rcptsync_ variable: list server, gateway, and playbook (control node) variables. */
  knownVariables: Set<string>;
  listServerVariables: string[];
  gatewayVariables: string[];
  /** Allowed keys of a source object of each type. */
  sourceKeys: Record<SourceTypeName, string[]>;
}

const cache = new Map<string, Schemas>();

export function loadSchemas(dir: string = SCHEMAS_DIR): Schemas {
  const cached = cache.get(dir);
  if (cached) return cached;
  const read = (name: string): JsonSchema => JSON.parse(readFileSync(join(dir, name), 'utf8')) as JsonSchema;
  const source = read('source.schema.json');
  const listServer = read('list-server.schema.json');
  const gateway = read('gateway.schema.json');
  // Written by the Ansible side: control-node variables that share the prefix.
  const playbookPath = join(dir, 'playbook-vars.schema.json');
  const playbook = existsSync(playbookPath) ? read('playbook-vars.schema.json') : undefined;

  const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, verbose: true });
  ajv.addVocabulary(['x-message']);
  ajv.addSchema(source);
  const schemas: Schemas = {
    listServer: ajv.compile(listServer),
    gateway: ajv.compile(gateway),
    documents: { listServer, gateway, source, ...(playbook ? { playbook } : {}) },
    listServerVariables: Object.keys(listServer.properties ?? {}).sort(),
    gatewayVariables: Object.keys(gateway.properties ?? {}).sort(),
    knownVariables: new Set([
      ...Object.keys(listServer.properties ?? {}),
      ...Object.keys(gateway.properties ?? {}),
      ...Object.keys(playbook?.properties ?? {}),
    ]),
    sourceKeys: Object.fromEntries(
      SOURCE_TYPES.map((type) => [type, Object.keys(source.$defs?.[type]?.properties ?? {}).sort()]),
    ) as Record<SourceTypeName, string[]>,
  };
  cache.set(dir, schemas);
  return schemas;
}

/** The `default` of a top-level variable in a schema document (following one $ref). */
export function schemaDefault(document: JsonSchema, variable: string): unknown {
  return document.properties?.[variable]?.['default'];
}
