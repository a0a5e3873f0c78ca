import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatChange, formatPrice, priceDecimals } from '../src/format.js';

test('FX pairs get five decimals, the rest two', () => {
  assert.equal(priceDecimals('EURUSD'), 5);
  assert.equal(priceDecimals('BTCUSDT'), 2);
  assert.equal(priceDecimals('XAUUSD'), 2);
});

test('formatPrice groups thousands and pads decimals', () => {
  assert.equal(formatPrice(64250.5, 'BTCUSDT'), '64,250.50');
  assert.equal(formatPrice(1.0842, 'EURUSD'), '1.08420');
  assert.equal(formatPrice(Number.NaN, 'BTCUSDT'), '—');
});

test('formatChange signs the percentage', () => {
  assert.equal(formatChange(1.254), '+1.25%');
  assert.equal(formatChange(-0.4), '-0.40%');
  assert.equal(formatChange(0), '0.00%');
  assert.equal(formatChange(-0.001), '0.00%');
});
