// Stands in for `tsc --noEmit` without any npm package: every JavaScript
// file must parse (`node --check`) and every shell script must parse as
// POSIX sh (`sh -n`), which is what the busybox image runs.
import { spawnSync } from 'node:child_process';
import { sourceFiles } from './files.js';

let failures = 0;
let checked = 0;
for (const file of sourceFiles()) {
  let result;
  if (file.endsWith('.js')) result = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8' });
  else if (file.endsWith('.sh')) result = spawnSync('sh', ['-n', file], { encoding: 'utf8' });
  else continue;
  checked += 1;
  if (result.error || result.status !== 0) {
    failures += 1;
    console.error(`${file}: ${result.error?.message ?? ''}${result.stderr}`.trim());
  }
}

if (failures > 0) {
  console.error(`type-check: ${failures} file(s) failed`);
  process.exit(1);
}
console.log(`type-check: ${checked} files parse`);
