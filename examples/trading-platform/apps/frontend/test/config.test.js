import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildConfig, configProblems, scriptJson } from '../src/config.js';

const NOW = new Date('2024-05-01T12:30:45Z');

test('only VITE_* variables are embedded, the required ones always', () => {
  const config = buildConfig({ VITE_API_URL: 'https://api.trading.com', CLOUDFLARE_API_TOKEN: 'secret' }, NOW);
  assert.deepEqual(config.env, { VITE_API_URL: 'https://api.trading.com', VITE_STRIPE_PUBLIC_KEY: '', VITE_WS_URL: '' });
});

test('the version comes from VITE_APP_VERSION, else the build time', () => {
  assert.equal(buildConfig({ VITE_APP_VERSION: '2.7.0-abc' }, NOW).version, '2.7.0-abc');
  assert.equal(buildConfig({}, NOW).version, 'build-20240501123045');
});

test('malformed or wrong-scheme URLs are reported, unset ones are not', () => {
  assert.deepEqual(configProblems(buildConfig({}, NOW)), []);
  const problems = configProblems(buildConfig({ VITE_API_URL: 'api.trading.com', VITE_WS_URL: 'https://x' }, NOW));
  assert.equal(problems.length, 2);
  assert.match(problems[0], /VITE_API_URL is not a URL/);
  assert.match(problems[1], /VITE_WS_URL must use ws: or wss:/);
});

test('scriptJson cannot close the script element', () => {
  assert.equal(scriptJson({ a: '</script>' }), '{"a":"\\u003c/script>"}');
  assert.deepEqual(JSON.parse(scriptJson({ a: '</script>' })), { a: '</script>' });
});
