// Loading the room and its event, and what an event asks before joining (R-ROOM-6: password, personal token or
// ticket; R-ROOM-9: registration). A finished or on-demand event shows its page instead of the form (R-ROOM-4).
import { MediaserverClient } from '/sdk/mediaserver.js';
import { t } from '/static/i18n.js';
import { applyBranding } from '/static/branding.js';
import { $, formatId, show } from './dom.js';
import { applyLanguage } from './render.js';
import { showJoinError, showOver } from './screens.js';
import { hostKey, linkToken, presenterKey, S } from './state.js';
import { renderBuy, resumeOrder } from './tickets.js';

export async function loadRoom(id) {
  S.roomId = id;
  $('#join-id').value = formatId(id);
  try {
    const info = await MediaserverClient.roomInfo(location.origin, id);
    S.room = info;
    S.error = null;
    S.event = info.event ? await loadEvent(id) : null;     // a plain room has no event to ask about
    applyBranding(S.event && S.event.branding);            // R-ROOM-11: logo, colours, backgrounds
    applyLanguage(info.language);
    $('#join-room-name').textContent = info.name ? info.name : '';
    if (S.event) {
      // An event's own state decides (a permanent event's room may have ended while the event waits for its
      // next session): over or on demand, a clear message instead of a form (R-ROOM-4).
      if (S.event.status === 'done') { showOver('event'); return false; }
      if (S.event.kind === 'on_demand') { showOver('on_demand'); return false; }
      if (S.event.status === 'failed') { showOver('failed'); return false; }     // an automated start that failed
    } else if (info.state === 'ended') { showOver('session'); return false; }
    renderAccess();
    resumeOrder();
    if (info.locked && !hostKey) showJoinError('locked');
    return true;
  } catch (e) {
    S.room = null;
    applyLanguage(null);
    showJoinError(e.code === 'not_found' ? 'not_found' : e.code || 'network', e.message);
    return false;
  }
}

// What an event asks before joining: GET /api/v1/public/events/{id} (no secrets); null for a plain room.
async function loadEvent(id) {
  if (!/^\d{9}$/.test(id)) return null;
  try {
    return await MediaserverClient.eventInfo(location.origin, id);
  } catch (e) {
    if (e.code !== 'not_found') console.warn('room: no event info:', e.code, e.message);
    return null;
  }
}

// R-ROOM-6: the password field, the personal token (or ticket) field unless the link carries the token, and a
// line saying what the event needs. Hosts and presenters come with their own keys and are asked nothing more.
export const ask = { password: false, token: false };
export function renderAccess() {
  const ev = S.event;
  const guest = !hostKey && !presenterKey;
  const access = ev && guest ? ev.access : 'open';
  const personal = access === 'token' || access === 'paid';
  show($('#join-password-box'), access === 'password' || ask.password);
  show($('#join-token-box'), (personal && !linkToken) || ask.token);
  show($('#join-token-link'), personal && !!linkToken && !ask.token);
  $('#join-token-label').dataset.i18n = access === 'paid' ? 'join.ticket' : 'join.token';
  const lines = [];
  const key = { password: 'join.accessPassword', token: 'join.accessToken', paid: 'join.accessPaid' }[access];
  if (key) lines.push(t(key, { price: ev.ticketPrice || '', currency: ev.ticketCurrency || '' }));
  if (ev && guest && !linkToken && ev.registration && ev.registration.enabled) lines.push(t('join.accessRegistration'));
  const note = $('#join-access');
  note.textContent = lines.join(' ');
  show(note, lines.length > 0);
  renderBuy();
}
