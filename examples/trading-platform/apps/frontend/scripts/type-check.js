// Stands in for `tsc --noEmit` without any npm package: every JavaScript
// file must parse (`node --check`), and index.html must carry the
// placeholders the build fills in.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { sourceFiles } from './files.js';

const problems = [];
let checked = 0;
for (const file of sourceFiles()) {
  if (!file.endsWith('.js')) continue;
  checked += 1;
  const result = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8' });
  if (result.status !== 0) problems.push(`${file}: ${result.stderr}`.trim());
}
const html = readFileSync('index.html', 'utf8');
for (const needed of ['%APP_CONFIG%', '%APP_VERSION%', 'src="/src/main.js"', 'href="/src/style.css"', 'id="root"']) {
  if (!html.includes(needed)) problems.push(`index.html: missing ${needed}`);
}

if (problems.length > 0) {
  console.error(problems.join('\n'));
  console.error(`type-check: ${problems.length} problem(s)`);
  process.exit(1);
}
console.log(`type-check: ${checked} files parse, index.html complete`);
