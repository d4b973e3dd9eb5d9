// Joining: the join form, the connection, the lobby (R-AUTO-1's start time), the waiting room, entering the room
// (subscribe, publish when a speaker or in a meeting) and leaving it (R-STAT-3).
import { MediaserverClient } from '/sdk/mediaserver.js';
import { applyI18n, language, t } from '/static/i18n.js';
import { ask, loadRoom, renderAccess } from './access.js';
import { startTimeline } from './automated.js';
import { fillDevices } from './devices.js';
import { $, fail, formatId, normaliseId, show } from './dom.js';
import { wire } from './events.js';
import { publishWhenAllowed, stopLocal } from './publish.js';
import { showRegistration } from './register.js';
import { applyLanguage, renderAll, renderHeader } from './render.js';
import { goTo, setScreen, showError, showJoinError, showOver } from './screens.js';
import { hostKey, linkToken, mobile, page, presenterKey, remote, roomIdFromUrl, S, syncState } from './state.js';

export async function submitJoin(ev) {
  if (ev) ev.preventDefault();
  const id = normaliseId($('#join-id').value);
  const name = $('#join-name').value.trim();
  const email = $('#join-email').value.trim();
  show($('#join-error'), false);
  if (!/^\d{9}$/.test(id)) { showJoinError('invalid_id'); $('#join-id').focus(); return; }
  if (!name || name.length > 64) { showJoinError('invalid_name'); $('#join-name').focus(); return; }
  if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) { showJoinError('invalid_email'); $('#join-email').focus(); return; }
  const paid = !!S.event && S.event.access === 'paid';
  const password = $('#join-password-box').hidden ? '' : $('#join-password').value;
  const typed = $('#join-token-box').hidden ? '' : $('#join-token').value.trim();
  const token = typed || linkToken;
  if (!$('#join-password-box').hidden && !password) { showJoinError('password_required'); $('#join-password').focus(); return; }
  if (!$('#join-token-box').hidden && !token) {
    showJoinError(paid ? 'ticket_required' : 'token_required');
    $('#join-token').focus();
    return;
  }
  try { localStorage.setItem('ms.person', JSON.stringify({ name, email })); } catch { /* private mode */ }
  const button = $('#join-submit');
  button.disabled = true;
  try {
    if (id !== S.roomId || !S.room) {
      if (!(await loadRoom(id))) return;
      if (id !== roomIdFromUrl()) history.replaceState(null, '', `/room/${id}${location.search}`);
    }
    let grant;
    try {
      grant = await MediaserverClient.joinRoom(location.origin, id,
        { name, email, hostKey, presenterKey, password: password || undefined, token });
    } catch (e) {
      if (e.code === 'ended') { showOver(S.event ? 'event' : 'session'); return; }
      if (e.code === 'on_demand') { showOver('on_demand'); return; }
      if (e.code === 'not_started') { showOver('failed'); return; }
      if (e.code === 'registration_required') { showRegistration(); return; }
      if (e.code === 'password_required') {        // R-ROOM-6: say whether it was wrong or missing; retry
        ask.password = true;
        renderAccess();
        showJoinError(password ? 'bad_password' : 'password_required', e.message);
        $('#join-password').select();
        $('#join-password').focus();
        return;
      }
      if (e.code === 'token_required' || e.code === 'bad_token') {
        ask.token = true;                         // a wrong link token: let the person type theirs
        renderAccess();
        showJoinError(e.code === 'token_required' && paid ? 'ticket_required' : e.code, e.message);
        $('#join-token').focus();
        return;
      }
      showJoinError(e.code === 'forbidden' && (hostKey || presenterKey) ? 'bad_key' : e.code || 'network', e.message);
      return;
    }
    S.thankYouUrl = grant.thankYouUrl || null;
    S.ratingToken = grant.ratingToken || null;  // R-STAT-1: the thank-you screen's rating form
    if (grant.room) { S.room = { ...(S.room || {}), ...grant.room }; applyLanguage(S.room.language); }
    S.role = grant.role;
    S.joinToken = grant.token;                  // an automated event's timeline is asked for with it
    await connect(grant.token);
  } finally {
    button.disabled = false;
  }
}

