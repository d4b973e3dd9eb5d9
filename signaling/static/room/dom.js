// Small DOM helpers for the room page: selectors, element building, ID formatting, avatars' initials and hue,
// the toast and the way a refusal is told (fail).
import { errorText } from '/static/i18n.js';

export const $ = (sel) => document.querySelector(sel);
export const $$ = (sel) => [...document.querySelectorAll(sel)];

export function normaliseId(s) { return String(s || '').replace(/[\s-]/g, ''); }
export function formatId(id) { return /^\d{9}$/.test(id) ? `${id.slice(0, 3)} ${id.slice(3, 6)} ${id.slice(6)}` : id; }
export function initials(name) {
  const parts = String(name || '?').trim().split(/\s+/).filter(Boolean);
  const s = parts.length > 1 ? parts[0][0] + parts[parts.length - 1][0] : (parts[0] || '?').slice(0, 2);
  return s.toUpperCase();
}
export function hue(s) { let h = 0; for (const c of String(s)) h = (h * 31 + c.charCodeAt(0)) % 360; return h; }
export function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}
export function show(node, on) { if (node) node.hidden = !on; }

let toastTimer = null;
export function toast(message, kind = 'info') {
  const box = $('#toast');
  box.textContent = message;
  box.className = `toast ${kind}`;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, kind === 'error' ? 7000 : 4500);
}
// Refusals whose reason depends on the account (its plan's limits, R-ACC-1, R-MEDIA-5; its other live event,
// R-ROOM-5): the server's message names the numbers and the way out, which a fixed text cannot.
const SERVER_EXPLAINS = new Set(['live_event_running', 'plan_limit', 'presenter_seats_full',
  'too_many_for_discussion', 'trial_expired']);
export function explain(code, message) {
  return SERVER_EXPLAINS.has(code) && message ? message : errorText(code, message);
}
export function fail(e, prefix) {
  const code = e && e.code ? e.code : (e && e.name) || 'unknown';
  const text = explain(code, e && e.message);
  console.warn(prefix || 'room:', code, e && e.message);
  toast(text, 'error');
  return code;
}
