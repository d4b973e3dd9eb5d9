// The dashboard's shared helpers: elements, the /api/v1 client and the interface strings (i18n.js).
import { t } from '/static/i18n.js';

export { t };

/** The element with this id. */
export const $ = (id) => document.getElementById(id);

/** A new element: props are set as properties (aria-* and data-* as attributes), children appended. */
export function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k.startsWith('aria-') || k.startsWith('data-')) e.setAttribute(k, v); else e[k] = v;
  }
  e.append(...children);
  return e;
}

/** A table cell with text, appended to row. */
export function cell(row, text) {
  const td = document.createElement('td');
  td.textContent = text;
  row.appendChild(td);
  return td;
}

/** A small button (type=button) with an accessible name; label is shown, name (optional) is read out. */
export function button(label, className, onclick, name) {
  const b = el('button', { type: 'button', textContent: label, className, onclick });
  if (name) b.setAttribute('aria-label', name);
  return b;
}

/** A date and time in the dashboard's language, or '' for none. */
export function when(iso) {
  return iso ? new Date(iso).toLocaleString(document.documentElement.lang || undefined) : '';
}

/** Call /api/v1: the JSON answer, or an Error with the server's message, code and status. */
export async function api(method, path, body) {
  const resp = await fetch('/api/v1' + path, {
    method, credentials: 'same-origin',
    headers: body ? { 'Content-Type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = resp.status === 204 || resp.status === 202 && !resp.headers.get('Content-Type')
    ? null : await resp.json().catch(() => null);
  if (!resp.ok) {
    const e = new Error(data && data.error ? data.error.message : `HTTP ${resp.status}`);
    e.code = data && data.error ? data.error.code : 'http'; e.status = resp.status;
    throw e;
  }
  return data;
}

/** Show text in a status or alert element (hidden when empty). */
export function say(id, text) {
  const e = $(id);
  e.textContent = text || '';
  if (e.classList.contains('notice')) e.hidden = !text;
}