async function connect(token) {
  page.leaving = false;
  page.subscribed = false;
  remote.clear();
  page.client = window.roomClient = new MediaserverClient(location.origin);
  wire(page.client);
  let info;
  try {
    info = await page.client.join(token, { device: mobile ? 'mobile' : 'desktop' });
  } catch (e) {
    const code = e.code || 'network';
    if (code === 'ended') { showOver(S.event ? 'event' : 'session'); return; }
    if (code === 'locked' || code === 'not_found') { setScreen('join'); showJoinError(code, e.message); return; }
    if (code === 'not_on_mobile') {             // a host or presenter on a phone (R-INT-5): the attendee link, if any
      setScreen('join');
      showJoinError('staff_on_mobile');
      show($('#join-as'), false);                 // the error says it now
      if (hostKey || presenterKey) offerAttendeeLink();   // an invitation's own token has no attendee twin
      return;
    }
    showError(code, e.message);
    return;
  }
  S.error = null;
  if (info.device === 'mobile') {       // the server found a phone or tablet the page took for a computer
    S.mobile = true;
    document.body.classList.add('mobile');
  }
  S.room = page.client.room;
  if (page.client.room && page.client.room.language) applyLanguage(page.client.room.language);
  syncState();
  afterStatus(info.participant.status || 'joined');
}

/** A host or presenter link opened on a phone: the same room as an attendee (R-MEDIA-1, R-INT-5). */
export function offerAttendeeLink() {
  const q = new URLSearchParams(location.search);
  q.delete('host');
  q.delete('presenter');
  q.delete('autojoin');
  const a = $('#join-as-attendee');
  a.href = `/room/${S.roomId || roomIdFromUrl()}${q.toString() ? `?${q}` : ''}`;
  show(a, true);
}

export function afterStatus(status) {
  syncState();
  if (status === 'lobby') renderLobby();
  else if (status === 'waiting') setScreen('waiting');
  else enterRoom();
  renderAll();
}

export function renderLobby() {
  const r = S.room || {};
  $('#lobby-name').textContent = r.name || formatId(r.id || S.roomId || '');
  $('#lobby-agenda').textContent = r.agenda || '';
  show($('#lobby-agenda-box'), !!r.agenda);
  $('#lobby-message').textContent = r.message || '';
  show($('#lobby-message'), !!r.message);
  // R-AUTO-1: an automated event starts by itself at its time (attendees must come on time)
  const auto = S.event && S.event.kind === 'automated' && S.event.startsAt;
  $('#lobby-auto').dataset.i18n = auto ? 'lobby.automated' : 'lobby.auto';
  $('#lobby-starts').textContent = auto ? t('lobby.startsAt', { when: new Date(S.event.startsAt).toLocaleString(language()) }) : '';
  show($('#lobby-starts'), !!auto);
  applyI18n();
  setScreen('lobby');
}

let seatPoll = null;
function pollSeats() {
  clearInterval(seatPoll);
  const tick = async () => {
    if (S.screen !== 'room' || !S.roomId) { clearInterval(seatPoll); return; }
    try {
      const info = await MediaserverClient.roomInfo(location.origin, S.roomId);
      if (typeof info.participants === 'number') { S.seated = info.participants; renderHeader(); }
    } catch { /* the next tick will tell */ }
  };
  tick();
  seatPoll = setInterval(tick, 15000);
}

async function enterRoom() {
  setScreen('room');
  pollSeats();
  renderAll();
  page.client.startSpeakerDetection();
  if (S.event && S.event.kind === 'automated') startTimeline();
  if (!S.webrtc) return;                        // the stage says this browser has no WebRTC (grid.js)
  await ensureSubscribed();
  const speaker = S.role === 'host' || S.role === 'presenter' || page.client.participant.floor;
  const meeting = S.room && S.room.type === 'meeting';   // in a meeting everyone comes in with camera and mic
  if (page.client.participant && page.client.participant.canPublish && (speaker || meeting)) {
    await publishWhenAllowed();
  }
  await fillDevices();
}

export async function ensureSubscribed() {
  if (!page.client || page.subscribed || S.screen !== 'room' || !S.webrtc) return;
  try {
    const got = await page.client.subscribe();
    page.subscribed = got || page.subscribed;
    if (!got) page.subscribed = true;   // the receiving connection is ready; the server offers with the first track
  } catch (e) {
    if (e.code === 'forbidden' || e.code === 'not_admitted') return;   // presenters-only mode: nothing to receive
    fail(e);
  }
}

export async function leave() {
  const wasIn = S.screen === 'room';           // leaving the lobby or the waiting room is not "after the event"
  page.leaving = true;
  stopLocal();
  if (page.client) await page.client.leave();
  S.error = null;
  if (S.event && S.role !== 'host') {          // R-STAT-3: leaving an event leads to its thank-you page
    syncState();
    setScreen('left');
    goTo(wasIn ? S.thankYouUrl : null, 'left');
    return;
  }
  const note = $('#join-note');
  note.dataset.i18n = S.role === 'host' ? 'join.leftHost' : 'join.left';
  note.textContent = t(note.dataset.i18n);
  show(note, true);
  setScreen('join');
  syncState();
}
