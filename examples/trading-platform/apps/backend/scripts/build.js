// Builds dist/, the only thing the Dockerfile copies into the image: the
// server scripts, runtime.env (from config/) and build-info.json.
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const SERVER_FILES = ['handler.sh', 'http.sh', 'start.sh'];

rmSync('dist', { recursive: true, force: true });
mkdirSync('dist');
for (const name of SERVER_FILES) {
  copyFileSync(`server/${name}`, `dist/${name}`);
  // nc -e and CMD execute these directly: they must stay executable.
  chmodSync(`dist/${name}`, 0o755);
}
copyFileSync('config/runtime.env', 'dist/runtime.env');

const buildInfo = {
  name: pkg.name,
  version: process.env.APP_VERSION || pkg.version,
  commit: process.env.GIT_COMMIT || process.env.APP_COMMIT || 'unknown',
  built_at: new Date().toISOString(),
  node: process.version,
};
writeFileSync('dist/build-info.json', `${JSON.stringify(buildInfo, null, 2)}\n`);
console.log(`build: dist/ written (${SERVER_FILES.length + 2} files, version ${buildInfo.version})`);
