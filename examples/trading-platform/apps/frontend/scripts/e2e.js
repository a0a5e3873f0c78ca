// End-to-end check of the built site (dist/, or OUT_DIR): serves it over
// HTTP from Node, fetches the page, its assets and /health like a browser
// and the health check would, and renders the app against a minimal DOM.
import { readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize } from 'node:path';
import vm from 'node:vm';

const root = process.env.OUT_DIR || 'dist';
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' };
const failures = [];
const check = (ok, message) => ok || failures.push(message);

function serve(request, response) {
  const path = normalize(decodeURIComponent(new URL(request.url, 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
  const file = join(root, path === '/' ? 'index.html' : path);
  try {
    if (!statSync(file).isFile()) throw new Error('not a file');
    const type = TYPES[extname(file)] ?? (path === '/health' ? 'application/json' : 'application/octet-stream');
    response.writeHead(200, { 'Content-Type': type }).end(readFileSync(file));
  } catch {
    response.writeHead(404).end('not found');
  }
}

/** Runs the bundle against just enough DOM to build the app; returns its text. */
function render(script, config) {
  const node = (tag) => ({
    tag,
    children: [],
    append(...items) {
      this.children.push(...items);
    },
    replaceChildren(...items) {
      this.children = items;
    },
  });
  const rootNode = node('div');
  const document = { createElement: node, getElementById: (id) => (id === 'root' ? rootNode : null) };
  vm.runInNewContext(script, { window: { __APP_CONFIG__: config }, document });
  const text = (item) => (typeof item === 'string' ? item : item.children.map(text).join(' '));
  return text(rootNode);
}

try {
  statSync(join(root, 'health'));
} catch {
  console.error(`e2e FAILED: ${root}/ has not been built (run npm run build first)`);
  process.exit(1);
}

const server = createServer(serve).listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const base = `http://127.0.0.1:${server.address().port}`;
try {
  const page = await fetch(`${base}/`);
  const html = await page.text();
  check(page.status === 200, `GET / answered ${page.status}: is there an index.html?`);
  check(html.includes('<div id="root">'), 'the page has no #root element');
  const configMatch = /window\.__APP_CONFIG__ = (.*);<\/script>/.exec(html);
  check(configMatch, 'the page embeds no configuration');
  const config = configMatch ? JSON.parse(configMatch[1]) : { env: {} };
  for (const name of ['VITE_API_URL', 'VITE_WS_URL']) {
    const expected = process.env[name];
    if (expected) check(config.env[name] === expected, `${name} is ${config.env[name]}, expected ${expected}`);
  }

  let script = '';
  for (const [, asset] of html.matchAll(/(?:src|href)="(\/[^"]+)"/g)) {
    const answer = await fetch(base + asset);
    check(answer.status === 200, `GET ${asset} answered ${answer.status}`);
    if (asset.endsWith('.js')) script = await answer.text();
  }
  if (script) {
    const text = render(script, config);
    check(text.includes('BTCUSDT') && text.includes('64,250.50'), `the app rendered no quotes: ${text}`);
    check(text.includes(config.version), 'the app does not show its version');
  } else check(false, 'the page loads no script');

  const health = await fetch(`${base}/health`);
  const body = await health.json().catch(() => null);
  check(health.status === 200 && body?.status === 'ok', `GET /health answered ${health.status} ${JSON.stringify(body)}`);
  if (configMatch) check(body?.version === config.version, `/health says version ${body?.version}, the page ${config.version}`);
} catch (error) {
  failures.push(`${error.message}`);
} finally {
  server.close();
}

if (failures.length > 0) {
  console.error(`e2e FAILED:\n  ${failures.join('\n  ')}`);
  process.exit(1);
}
console.log(`e2e passed: ${root}/ serves the page, its assets and /health`);
