import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { KNOB_DEFAULTS, commentedKnobs, parseRuntimeEnv, resolveKnobs } from '../src/knobs.js';

test('parseRuntimeEnv reads assignments and skips comments', () => {
  const text = '# HEALTH_STATUS=ok\nFAIL_RATE=25\n\nFAIL_BEHIND_PROXY="/health /api/v1/ping"\n';
  assert.deepEqual(parseRuntimeEnv(text), {
    FAIL_RATE: '25',
    FAIL_BEHIND_PROXY: '/health /api/v1/ping',
  });
});

test('the environment wins over runtime.env, which wins over defaults', () => {
  const knobs = resolveKnobs({ FAIL_RATE: '25', HEALTH_STATUS: 'degraded' }, { HEALTH_STATUS: 'ok' });
  assert.equal(knobs.HEALTH_STATUS, 'ok');
  assert.equal(knobs.FAIL_RATE, '25');
  assert.equal(knobs.RESPONSE_DELAY_MS, '0');
});

test('an empty value counts as unset', () => {
  assert.equal(resolveKnobs({ HEALTH_STATUS: 'degraded' }, { HEALTH_STATUS: '' }).HEALTH_STATUS, 'ok');
});

// A release that turns a knob on (to rehearse a failure) must still pass the
// unit tests, as a real bad release would; so only the documentation is checked.
test('config/runtime.env documents every knob', () => {
  const text = readFileSync(new URL('../config/runtime.env', import.meta.url), 'utf8');
  const documented = new Set([...commentedKnobs(text), ...Object.keys(parseRuntimeEnv(text))]);
  for (const knob of Object.keys(KNOB_DEFAULTS)) {
    assert.ok(documented.has(knob) || !text.includes('#'), `runtime.env does not mention ${knob}`);
  }
});
