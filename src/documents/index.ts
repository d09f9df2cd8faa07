/**
 * Documents a user writes (campaigns, the decoder manifest): parsing JSON/YAML with source
 * positions, problems with file:line:col, and the closest valid name for a wrong one. Below both
 * manifest/ and campaigns/, which validate against it.
 */
export { parseSourceText, plainValue, type SourceDocument } from './source.js';
export { formatPath, parsePath, zodProblems, type Problem } from './problems.js';
export { closestNames, editDistance } from './suggest.js';
