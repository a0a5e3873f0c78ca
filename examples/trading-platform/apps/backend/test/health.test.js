import assert from 'node:assert/strict';
import { test } from 'node:test';
import { healthResponse } from '../src/health.js';

test('healthy: 200 with version, color, commit and uptime', () => {
  const { code, body } = healthResponse({ uptime: 42, version: '1.4.0', color: 'blue', commit: 'abc123' });
  assert.equal(code, 200);
  assert.deepEqual(body, { status: 'ok', color: 'blue', version: '1.4.0', commit: 'abc123', uptime: 42 });
});

test('defaults when the runtime variables are missing', () => {
  const { body } = healthResponse({ uptime: 0 });
  assert.equal(body.version, 'unknown');
  assert.equal(body.color, 'none');
  assert.equal(body.commit, 'unknown');
});

test('HEALTH_STATUS other than ok: 503 carrying that status', () => {
  const { code, body } = healthResponse({ uptime: 10, healthStatus: 'degraded' });
  assert.equal(code, 503);
  assert.equal(body.status, 'degraded');
});

test('inside STARTUP_DELAY_SECONDS: 503 starting, then ok', () => {
  assert.equal(healthResponse({ uptime: 3, startupDelaySeconds: 5 }).body.status, 'starting');
  assert.equal(healthResponse({ uptime: 3, startupDelaySeconds: 5 }).code, 503);
  assert.equal(healthResponse({ uptime: 5, startupDelaySeconds: 5 }).code, 200);
});
