// Integration test against a running backend container: API_URL is its base
// URL. Waits while the service is unreachable or still "starting" (up to
// INTEGRATION_WAIT_SECONDS), then checks /health and /health/detailed.
const baseUrl = process.env.API_URL;
const waitSeconds = Number(process.env.INTEGRATION_WAIT_SECONDS ?? 20);

function describe(error) {
  const cause = error.cause;
  return cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message ?? error.message;
}

function fail(message) {
  console.error(`integration test FAILED: ${message}`);
  process.exit(1);
}

async function get(path) {
  const response = await fetch(new URL(path, baseUrl), { signal: AbortSignal.timeout(5000) });
  const text = await response.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // left null: the checks below say what was expected
  }
  return { status: response.status, text, json };
}

async function waitForHealth() {
  const deadline = Date.now() + waitSeconds * 1000;
  for (;;) {
    let problem;
    try {
      const answer = await get('/health');
      if (!(answer.status === 503 && answer.json?.status === 'starting')) return answer;
      problem = 'still starting';
    } catch (error) {
      problem = describe(error);
    }
    if (Date.now() > deadline) fail(`GET ${baseUrl}/health: ${problem} after ${waitSeconds}s`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

if (!baseUrl) fail('API_URL is not set (base URL of the backend under test)');

const health = await waitForHealth();
if (health.status !== 200) fail(`GET /health answered ${health.status}: ${health.text}`);
if (health.json?.status !== 'ok') fail(`GET /health status is not "ok": ${health.text}`);
for (const field of ['version', 'color']) {
  if (typeof health.json[field] !== 'string') fail(`GET /health has no "${field}": ${health.text}`);
}

let detailed;
try {
  detailed = await get('/health/detailed');
} catch (error) {
  fail(`GET /health/detailed: ${describe(error)}`);
}
if (detailed.status !== 200) fail(`GET /health/detailed answered ${detailed.status}: ${detailed.text}`);

console.log(`integration test passed: ${baseUrl} version ${health.json.version} color ${health.json.color}`);
