// Build-time configuration, the way Vite exposes it: every VITE_* variable
// of the build environment is embedded in the page, nothing else is.

export const REQUIRED_VARIABLES = ['VITE_API_URL', 'VITE_WS_URL', 'VITE_STRIPE_PUBLIC_KEY'];

/**
 * @param {Record<string, string | undefined>} env the build's environment
 * @param {Date} now build time
 * @returns {{version: string, builtAt: string, env: Record<string, string>}}
 */
export function buildConfig(env, now) {
  /** @type {Record<string, string>} */
  const vite = {};
  for (const name of Object.keys(env).sort()) {
    if (name.startsWith('VITE_')) vite[name] = env[name] ?? '';
  }
  for (const name of REQUIRED_VARIABLES) vite[name] ??= '';
  const stamp = now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return { version: env.VITE_APP_VERSION || env.RELEASE_VERSION || `build-${stamp}`, builtAt: now.toISOString(), env: vite };
}

/**
 * What is wrong with a configuration (empty when it can be shipped).
 * Unset URLs are allowed (local builds); malformed ones are not.
 * @param {{env: Record<string, string>}} config
 * @returns {string[]}
 */
export function configProblems(config) {
  const problems = [];
  const schemes = { VITE_API_URL: ['http:', 'https:'], VITE_WS_URL: ['ws:', 'wss:'] };
  for (const [name, allowed] of Object.entries(schemes)) {
    const value = config.env[name];
    if (!value) continue;
    let url;
    try {
      url = new URL(value);
    } catch {
      problems.push(`${name} is not a URL: ${value}`);
      continue;
    }
    if (!allowed.includes(url.protocol)) problems.push(`${name} must use ${allowed.join(' or ')}: ${value}`);
  }
  return problems;
}

/** JSON safe to put inside a <script> element. */
export function scriptJson(/** @type {unknown} */ value) {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}
