// A small linter: whitespace hygiene for every source file, a shebang for
// every shell script. Prints file:line: problem and exits 1 on any finding.
import { readFileSync } from 'node:fs';
import { sourceFiles } from './files.js';

const problems = [];
const files = sourceFiles();
for (const file of files) {
  const text = readFileSync(file, 'utf8');
  if (text.length > 0 && !text.endsWith('\n')) problems.push(`${file}: no newline at end of file`);
  if (file.endsWith('.sh') && file !== 'server/http.sh' && !text.startsWith('#!/bin/sh\n')) {
    problems.push(`${file}:1: shell scripts must start with #!/bin/sh (the image has busybox sh only)`);
  }
  text.split('\n').forEach((line, index) => {
    const where = `${file}:${index + 1}`;
    if (line.includes('\r')) problems.push(`${where}: carriage return (use LF line endings)`);
    if (line.includes('\t')) problems.push(`${where}: tab character (indent with spaces)`);
    if (/[ \t]+\r?$/.test(line)) problems.push(`${where}: trailing whitespace`);
  });
}

if (problems.length > 0) {
  console.error(problems.join('\n'));
  console.error(`lint: ${problems.length} problem(s)`);
  process.exit(1);
}
console.log(`lint: ${files.length} files clean`);
