// Builds the static site into dist/ (OUT_DIR), Vite style, with Node alone:
//   index.html          the page, with the VITE_* build variables embedded
//   assets/index-H.js   src/format.js + src/main.js bundled, content hashed
//   assets/index-H.css  src/style.css, content hashed
//   health              {"status":"ok","version":...} for the health check
//   favicon.svg         copied from public/
// BUILD_SKIP_INDEX=1 leaves index.html out (to test the deploy's checks).
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildConfig, configProblems, REQUIRED_VARIABLES, scriptJson } from '../src/config.js';

const outDir = process.env.OUT_DIR || 'dist';
const BUNDLE = ['src/format.js', 'src/main.js'];

/** Joins ES modules into one script: their imports are each other. */
function bundle(files) {
  return files
    .map((file) =>
      readFileSync(file, 'utf8')
        .replace(/^import .*\n/gm, '')
        .replace(/^export /gm, ''),
    )
    .join('\n');
}

function writeHashed(name, extension, content) {
  const hash = createHash('sha256').update(content).digest('hex').slice(0, 8);
  const path = `assets/${name}-${hash}.${extension}`;
  writeFileSync(join(outDir, path), content);
  return `/${path}`;
}

const config = buildConfig(process.env, new Date());
const problems = configProblems(config);
if (problems.length > 0) {
  console.error(`build: bad configuration:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
for (const name of REQUIRED_VARIABLES) {
  if (!config.env[name]) console.warn(`build: warning: ${name} is not set`);
}

rmSync(outDir, { recursive: true, force: true });
mkdirSync(join(outDir, 'assets'), { recursive: true });
cpSync('public', outDir, { recursive: true });
const script = writeHashed('index', 'js', `(() => {\n${bundle(BUNDLE)}\n})();\n`);
const style = writeHashed('index', 'css', readFileSync('src/style.css', 'utf8'));
writeFileSync(join(outDir, 'health'), `${JSON.stringify({ status: 'ok', version: config.version })}\n`);

if (process.env.BUILD_SKIP_INDEX === '1') {
  console.warn('build: BUILD_SKIP_INDEX=1, no index.html written');
} else {
  const html = readFileSync('index.html', 'utf8')
    .replace('%APP_CONFIG%', () => scriptJson(config))
    .replace('%APP_VERSION%', () => config.version.replace(/[<>"&]/g, ''))
    .replace('src="/src/main.js"', `src="${script}"`)
    .replace('href="/src/style.css"', `href="${style}"`);
  writeFileSync(join(outDir, 'index.html'), html);
}
console.log(`build: ${outDir}/ written, version ${config.version}`);
