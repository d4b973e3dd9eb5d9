// Rendering the whole page: the language (R-ROOM-14), the header (name, type, lock, REC, LIVE, head count) and
// renderAll, which redraws every part of the current screen.
import { applyI18n, setLanguage, t } from '/static/i18n.js';
import { renderAccess } from './access.js';
import { renderAvatarControl } from './devices.js';
import { $, formatId, show } from './dom.js';
import { renderMedia } from './grid.js';
import { renderHostPanel } from './host.js';
import { renderInteraction } from './interact.js';
import { renderMyData } from './mydata.js';
import { renderPeople } from './people.js';
import { renderToolbar } from './publish.js';
import { langOverride, page, S } from './state.js';

export function applyLanguage(lang) {
  setLanguage(langOverride || lang || 'en');
  document.title = S.room && S.room.name ? `${S.room.name} — ${t('app.room')}` : t('app.room');
  renderAll();
}

export function renderHeader() {
  const r = S.room || {};
  $('#room-name').textContent = r.name || (r.id ? `${t('app.room')} ${formatId(r.id)}` : '');
  const type = $('#room-type');
  type.textContent = r.type ? t(`type.${r.type}`) : '';
  show(type, !!r.type);
  show($('#room-lock'), !!r.locked);
  show($('#room-rec'), !!r.recording);          // R-REC-1: the blinking red REC indicator
  show($('#room-live'), !!r.streaming);         // R-REC-6: the blinking LIVE indicator
  const count = $('#people-count');
  if (S.screen === 'room' && page.client) {
    // Webinar attendees are not told of each other: the count comes from the room's info (polled).
    const n = Math.max(page.client.participants.size, typeof S.seated === 'number' ? S.seated : 0);
    count.textContent = r.capacity ? t('room.count', { n, cap: r.capacity }) : String(n);
    show(count, true);
  } else show(count, false);
}

export function renderAll() {
  if (S.screen === 'join') renderAccess();
  applyI18n();
  renderHeader();
  if (S.screen !== 'room' || !page.client) return;
  renderToolbar();
  renderMedia();
  renderPeople();
  renderHostPanel();
  renderInteraction();
  renderMyData();
  renderAvatarControl();
}
