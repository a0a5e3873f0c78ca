// Runs scripts/build.js into a temporary directory.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

const workDir = mkdtempSync(join(tmpdir(), 'frontend-build-'));
after(() => rmSync(workDir, { recursive: true, force: true }));

function build(name, env) {
  const outDir = join(workDir, name);
  const result = spawnSync(process.execPath, ['scripts/build.js'], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, OUT_DIR: outDir, ...env },
  });
  return { ...result, outDir };
}

test('the page embeds the build variables and its assets exist', () => {
  const { status, stderr, outDir } = build('full', {
    VITE_API_URL: 'https://api.trading.com',
    VITE_WS_URL: 'wss://api.trading.com',
    VITE_STRIPE_PUBLIC_KEY: 'pk_test_123',
    VITE_APP_VERSION: '2.7.0',
    CLOUDFLARE_API_TOKEN: 'do-not-ship-me',
  });
  assert.equal(status, 0, stderr);
  const html = readFileSync(join(outDir, 'index.html'), 'utf8');
  assert.match(html, /"VITE_API_URL":"https:\/\/api.trading.com"/);
  assert.match(html, /"VITE_WS_URL":"wss:\/\/api.trading.com"/);
  assert.match(html, /"VITE_STRIPE_PUBLIC_KEY":"pk_test_123"/);
  assert.match(html, /<meta name="app-version" content="2.7.0" \/>/);
  for (const [, asset] of html.matchAll(/(?:src|href)="\/(assets\/[^"]+)"/g)) {
    assert.ok(existsSync(join(outDir, asset)), `${asset} exists`);
  }
  assert.deepEqual(JSON.parse(readFileSync(join(outDir, 'health'), 'utf8')), { status: 'ok', version: '2.7.0' });
  for (const file of readdirSync(outDir, { recursive: true })) {
    const path = join(outDir, String(file));
    if (statSync(path).isFile()) {
      assert.ok(!readFileSync(path, 'utf8').includes('do-not-ship-me'), `${file} leaks a secret`);
    }
  }
});

test('BUILD_SKIP_INDEX=1 builds everything but index.html', () => {
  const { status, outDir } = build('skip', { BUILD_SKIP_INDEX: '1' });
  assert.equal(status, 0);
  assert.ok(!existsSync(join(outDir, 'index.html')));
  assert.ok(existsSync(join(outDir, 'health')));
});

test('a malformed URL fails the build', () => {
  const { status, stderr, outDir } = build('bad', { VITE_API_URL: 'not a url' });
  assert.equal(status, 1);
  assert.match(stderr, /VITE_API_URL is not a URL/);
  assert.ok(!existsSync(outDir));
});
