/**
 * The handlebars side of rendering: loading the built-in templates (or a user's
 * override of each), and the helpers that keep a template from ever emitting a
 * value nobody validated.
 *
 * Templates are compiled with noEscape (HTML escaping has no meaning in a Postfix
 * table) and strict (a misspelt field is an error, not an empty string). Every
 * value in the context is validated before it gets there; the helpers add:
 * - `{{table addresses "OK"}}`: a whole domain's `address OK` lines in one call.
 *   It only accepts an address list that render built and checked, and it does
 *   not put the lines in the template's output string: it leaves a marker that
 *   the writer replaces while streaming to disk, so a million lines never become
 *   one giant string (a plain `{{#each}}` over a million items costs ~0.65 s).
 * - `{{yaml value}}` / `{{json value}}`: a whole value serialised, keys and
 *   strings double-quoted (yaml.ts), so vars.yml cannot be broken by what it carries.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import { ExitCode, RcptsyncError } from '../errors.js';
import { toYaml } from './yaml.js';

export const TEMPLATE_FILES = ['relay_recipients', 'relay_domains', 'transport', 'vars.yml', 'exim/recipients', 'exim/relay_domains', 'exim/routes'] as const;
export type RenderedFile = (typeof TEMPLATE_FILES)[number];

/** `templates/` of the package: beside `src/` when run from source, beside `dist/` when built. */
export const BUILTIN_TEMPLATES_DIR = fileURLToPath(new URL('../../templates/', import.meta.url));

/** Marks where a table goes in a template's output; NUL never survives validation, so no value can forge one. */
export const TABLE_MARKER = /\u0000rcptsync-table:(\d+)\u0000/;
const TABLE_MARKER_ALL = new RegExp(TABLE_MARKER.source, 'g');
/** The right-hand side of a table line: one token of printable ASCII. */
const TABLE_VALUE = /^(?!#)[\x21-\x7e]{1,256}$/;

export interface PendingTable {
  addresses: readonly string[];
  value: string;
}

export interface TemplateSet {
  render(file: RenderedFile, context: object): { output: string; tables: PendingTable[] };
  /** Where each template came from, for messages. */
  origin(file: RenderedFile): string;
}

/** Address lists render built and validated; `table` refuses anything else. */
const trustedLists = new WeakSet<readonly string[]>();

export function trustAddressList<T extends readonly string[]>(list: T): T {
  trustedLists.add(list);
  return list;
}

function templateError(origin: string, error: unknown): RcptsyncError {
  return new RcptsyncError(`template ${origin}: ${(error as Error).message}`, ExitCode.usage);
}

/**
 * Load the four templates and the partials. A file missing from `templatesDir`
 * falls back to the built-in one, so a user overrides only what they need.
 */
export function loadTemplates(templatesDir?: string): TemplateSet {
  const handlebars = Handlebars.create();
  let pending: PendingTable[] = [];

  handlebars.registerHelper('table', function (addresses: unknown, value: unknown) {
    if (!Array.isArray(addresses) || !trustedLists.has(addresses)) {
      throw new Error('the table helper takes a domain\'s "addresses" list and nothing else');
    }
    if (typeof value !== 'string' || !TABLE_VALUE.test(value)) {
      throw new Error('the table helper needs a value of one printable token, e.g. {{table addresses "OK"}}');
    }
    if (addresses.length === 0) return '';
    pending.push({ addresses, value });
    return `\u0000rcptsync-table:${pending.length - 1}\u0000`;
  });
  handlebars.registerHelper('yaml', (value: unknown) => toYaml(value));
  handlebars.registerHelper('json', (value: unknown) => JSON.stringify(value, null, 2));

  const dirs = templatesDir ? [path.resolve(templatesDir), BUILTIN_TEMPLATES_DIR] : [BUILTIN_TEMPLATES_DIR];
  if (templatesDir && !existsSync(templatesDir)) {
    throw new RcptsyncError(`templates directory ${templatesDir} does not exist`, ExitCode.usage);
  }
  // Partials: built-in first, then the user's, so a user's partial of the same name wins.
  for (const dir of [...dirs].reverse()) {
    const partials = path.join(dir, 'partials');
    if (!existsSync(partials)) continue;
    for (const entry of readdirSync(partials).sort()) {
      if (!entry.endsWith('.hbs')) continue;
      const file = path.join(partials, entry);
      try {
        handlebars.registerPartial(entry.slice(0, -'.hbs'.length), readFileSync(file, 'utf8'));
      } catch (error) {
        throw templateError(file, error);
      }
    }
  }

  const compiled = new Map<RenderedFile, { origin: string; template: Handlebars.TemplateDelegate }>();
  for (const name of TEMPLATE_FILES) {
    const origin = dirs.map((dir) => path.join(dir, `${name}.hbs`)).find((file) => existsSync(file));
    if (!origin) throw new RcptsyncError(`template ${name}.hbs not found in ${dirs.join(' or ')}`, ExitCode.usage);
    try {
      const source = readFileSync(origin, 'utf8');
      handlebars.parse(source); // compile() is lazy: report syntax errors before anything is written
      const template = handlebars.compile(source, { noEscape: true, strict: true });
      compiled.set(name, { origin, template });
    } catch (error) {
      throw templateError(origin, error);
    }
  }

  return {
    origin: (file) => compiled.get(file)!.origin,
    render(file, context) {
      const { origin, template } = compiled.get(file)!;
      pending = [];
      try {
        const output = template(context);
        return { output, tables: pending };
      } catch (error) {
        throw templateError(origin, error);
      } finally {
        pending = [];
      }
    },
  };
}

/** Split a template's output into text and table parts (text, index, text, index, ..., text). */
export function splitOnTables(output: string): string[] {
  return output.split(TABLE_MARKER_ALL);
}
