// Runs server/handler.sh under busybox sh (what the image runs) with a raw
// HTTP request on stdin. Skipped where busybox is not installed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { healthResponse } from '../src/health.js';

const hasBusybox = spawnSync('busybox', ['true']).status === 0;
const skip = hasBusybox ? false : 'busybox is not installed';
const stateDir = mkdtempSync(join(tmpdir(), 'backend-handler-'));
after(() => rmSync(stateDir, { recursive: true, force: true }));

/** Sends one request through the handler; returns {status, headers, body}. */
function request(method, path, { env = {}, headers = {} } = {}) {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: test', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  const result = spawnSync('busybox', ['sh', 'server/handler.sh'], {
    input: `${lines.join('\r\n')}\r\n\r\n`,
    encoding: 'utf8',
    // No ambient knobs: only what the test passes.
    env: { PATH: process.env.PATH, STATE_DIR: stateDir, RUNTIME_ENV: '/nonexistent', ...env },
  });
  assert.equal(result.status, 0, result.stderr);
  const [head, body] = result.stdout.split('\r\n\r\n');
  const [statusLine, ...headerLines] = head.split('\r\n');
  const parsedHeaders = Object.fromEntries(headerLines.map((l) => [l.split(': ')[0].toLowerCase(), l.split(': ')[1]]));
  assert.equal(Number(parsedHeaders['content-length']), Buffer.byteLength(body), 'Content-Length matches the body');
  return { status: Number(statusLine.split(' ')[1]), headers: parsedHeaders, body };
}

test('GET /health agrees with src/health.js', { skip }, () => {
  const env = { APP_VERSION: '1.4.0', APP_COLOR: 'green', APP_COMMIT: 'abc123' };
  const answer = request('GET', '/health', { env });
  assert.equal(answer.status, 200);
  const body = JSON.parse(answer.body);
  assert.deepEqual(body, healthResponse({ uptime: body.uptime, version: '1.4.0', color: 'green', commit: 'abc123' }).body);
  assert.equal(answer.headers.connection, 'close');
});

test('HEALTH_STATUS makes /health and /health/detailed answer 503', { skip }, () => {
  const answer = request('GET', '/health', { env: { HEALTH_STATUS: 'degraded' } });
  assert.equal(answer.status, 503);
  assert.equal(JSON.parse(answer.body).status, 'degraded');
  assert.equal(request('GET', '/health/detailed', { env: { HEALTH_STATUS: 'degraded' } }).status, 503);
});

test('the environment overrides runtime.env', { skip }, () => {
  const file = join(stateDir, 'runtime.env');
  writeFileSync(file, 'HEALTH_STATUS=broken\nFAIL_RATE=100\n');
  assert.equal(request('GET', '/health', { env: { RUNTIME_ENV: file } }).status, 503);
  assert.equal(request('GET', '/health', { env: { RUNTIME_ENV: file, HEALTH_STATUS: 'ok' } }).status, 200);
  assert.equal(request('GET', '/api/v1/ping', { env: { RUNTIME_ENV: file } }).status, 500);
  assert.equal(request('GET', '/api/v1/ping', { env: { RUNTIME_ENV: file, FAIL_RATE: '0' } }).status, 200);
});

test('FAIL_RATE=100 fails everything but /health and /metrics', { skip }, () => {
  const env = { FAIL_RATE: '100' };
  assert.equal(request('GET', '/api/v1/ping', { env }).status, 500);
  assert.equal(request('GET', '/health/detailed', { env }).status, 500);
  assert.equal(request('GET', '/health', { env }).status, 200);
  assert.equal(request('GET', '/metrics', { env }).status, 200);
});

test('FAIL_BEHIND_PROXY only fails requests carrying X-Forwarded-For', { skip }, () => {
  const env = { FAIL_BEHIND_PROXY: '/health /api/v1/ping' };
  assert.equal(request('GET', '/health', { env }).status, 200);
  assert.equal(request('GET', '/health', { env, headers: { 'X-Forwarded-For': '10.0.0.1' } }).status, 500);
  assert.equal(request('GET', '/health/detailed', { env, headers: { 'X-Forwarded-For': '10.0.0.1' } }).status, 200);
});

