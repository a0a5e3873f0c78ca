// The runtime knobs and how their values are resolved, mirroring
// server/http.sh: defaults, then config/runtime.env, then the environment.

/** @type {Record<string, string>} */
export const KNOB_DEFAULTS = {
  HEALTH_STATUS: 'ok',
  STARTUP_DELAY_SECONDS: '0',
  FAIL_RATE: '0',
  FAIL_BEHIND_PROXY: '',
  RESPONSE_DELAY_MS: '0',
};

/**
 * Reads `KEY=value` lines of a runtime.env file; comments and blank lines
 * are skipped, surrounding single or double quotes removed.
 * @param {string} text
 * @returns {Record<string, string>}
 */
export function parseRuntimeEnv(text) {
  /** @type {Record<string, string>} */
  const values = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (!match) continue;
    let value = match[2];
    if (/^(['"]).*\1$/.test(value)) value = value.slice(1, -1);
    values[match[1]] = value;
  }
  return values;
}

/**
 * Names of the knobs a runtime.env file mentions in a commented-out line.
 * @param {string} text
 * @returns {string[]}
 */
export function commentedKnobs(text) {
  return text
    .split('\n')
    .map((line) => /^#\s*([A-Z_][A-Z0-9_]*)=/.exec(line.trim()))
    .filter((match) => match !== null)
    .map((match) => match[1]);
}

/**
 * The effective knobs: the environment wins over the file, the file over
 * the defaults. An empty value counts as unset, as with `${X:=default}`.
 * @param {Record<string, string>} fileValues
 * @param {Record<string, string | undefined>} env
 * @returns {Record<string, string>}
 */
export function resolveKnobs(fileValues, env) {
  /** @type {Record<string, string>} */
  const knobs = {};
  for (const [name, fallback] of Object.entries(KNOB_DEFAULTS)) {
    const fromEnv = env[name];
    const fromFile = fileValues[name];
    knobs[name] = fromEnv !== undefined ? fromEnv : fromFile ?? '';
    if (knobs[name] === '') knobs[name] = fallback;
  }
  return knobs;
}
