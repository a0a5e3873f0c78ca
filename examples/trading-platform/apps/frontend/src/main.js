// The web app: market overview and connection details. Plain DOM, no
// framework; the build bundles this file with format.js.
import { formatChange, formatPrice } from './format.js';

const config = window.__APP_CONFIG__ ?? { version: 'dev', env: {} };

const QUOTES = [
  { symbol: 'BTCUSDT', price: 64250.5, change: 1.82 },
  { symbol: 'ETHUSDT', price: 3120.25, change: -0.64 },
  { symbol: 'XAUUSD', price: 2345.8, change: 0.12 },
  { symbol: 'EURUSD', price: 1.0842, change: -0.05 },
  { symbol: 'GBPUSD', price: 1.2671, change: 0 },
];

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, attributes);
  node.append(...children);
  return node;
}

function quoteRow({ symbol, price, change }) {
  const direction = change > 0 ? 'up' : change < 0 ? 'down' : '';
  return element(
    'tr',
    {},
    element('td', {}, symbol),
    element('td', {}, formatPrice(price, symbol)),
    element('td', { className: direction }, formatChange(change)),
  );
}

function App() {
  return element(
    'div',
    {},
    element('header', {}, element('h1', {}, 'Trading Platform')),
    element('main', {}, element('table', {}, ...QUOTES.map(quoteRow))),
    element(
      'footer',
      {},
      `API ${config.env.VITE_API_URL || 'not configured'} · streaming ${config.env.VITE_WS_URL || 'off'} · ${config.version}`,
    ),
  );
}

document.getElementById('root')?.replaceChildren(App());
