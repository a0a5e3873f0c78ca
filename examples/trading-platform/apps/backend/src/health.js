// What GET /health answers, mirroring health_state in server/http.sh.

/**
 * @typedef {object} HealthInput
 * @property {string} [healthStatus]        HEALTH_STATUS knob
 * @property {number} [startupDelaySeconds] STARTUP_DELAY_SECONDS knob
 * @property {number} uptime                seconds since the container started
 * @property {string} [version]
 * @property {string} [color]
 * @property {string} [commit]
 */

/**
 * @param {HealthInput} input
 * @returns {{code: number, body: {status: string, color: string, version: string, commit: string, uptime: number}}}
 */
export function healthResponse({
  healthStatus = 'ok',
  startupDelaySeconds = 0,
  uptime,
  version = 'unknown',
  color = 'none',
  commit = 'unknown',
}) {
  let status = 'ok';
  if (uptime < startupDelaySeconds) status = 'starting';
  else if (healthStatus !== 'ok') status = healthStatus;
  return {
    code: status === 'ok' ? 200 : 503,
    body: { status, color, version, commit, uptime },
  };
}