test('ping, metrics and 404', { skip }, () => {
  assert.deepEqual(JSON.parse(request('GET', '/api/v1/ping', { env: { APP_VERSION: '2' } }).body), { pong: true, version: '2' });
  const metrics = request('GET', '/metrics', { env: { APP_VERSION: '2', APP_COLOR: 'blue' } });
  assert.match(metrics.body, /^http_requests_total\{code="200"\} \d+$/m);
  assert.match(metrics.body, /^app_info\{version="2",color="blue"\} 1$/m);
  const missing = request('GET', '/nope', {});
  assert.equal(missing.status, 404);
  assert.deepEqual(JSON.parse(missing.body), { error: 'not found' });
});

/** The value of one series in a /metrics body, or undefined. */
function sample(body, series) {
  const line = body.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

test('request durations are a histogram by status code, scrapes left out', { skip }, () => {
  const own = mkdtempSync(join(stateDir, 'histogram-'));
  const env = { STATE_DIR: own };
  request('GET', '/api/v1/ping', { env: { ...env, RESPONSE_DELAY_MS: '250' } });
  request('GET', '/api/v1/ping', { env });
  request('GET', '/api/v1/ping', { env: { ...env, FAIL_RATE: '100' } });
  request('GET', '/metrics', { env });
  const body = request('GET', '/metrics', { env }).body;
  const ok = 'http_request_duration_seconds';
  assert.equal(sample(body, `${ok}_bucket{code="200",le="0.2"}`), 1);
  assert.equal(sample(body, `${ok}_bucket{code="200",le="0.3"}`), 2);
  assert.equal(sample(body, `${ok}_bucket{code="200",le="+Inf"}`), 2);
  assert.equal(sample(body, `${ok}_count{code="200"}`), 2, '/metrics is not counted');
  assert.equal(sample(body, `${ok}_count{code="500"}`), 1);
  assert.ok(sample(body, `${ok}_sum{code="200"}`) >= 0.25);
});

test('container memory and CPU come from cgroup v1 or v2, limits only when set', { skip }, () => {
  const v1 = mkdtempSync(join(stateDir, 'cgroup-v1-'));
  for (const dir of ['memory', 'cpuacct', 'cpu']) mkdirSync(join(v1, dir));
  writeFileSync(join(v1, 'memory/memory.usage_in_bytes'), '60000000\n');
  writeFileSync(join(v1, 'memory/memory.stat'), 'cache 100\ntotal_inactive_file 10000000\n');
  writeFileSync(join(v1, 'memory/memory.limit_in_bytes'), '67108864\n');
  writeFileSync(join(v1, 'cpuacct/cpuacct.usage'), '2500000001\n');
  writeFileSync(join(v1, 'cpu/cpu.cfs_quota_us'), '50000\n');
  writeFileSync(join(v1, 'cpu/cpu.cfs_period_us'), '100000\n');
  let body = request('GET', '/metrics', { env: { CGROUP_ROOT: v1 } }).body;
  assert.equal(sample(body, 'container_memory_working_set_bytes'), 50000000);
  assert.equal(sample(body, 'container_spec_memory_limit_bytes'), 67108864);
  assert.match(body, /^container_cpu_usage_seconds_total 2\.500000001$/m);
  assert.equal(sample(body, 'container_spec_cpu_quota'), 50000);
  assert.equal(sample(body, 'container_spec_cpu_period'), 100000);

  writeFileSync(join(v1, 'memory/memory.limit_in_bytes'), '9223372036854771712\n');
  writeFileSync(join(v1, 'cpu/cpu.cfs_quota_us'), '-1\n');
  body = request('GET', '/metrics', { env: { CGROUP_ROOT: v1 } }).body;
  assert.equal(sample(body, 'container_spec_memory_limit_bytes'), undefined, 'no limit, no series');
  assert.equal(sample(body, 'container_spec_cpu_quota'), undefined);

  const v2 = mkdtempSync(join(stateDir, 'cgroup-v2-'));
  writeFileSync(join(v2, 'memory.current'), '3000\n');
  writeFileSync(join(v2, 'memory.stat'), 'anon 2000\ninactive_file 1000\n');
  writeFileSync(join(v2, 'memory.max'), 'max\n');
  writeFileSync(join(v2, 'cpu.stat'), 'usage_usec 1500000\nuser_usec 1000000\n');
  writeFileSync(join(v2, 'cpu.max'), '25000 100000\n');
  body = request('GET', '/metrics', { env: { CGROUP_ROOT: v2 } }).body;
  assert.equal(sample(body, 'container_memory_working_set_bytes'), 2000);
  assert.equal(sample(body, 'container_spec_memory_limit_bytes'), undefined);
  assert.match(body, /^container_cpu_usage_seconds_total 1\.500000$/m);
  assert.equal(sample(body, 'container_spec_cpu_quota'), 25000);
});
