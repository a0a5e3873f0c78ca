// Number formatting of the trading screens.

/** Decimals shown for a symbol: five for FX pairs, two for the rest. */
export function priceDecimals(/** @type {string} */ symbol) {
  return /^(EUR|GBP|USD|JPY|AUD|CHF|CAD)[A-Z]{3}$/.test(symbol) ? 5 : 2;
}

/**
 * @param {number} value
 * @param {string} symbol
 * @returns {string} e.g. "64,250.50" or "1.08420"
 */
export function formatPrice(value, symbol) {
  if (!Number.isFinite(value)) return '—';
  const decimals = priceDecimals(symbol);
  return value.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

/**
 * @param {number} percent
 * @returns {string} e.g. "+1.25%", "-0.40%", "0.00%"
 */
export function formatChange(percent) {
  if (!Number.isFinite(percent)) return '—';
  const fixed = Math.abs(percent).toFixed(2);
  if (fixed === '0.00') return '0.00%';
  return `${percent > 0 ? '+' : '-'}${fixed}%`;
}
