/** Rendering: snapshot -> per-gateway Postfix maps, vars file and manifest, swapped in atomically. */
export { renderTree, renderedTables, gatewayContexts } from './render.js';
export type { RenderOptions, RenderStep, RenderSummary, GatewaySummary, GatewayContext, DomainView, SourceView } from './render.js';
export { checkTree, serialiseManifest, MANIFEST_VERSION } from './manifest.js';
export type { Manifest, GatewayManifest, TableFileEntry, PlainFileEntry, TreeCheck } from './manifest.js';
export { countEntries } from './output.js';
export { MANIFEST_FILE, MANIFEST_FORMAT, recoverInterruptedSwap, treePaths } from './swap.js';
export { BUILTIN_TEMPLATES_DIR, TEMPLATE_FILES, loadTemplates } from './templates.js';
export type { RenderedFile } from './templates.js';
