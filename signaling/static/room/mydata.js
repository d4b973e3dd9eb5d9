// The "my data" panel: the room's link, ID, PIN, creation time and clock; for the host the host link; the embed code.
import { embedSnippet } from '/sdk/embed.js';
import { language } from '/static/i18n.js';
import { $, $$, formatId, show } from './dom.js';
import { hostKey, page, S } from './state.js';

export function renderMyData() {
  const r = S.room || {};
  const id = r.id || S.roomId || '';
  const link = `${location.origin}/room/${id}`;
  const a = $('#md-link');
  a.textContent = link;
  a.href = link;
  $('#md-id').textContent = formatId(id);
  $('#md-pin').textContent = r.pin || (stored(id) || {}).pin || '—';
  $('#md-created').textContent = r.createdAt ? new Date(r.createdAt).toLocaleString(language()) : '—';
  $('#md-now').textContent = new Date().toLocaleString(language());
  const host = S.role === 'host';
  for (const e of $$('#panel-mydata .host-only')) show(e, host);
  if (host) {
    const key = hostKey || (stored(id) || {}).hostKey;
    const hl = key ? `${link}?host=${encodeURIComponent(key)}` : '';
    $('#md-host-link').textContent = hl || '—';
    $('#md-host-link').href = hl || '#';
  }
  const embed = $('#md-embed');
  const snippet = embedSnippet(location.origin, id, { width: '100%', height: 600 });
  if (embed.value !== snippet) embed.value = snippet;
}

function stored(id) {
  try { return JSON.parse(localStorage.getItem(`ms.room.${id}`) || 'null'); } catch { return null; }
}

// The panel's clock ticks while it is open.
export function startClock() {
  setInterval(() => { if (page.openPanel === 'mydata') $('#md-now').textContent = new Date().toLocaleString(language()); }, 1000);
}
