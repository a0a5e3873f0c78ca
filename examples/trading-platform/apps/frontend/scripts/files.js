// Lists the project's own source files (never node_modules or dist).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const SOURCES = ['index.html', 'src', 'scripts', 'test', 'public'];

/**
 * @param {string[]} entries files or directories, relative to the app
 * @returns {string[]} the files, in a stable order; missing entries are skipped
 */
export function sourceFiles(entries = SOURCES) {
  /** @type {string[]} */
  const found = [];
  const walk = (/** @type {string} */ path) => {
    const stat = statSync(path, { throwIfNoEntry: false });
    if (stat?.isDirectory()) for (const name of readdirSync(path).sort()) walk(join(path, name));
    else if (stat?.isFile()) found.push(path);
  };
  entries.forEach(walk);
  return found;
}
