// The room page: join form, lobby, waiting room, the call itself and the host's controls, on the SDK.
// Room ID from /room/<id> or ?id=; ?host=<key> (or ?presenter=<key>) joins with that role; ?lang=en|ru
// overrides the room's language; ?name=&email=&autojoin=1 joins without the form (embeds, tests).
// An event's room asks for what the event needs (R-ROOM-6: password, personal token or ticket, ?token= from the
// invitation link; R-ROOM-9: the registration form) and, after it, sends people to its thank-you page (R-STAT-3).
import { MediaserverClient, MediaserverError } from '/sdk/mediaserver.js';
import { embedSnippet } from '/sdk/embed.js';
import { applyI18n, errorText, language, setLanguage, t } from '/static/i18n.js';
import { applyBranding } from '/static/branding.js';
import { TimelinePlayer } from '/static/timeline.js';

const $ = (sel) => document.querySelector(sel);
const $$ = (sel) => [...document.querySelectorAll(sel)];
const query = new URLSearchParams(location.search);
const langOverride = ['en', 'ru'].includes(query.get('lang')) ? query.get('lang') : null;
const hostKey = query.get('host') || undefined;
const presenterKey = query.get('presenter') || undefined;
const linkToken = query.get('token') || undefined;        // R-ROOM-6: the invitation link's personal token
const mobile = MediaserverClient.isMobile() || query.get('device') === 'mobile';

// Everything the tests (and a curious developer) may read.
const S = window.roomState = {
  screen: 'join', error: null, role: null, status: null, tracks: [], participants: [], audioMode: null,
  roomId: null, room: null, self: null, activeSpeaker: null, publishing: false, sharing: false,
  muted: { audio: false, video: false }, mobile,
  event: null, thankYouUrl: null, redirect: null, order: null, buyError: null,
  timeline: null,                // an automated event's playback (R-AUTO-1): position, component, currentTime...
};

let client = null;
let localStream = null;          // camera + microphone being sent
let screenStream = null;
let leaving = false;
let subscribed = false;
const remote = new Map();        // track id -> {track, stream}
const tiles = new Map();         // tile key -> element
let openPanel = null;

// ---------- small helpers ----------

function normaliseId(s) { return String(s || '').replace(/[\s-]/g, ''); }
function formatId(id) { return /^\d{9}$/.test(id) ? `${id.slice(0, 3)} ${id.slice(3, 6)} ${id.slice(6)}` : id; }
function initials(name) {
  const parts = String(name || '?').trim().split(/\s+/).filter(Boolean);
  const s = parts.length > 1 ? parts[0][0] + parts[parts.length - 1][0] : (parts[0] || '?').slice(0, 2);
  return s.toUpperCase();
}
function hue(s) { let h = 0; for (const c of String(s)) h = (h * 31 + c.charCodeAt(0)) % 360; return h; }
function el(tag, props = {}, ...children) {
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
function show(node, on) { if (node) node.hidden = !on; }

let toastTimer = null;
function toast(message, kind = 'info') {
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
function explain(code, message) {
  return SERVER_EXPLAINS.has(code) && message ? message : errorText(code, message);
}
function fail(e, prefix) {
  const code = e && e.code ? e.code : (e && e.name) || 'unknown';
  const text = explain(code, e && e.message);
  console.warn(prefix || 'room:', code, e && e.message);
  toast(text, 'error');
  return code;
}

function setScreen(name) {
  S.screen = name;
  for (const s of ['join', 'register', 'lobby', 'waiting', 'room', 'ended', 'left', 'removed', 'error']) {
    show($(`#screen-${s}`), s === name);
  }
  document.body.dataset.screen = name;        // also picks the screen's branded background (room.css)
  if (name !== 'room') stopTimeline();
  if (name !== 'room') {
    closePanel();
    $('#toast').hidden = true;
  }
}

function syncState() {
  if (!client) return;
  S.self = client.participant ? { ...client.participant } : null;
  S.role = S.self ? S.self.role : S.role;
  S.status = S.self ? S.self.status : S.status;
  S.room = client.room ? { ...client.room } : S.room;
  S.audioMode = S.room ? S.room.audioMode || null : null;
  S.participants = [...client.participants.values()].map((p) => ({ ...p }));
  S.tracks = [...client.tracks.values()].map((tr) => ({ ...tr, receiving: remote.has(tr.id) }));
  S.muted = { ...client.muted };
  S.publishing = client.publications.length > 0;
  S.sharing = client.sharingScreen;
}

// ---------- room info, language, header ----------

function roomIdFromUrl() {
  const m = /\/room\/([^/?#]+)/.exec(location.pathname);
  return normaliseId(m ? decodeURIComponent(m[1]) : query.get('id') || '');
}

function applyLanguage(lang) {
  setLanguage(langOverride || lang || 'en');
  document.title = S.room && S.room.name ? `${S.room.name} — ${t('app.room')}` : t('app.room');
  renderAll();
}

function renderHeader() {
  const r = S.room || {};
  $('#room-name').textContent = r.name || (r.id ? `${t('app.room')} ${formatId(r.id)}` : '');
  const type = $('#room-type');
  type.textContent = r.type ? t(`type.${r.type}`) : '';
  show(type, !!r.type);
  show($('#room-lock'), !!r.locked);
  show($('#room-rec'), !!r.recording);          // R-REC-1: the blinking red REC indicator
  show($('#room-live'), !!r.streaming);         // R-REC-6: the blinking LIVE indicator
  const count = $('#people-count');
  if (S.screen === 'room' && client) {
    // Webinar attendees are not told of each other: the count comes from the room's info (polled).
    const n = Math.max(client.participants.size, typeof S.seated === 'number' ? S.seated : 0);
    count.textContent = r.capacity ? t('room.count', { n, cap: r.capacity }) : String(n);
    show(count, true);
  } else show(count, false);
}

async function loadRoom(id) {
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
const ask = { password: false, token: false };
function renderAccess() {
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

// ---------- buying a ticket to a paid event (R-BILL-10) ----------
// The person orders through POST /api/v1/public/events/{roomId}/tickets and the page follows the order with the
// payer's own key (GET /api/v1/public/tickets/{id}?key=), kept in localStorage so a reload still shows it. The
// ticket's token is never in these answers: it comes only by e-mail, and the person types it into the ticket field.
const ORDER_POLL_MS = 3000;
const ORDER_POLL_MAX = 600;            // 30 minutes of checking by itself; then the "check" button
const EMAIL_RE = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const ORDER_FIELDS = ['id', 'status', 'reason', 'reference', 'amount', 'currency', 'eventName', 'decidedAt'];
let buyOpen = false;
let orderTimer = null;
let orderPolls = 0;

function orderStore() { return `ms.ticketOrder.${S.roomId}`; }
function savedOrder() {
  try {
    const o = JSON.parse(localStorage.getItem(orderStore()) || 'null');
    return o && o.id && o.key ? o : null;
  } catch { return null; }
}
function saveOrder(o) { try { localStorage.setItem(orderStore(), JSON.stringify(o)); } catch { /* private mode */ } }
function forgetOrder() { try { localStorage.removeItem(orderStore()); } catch { /* private mode */ } }
// What the page (and window.roomState) shows of the order: everything but the key.
function showOrder(kept) {
  if (!kept) { S.order = null; return; }
  const shown = { ...kept, polling: orderTimer !== null };
  delete shown.key;
  S.order = shown;
}

function canBuy() {
  const ev = S.event;
  return !!ev && !hostKey && !presenterKey && ev.access === 'paid' && ev.status !== 'done'
    && !$('#join-token-box').hidden;
}

function renderBuy() {
  const o = S.order;
  const can = canBuy();
  show($('#buy-offer'), can && !o);
  show($('#buy'), can && (buyOpen || !!o));
  if (!can) return;
  const ev = S.event;
  $('#buy-price').textContent = t('buy.price', { price: ev.ticketPrice || '', currency: ev.ticketCurrency || '' });
  show($('#buy-form'), !o);
  show($('#order'), !!o);
  if (!o) return;
  const open = o.status === 'pending' || o.status === 'failed';
  const status = $('#order-status');
  status.dataset.status = o.status;
  status.className = `notice${{ paid: ' ok', pending: '' }[o.status] ?? ' bad'}`;
  status.textContent = t(`order.${o.status}`, {
    amount: o.amount, currency: o.currency, email: o.email,
    reason: o.reason ? t('order.reason', { reason: o.reason.replace(/[.\s]+$/, '') }) : '' });
  show($('#order-pay'), open && !!(o.instructions || o.payUrl));
  $('#order-instructions').textContent = o.instructions || '';
  show($('#order-instructions'), !!o.instructions);
  show($('#order-pay-link-box'), !!o.payUrl && /^https?:\/\//i.test(o.payUrl));
  $('#order-pay-link').href = o.payUrl && /^https?:\/\//i.test(o.payUrl) ? o.payUrl : '#';
  $('#order-reference-label').textContent = t(open ? 'order.reference' : 'order.referenceOf');
  $('#order-reference').textContent = o.reference || '';
  const notes = [];
  if (o.status === 'pending') notes.push(t('order.pendingNote', { email: o.email }));
  if (open && !o.polling) notes.push(t('order.stopped'));
  if (o.status === 'refused' || o.status === 'cancelled') notes.push(t('order.refundNote'));
  $('#order-note').textContent = notes.join(' ');
  show($('#order-note'), notes.length > 0);
  show($('#order-check'), open);
  show($('#order-new'), ['failed', 'refused', 'cancelled'].includes(o.status));
}

function buyError(code, message) {
  S.buyError = code;
  const p = $('#buy-error');
  p.textContent = code === 'bad_request' ? t('buy.badRequest') : code === 'gone' ? t('order.gone')
    : code === 'missing_name' ? t('buy.missingName') : errorText(code, message);
  p.dataset.code = code;
  show(p, true);
}

function openBuy() {
  buyOpen = true;
  if (!$('#buy-name').value) $('#buy-name').value = $('#join-name').value.trim();
  if (!$('#buy-email').value) $('#buy-email').value = $('#join-email').value.trim();
  renderBuy();
  $(S.order ? '#order-status' : ($('#buy-name').value ? '#buy-email' : '#buy-name')).focus();
}

async function submitBuy(e) {
  if (e) e.preventDefault();
  const name = $('#buy-name').value.trim();
  const email = $('#buy-email').value.trim();
  S.buyError = null;
  show($('#buy-error'), false);
  if (!name) { buyError('missing_name'); $('#buy-name').focus(); return; }
  if (!EMAIL_RE.test(email)) { buyError('invalid_email'); $('#buy-email').focus(); return; }
  const button = $('#buy-submit');
  button.disabled = true;
  try {
    const o = await MediaserverClient.buyTicket(location.origin, S.roomId, { name, email, language: language() });
    const kept = { key: o.key, email: email.toLowerCase(), name, instructions: o.instructions || '',
      payUrl: o.payUrl || null };
    for (const f of ORDER_FIELDS) kept[f] = o[f];
    saveOrder(kept);
    // the ticket's token opens the event only with the address it is sent to
    if (!$('#join-name').value.trim()) $('#join-name').value = name;
    $('#join-email').value = kept.email;
    startOrderPolling(kept);
    $('#order-status').focus();
  } catch (err) {
    buyError(err.code || 'network', err.message);
  } finally {
    button.disabled = false;
  }
}

function stopOrderPolling() {
  clearTimeout(orderTimer);
  orderTimer = null;
}

function startOrderPolling(kept) {
  stopOrderPolling();
  orderPolls = 0;
  if (kept.status === 'pending' || kept.status === 'failed') orderTimer = setTimeout(checkOrder, ORDER_POLL_MS);
  showOrder(kept);
  renderBuy();
}

async function checkOrder() {
  stopOrderPolling();
  const kept = savedOrder();
  if (!kept) { showOrder(null); renderBuy(); return; }
  const was = kept.status;
  try {
    const o = await MediaserverClient.ticketOrder(location.origin, kept.id, kept.key);
    for (const f of ORDER_FIELDS) kept[f] = o[f];
    saveOrder(kept);
  } catch (e) {
    if (e.code === 'not_found') {           // the order is gone (or its key no longer opens it): order again
      forgetOrder();
      showOrder(null);
      buyOpen = true;
      renderBuy();
      buyError('gone');
      return;
    }
    console.warn('room: ticket order:', e.code, e.message);     // the network: try again on the next round
  }
  const open = kept.status === 'pending' || kept.status === 'failed';
  if (open && S.screen === 'join' && ++orderPolls < ORDER_POLL_MAX) orderTimer = setTimeout(checkOrder, ORDER_POLL_MS);
  showOrder(kept);
  renderBuy();
  if (kept.status === 'paid' && was !== 'paid') ticketPaid(kept);
}

// Paid: the ticket was e-mailed. The person types its code into the ticket field with the order's address.
function ticketPaid(kept) {
  if (kept.email) $('#join-email').value = kept.email;
  if (!$('#join-name').value.trim() && kept.name) $('#join-name').value = kept.name;
  show($('#join-error'), false);
  $('#join-token').focus();
}

function newOrder() {
  stopOrderPolling();
  forgetOrder();
  showOrder(null);
  buyOpen = true;
  renderBuy();
  $('#buy-name').focus();
}

// A reload (or coming back later) shows the order kept for this room and follows it again.
function resumeOrder() {
  const kept = savedOrder();
  if (!kept || !canBuy()) return;
  buyOpen = true;
  startOrderPolling(kept);
  if (kept.status === 'paid') ticketPaid(kept);
  checkOrder();
}

// The page after the event: the session ended, the event is over, or it is on demand (R-ROOM-4, -13).
const OVER = {
  session: ['ended.title', 'ended.text', 'ended'],
  event: ['over.title', 'over.text', 'ended'],
  on_demand: ['ondemand.title', 'ondemand.text', 'on_demand'],
  failed: ['failed.title', 'failed.text', 'not_started'],
};
function showOver(kind, thankYouUrl) {
  const [title, text, code] = OVER[kind];
  $('#ended-title').dataset.i18n = title;
  $('#ended-text').dataset.i18n = text;
  S.error = code;
  S.over = kind;
  setScreen('ended');
  applyI18n();
  goTo(thankYouUrl, 'ended');
}

// R-STAT-3 (thank-you page) and R-ROOM-9 (the page after registering): any http(s) URL the organiser set; the
// screen says where the person goes, then the browser goes there.
function goTo(url, where) {
  const ok = typeof url === 'string' && /^https?:\/\//i.test(url);
  show($(`#${where}-redirect`), ok);
  if (!ok) return false;
  const a = $(`#${where}-redirect-link`);
  a.href = url;
  a.textContent = url;
  S.redirect = url;
  setTimeout(() => location.assign(url), 800);
  return true;
}

function showJoinError(code, message) {
  S.error = code;
  const p = $('#join-error');
  p.textContent = errorText(code, message);
  p.dataset.code = code;
  show(p, true);
}

// ---------- joining ----------

async function submitJoin(ev) {
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
    if (grant.room) { S.room = { ...(S.room || {}), ...grant.room }; applyLanguage(S.room.language); }
    S.role = grant.role;
    S.joinToken = grant.token;                  // an automated event's timeline is asked for with it
    await connect(grant.token);
  } finally {
    button.disabled = false;
  }
}

async function connect(token) {
  leaving = false;
  subscribed = false;
  remote.clear();
  client = window.roomClient = new MediaserverClient(location.origin);
  wire(client);
  let info;
  try {
    info = await client.join(token, { device: mobile ? 'mobile' : 'desktop' });
  } catch (e) {
    const code = e.code || 'network';
    if (code === 'ended') { showOver(S.event ? 'event' : 'session'); return; }
    if (code === 'locked' || code === 'not_found') { setScreen('join'); showJoinError(code, e.message); return; }
    showError(code, e.message);
    return;
  }
  S.error = null;
  S.room = client.room;
  if (client.room && client.room.language) applyLanguage(client.room.language);
  syncState();
  afterStatus(info.participant.status || 'joined');
}

function afterStatus(status) {
  syncState();
  if (status === 'lobby') renderLobby();
  else if (status === 'waiting') setScreen('waiting');
  else enterRoom();
  renderAll();
}

function renderLobby() {
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

function showError(code, message) {
  S.error = code;
  $('#error-text').textContent = explain(code, message);
  setScreen('error');
  stopLocal();
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
  client.startSpeakerDetection();
  if (S.event && S.event.kind === 'automated') startTimeline();
  await ensureSubscribed();
  const speaker = S.role === 'host' || S.role === 'presenter' || client.participant.floor;
  const meeting = S.room && S.room.type === 'meeting';   // in a meeting everyone comes in with camera and mic
  if (client.participant && client.participant.canPublish && (speaker || meeting)) {
    await startPublishing();
  }
  await fillDevices();
}

async function ensureSubscribed() {
  if (!client || subscribed || S.screen !== 'room') return;
  try {
    const got = await client.subscribe();
    subscribed = got || subscribed;
    if (!got) subscribed = true;   // the receiving connection is ready; the server offers with the first track
  } catch (e) {
    if (e.code === 'forbidden' || e.code === 'not_admitted') return;   // presenters-only mode: nothing to receive
    fail(e);
  }
}

// ---------- an automated event's timeline (R-ROOM-4, R-AUTO-1) ----------
// The stage plays the timeline from signed /play URLs (timeline.js), everyone at the same position; when it has
// played, the person goes to the thank-you screen and page as when a host ends a session (R-STAT-3).
let player = null;

function startTimeline() {
  if (player || !S.joinToken) return;
  player = new TimelinePlayer({
    box: $('#auto-stage'), roomId: S.roomId, token: S.joinToken, text: t,
    onChange: (state) => { S.timeline = { ...state }; },
    onEnd: (data) => {
      player = null;
      if (S.screen !== 'room') return;
      leaving = true;
      stopLocal();
      syncState();
      showOver('session', S.role !== 'host' ? (S.thankYouUrl || (data && data.thankYouUrl)) : null);
      if (client) client.leave();
    },
  });
  player.start().catch((e) => console.warn('timeline:', e));
}

function stopTimeline() {
  if (!player) return;
  player.stop();
  player = null;
}

// ---------- registration (R-ROOM-9) ----------

const DEFAULT_FIELDS = ['firstName', 'lastName', 'email'];
let regPerson = null;

function regLabel(f) { return DEFAULT_FIELDS.includes(f.name) ? t(`reg.${f.name}`) : f.label || f.name; }

function regField(f, value) {
  const id = `reg-${f.name}`;
  const attrs = { id, name: f.name, required: !!f.required, dataset: { field: f.name } };
  const text = regLabel(f) + (f.required ? ' *' : '');
  if (f.type === 'checkbox') {
    return el('label', { class: 'radio', for: id }, el('input', { ...attrs, type: 'checkbox' }), el('span', {}, text));
  }
  let input;
  if (f.type === 'textarea') input = el('textarea', { ...attrs, rows: 3, maxlength: 2000 });
  else if (f.type === 'select') {
    input = el('select', attrs, el('option', { value: '' }, t('reg.choose')),
      ...(f.options || []).map((o) => el('option', { value: o }, o)));
  } else {
    const auto = { firstName: 'given-name', lastName: 'family-name', email: 'email' }[f.name];
    input = el('input', { ...attrs, type: { email: 'email', phone: 'tel' }[f.type] || 'text',
      maxlength: DEFAULT_FIELDS.includes(f.name) ? (f.name === 'email' ? 320 : 120) : 2000, autocomplete: auto });
  }
  if (value) input.value = value;
  return el('div', { class: 'reg-field' }, el('label', { for: id }, text), input);
}

function showRegistration() {
  const form = S.event && S.event.registration;
  if (!form || !form.enabled) { showJoinError('registration_required'); return; }
  const words = $('#join-name').value.trim().split(/\s+/).filter(Boolean);
  const pre = { firstName: words[0] || '', lastName: words.slice(1).join(' '), email: $('#join-email').value.trim() };
  $('#reg-title').textContent = S.event.name || '';
  $('#reg-fields').replaceChildren(...form.fields.map((f) => regField(f, pre[f.name])));
  show($('#reg-error'), false);
  show($('#reg-redirect'), false);
  setScreen('register');
  const empty = $$('#reg-fields input, #reg-fields textarea, #reg-fields select').find((x) => x.type !== 'checkbox' && !x.value);
  (empty || $('#reg-submit')).focus();
}

function regError(text, input) {
  const p = $('#reg-error');
  p.textContent = text;
  show(p, true);
  if (input) input.focus();
}

async function submitRegistration(ev) {
  if (ev) ev.preventDefault();
  const form = S.event.registration;
  const values = {};
  for (const f of form.fields) {
    const input = document.getElementById(`reg-${f.name}`);
    const v = f.type === 'checkbox' ? input.checked : input.value.trim();
    if (f.required && (v === '' || v === false)) { regError(t('reg.missing', { field: regLabel(f) }), input); return; }
    values[f.name] = v;
  }
  if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(values.email)) { regError(t('reg.badEmail'), $('#reg-email')); return; }
  const fields = {};
  for (const f of form.fields) {
    if (!DEFAULT_FIELDS.includes(f.name) && values[f.name] !== '') fields[f.name] = values[f.name];
  }
  show($('#reg-error'), false);
  const button = $('#reg-submit');
  button.disabled = true;
  regPerson = { firstName: values.firstName, lastName: values.lastName, email: values.email };
  try {
    const done = await MediaserverClient.register(location.origin, S.roomId, { ...regPerson, fields });
    registered(done && done.redirectUrl);
  } catch (e) {
    if (e.code === 'already_registered') registered(null);
    else if (e.code === 'ended') showOver('event');
    else regError(e.code === 'bad_request' && e.message ? e.message : errorText(e.code, e.message));
  } finally {
    button.disabled = false;
  }
}

// Registered: the join uses the registered address. If the organiser set a page to go to after registering,
// the person goes there (the server names it; they come back by the event's link, registered); else they join.
function registered(redirectUrl) {
  $('#join-email').value = regPerson.email;
  if (!$('#join-name').value.trim()) $('#join-name').value = `${regPerson.firstName} ${regPerson.lastName}`.slice(0, 64);
  try {
    localStorage.setItem('ms.person', JSON.stringify({ name: $('#join-name').value.trim(), email: regPerson.email }));
  } catch { /* private mode */ }
  if (goTo(redirectUrl, 'reg')) { toast(t('reg.done')); return; }
  setScreen('join');
  toast(t('reg.done'));
  submitJoin();
}

// ---------- publishing ----------

async function openLocal(want) {
  const audioDeviceId = $('#dev-mic').value || undefined;
  const videoDeviceId = $('#dev-camera').value || undefined;
  const quality = $('#dev-quality').value || 'sd';
  const tries = [want, { audio: want.audio, video: false }, { audio: false, video: want.video }];
  let last = null;
  for (const w of tries) {
    if (!w.audio && !w.video) continue;
    try { return await MediaserverClient.openMedia({ ...w, quality, audioDeviceId, videoDeviceId }); } catch (e) { last = e; }
  }
  throw last || new Error('no devices');
}

// Open and send the camera and/or microphone. Adding a kind while already sending the other works too
// (the SDK puts everything on one connection).
async function startPublishing({ audio = true, video = true } = {}) {
  if (!client) return;
  const want = {
    audio: audio && !client.localTracks('microphone').length,
    video: video && !client.localTracks('camera').length,
  };
  if (!want.audio && !want.video) return;
  let stream;
  try {
    stream = await openLocal(want);
  } catch (e) {
    toast(errorText(e.name === 'NotAllowedError' ? 'media_denied' : 'no_devices'), 'error');
    renderAll();
    return;
  }
  for (const kind of ['audio', 'video']) if (stream.getTracks().some((x) => x.kind === kind)) client.muted[kind] = false;
  const publishing = client.publications.length > 0;
  try {
    await client.publish(stream, { videoQuality: $('#dev-quality').value || 'sd' });
  } catch (e) {
    if (e.code === 'camera_limit' && stream.getAudioTracks().length) {
      toast(errorText('camera_limit'), 'error');
      stream.getVideoTracks().forEach((x) => { x.stop(); stream.removeTrack(x); });
      try { await client.publish(stream); } catch (e2) { fail(e2); stream.getTracks().forEach((x) => x.stop()); stream = null; }
    } else {
      fail(e);
      stream.getTracks().forEach((x) => x.stop());
      stream = null;
    }
  }
  if (stream) {
    if (publishing && localStream) stream.getTracks().forEach((x) => localStream.addTrack(x));
    else localStream = stream;
  }
  syncState();
  renderAll();
}

function stopLocal() {
  if (localStream) localStream.getTracks().forEach((x) => x.stop());
  localStream = null;
  if (screenStream) screenStream.getTracks().forEach((x) => x.stop());
  screenStream = null;
}

async function toggle(kind) {
  if (!client || !client.participant) return;
  const sending = client.localTracks(kind === 'audio' ? 'microphone' : 'camera').length > 0;
  if (!sending) {
    if (!client.participant.canPublish) { toast(errorText('forbidden'), 'error'); return; }
    await startPublishing({ audio: kind === 'audio', video: kind === 'video' });
    return;
  }
  try {
    await client.mute(kind, !client.muted[kind]);
  } catch (e) { fail(e); }
  syncState();
  renderAll();
}

async function toggleScreen(ev) {
  if (!client) return;
  if (client.sharingScreen) {
    await client.stopScreen();
    screenStream = null;
    syncState();
    renderAll();
    return;
  }
  const menu = $('#screen-menu');
  if (!menu.hidden) { menu.hidden = true; return; }
  const r = ev.currentTarget.getBoundingClientRect();
  menu.style.left = `${Math.max(8, Math.min(window.innerWidth - 288, r.left + r.width / 2 - 140))}px`;
  menu.hidden = false;
}

async function shareScreen(quality) {
  $('#screen-menu').hidden = true;
  try {
    screenStream = await client.shareScreen(quality);
  } catch (e) {
    if (e.name === 'NotAllowedError' || e.name === 'AbortError') return;   // the user cancelled the picker
    fail(e);
  }
  syncState();
  renderAll();
}

// ---------- devices ----------

async function fillDevices() {
  const devs = await MediaserverClient.devices().catch(() => ({ audioinput: [], videoinput: [] }));
  const current = (kind) => {
    const tr = localStream && (kind === 'audioinput' ? localStream.getAudioTracks()[0] : localStream.getVideoTracks()[0]);
    return tr && tr.getSettings ? tr.getSettings().deviceId : undefined;
  };
  for (const [sel, kind, label] of [['#dev-camera', 'videoinput', 'devices.cameraN'], ['#dev-mic', 'audioinput', 'devices.micN']]) {
    const box = $(sel);
    const chosen = box.value || current(kind);
    box.replaceChildren(...devs[kind].map((d, i) => el('option', { value: d.deviceId }, d.label || t(label, { n: i + 1 }))));
    if (!devs[kind].length) box.append(el('option', { value: '' }, t('devices.none')));
    if (chosen && devs[kind].some((d) => d.deviceId === chosen)) box.value = chosen;
  }
}

async function changeDevice(kind) {
  if (!client || !localStream) return;
  const source = kind === 'audio' ? 'microphone' : 'camera';
  const old = kind === 'audio' ? localStream.getAudioTracks()[0] : localStream.getVideoTracks()[0];
  if (!old) return;
  try {
    const s = await MediaserverClient.openMedia({
      audio: kind === 'audio', video: kind === 'video', quality: $('#dev-quality').value,
      audioDeviceId: $('#dev-mic').value || undefined, videoDeviceId: $('#dev-camera').value || undefined,
    });
    const fresh = s.getTracks()[0];
    if (await client.replaceTrack(source, fresh)) {
      localStream.removeTrack(old);
      old.stop();
      localStream.addTrack(fresh);
      toast(t('devices.changed'));
    } else fresh.stop();
  } catch (e) { fail(e); }
  renderAll();
}

// ---------- events from the server ----------

function wire(c) {
  const rerender = () => { syncState(); renderAll(); };
  for (const name of ['participantJoined', 'participantLeft', 'participantUpdated', 'trackUpdated']) c.addEventListener(name, rerender);
  c.addEventListener('participantUpdated', (e) => {
    const p = e.detail.participant;
    if (p && client.participant && p.id === client.participant.id && p.canPublish === false) stopPublishingLocally();
  });
  c.addEventListener('trackPublished', () => { rerender(); ensureSubscribed(); });
  c.addEventListener('trackUnpublished', rerender);
  c.addEventListener('track', (e) => {
    const { id, track, stream } = e.detail;
    remote.set(id, { track, stream });
    track.addEventListener('ended', () => { remote.delete(id); rerender(); });
    rerender();
  });
  c.addEventListener('trackRemoved', (e) => { remote.delete(e.detail.id); rerender(); });
  c.addEventListener('roomUpdated', () => {
    const before = S.room || {};
    syncState();
    if (S.room && S.room.language && S.room.language !== before.language && !langOverride) applyLanguage(S.room.language);
    if (S.screen === 'lobby') renderLobby();
    renderAll();
  });
  c.addEventListener('admitted', () => { syncState(); toast(t('notice.admitted')); afterStatus('joined'); });
  c.addEventListener('muted', (e) => {
    const { kind, by } = e.detail;
    const who = by === 'audioMode' ? t('notice.byMode') : t('notice.byHost');
    toast(t(kind === 'video' ? 'notice.camOff' : 'notice.micOff', { who }));
    rerender();
  });
  c.addEventListener('floorGranted', async () => {
    toast(t('notice.floorGranted'));
    rerender();
    await startPublishing();
  });
  c.addEventListener('floorRevoked', () => {
    toast(t('notice.floorRevoked'));
    stopPublishingLocally();
    rerender();
  });
  c.addEventListener('activeSpeaker', (e) => { S.activeSpeaker = e.detail.participant; renderSpeaker(); });
  c.addEventListener('screenEnded', () => { screenStream = null; rerender(); });
  c.addEventListener('removed', (e) => {
    leaving = true;
    stopLocal();
    const reason = String((e.detail && e.detail.reason) || '');
    S.error = /host/i.test(reason) ? 'removed' : reason ? 'connection_lost' : 'removed';
    $('#removed-title').textContent = t(S.error === 'removed' ? 'removed.byHost' : 'removed.lost');
    $('#removed-text').textContent = t(S.error === 'removed' ? 'removed.byHostText' : 'removed.lostText');
    syncState();
    setScreen('removed');
    client.leave();
  });
  c.addEventListener('ended', () => {
    leaving = true;
    stopLocal();
    syncState();
    // R-STAT-3: when the host ends the event, attendees go to its thank-you page (the host stays).
    showOver('session', S.role !== 'host' ? S.thankYouUrl : null);
    client.leave();
  });
  c.addEventListener('error', (e) => fail(e.detail.error));
  c.addEventListener('close', () => {
    if (leaving || c !== client) return;
    stopLocal();
    showError('closed');
  });
}

function stopPublishingLocally() {
  if (!client) return;
  client.unpublishMedia().catch(() => {});
  client.stopScreen().catch(() => {});
  stopLocal();
}

async function leave() {
  const wasIn = S.screen === 'room';           // leaving the lobby or the waiting room is not "after the event"
  leaving = true;
  stopLocal();
  if (client) await client.leave();
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

// ---------- host controls ----------

async function hostAction(action, params = {}, confirmKey) {
  if (!client) return;
  if (confirmKey && !window.confirm(t(confirmKey))) return;
  try {
    await client.host(action, params);
  } catch (e) { fail(e); }
  syncState();
  renderAll();
}

// ---------- rendering ----------

function renderAll() {
  if (S.screen === 'join') renderAccess();
  applyI18n();
  renderHeader();
  if (S.screen !== 'room' || !client) return;
  renderToolbar();
  renderMedia();
  renderPeople();
  renderHostPanel();
  renderMyData();
  renderAvatarControl();
}

function renderToolbar() {
  const p = client.participant || {};
  const can = !!p.canPublish;
  const mic = client.localTracks('microphone').length > 0 && !client.muted.audio;
  const cam = client.localTracks('camera').length > 0 && !client.muted.video;
  const set = (btn, on, iconOn, iconOff, labelOn, labelOff) => {
    btn.classList.toggle('on', on);
    btn.classList.toggle('off', !on);
    btn.querySelector('use').setAttribute('href', on ? iconOn : iconOff);
    btn.title = t(on ? labelOn : labelOff);
    btn.setAttribute('aria-pressed', String(on));
    btn.disabled = !can && !on;
  };
  set($('#btn-mic'), mic, '#i-mic', '#i-mic-off', 'tool.micOn', 'tool.micOff');
  set($('#btn-cam'), cam, '#i-cam', '#i-cam-off', 'tool.camOn', 'tool.camOff');
  const screenBtn = $('#btn-screen');
  show(screenBtn, !mobile && MediaserverClient.canShareScreen());
  screenBtn.classList.toggle('on', client.sharingScreen);
  screenBtn.disabled = !can && !client.sharingScreen;
  screenBtn.querySelector('span').textContent = t(client.sharingScreen ? 'tool.stopScreen' : 'tool.screen');
  show($('#btn-host'), S.role === 'host');
  for (const b of $$('.toolbar [data-panel]')) b.classList.toggle('active', b.dataset.panel === openPanel);
}

// Which tiles to show: meetings show everyone (an avatar for those without a camera); webinars show the
// host, presenters and whoever sends media. Screen shares get their own tile.
function tileModel() {
  const me = client.participant && client.participant.id;
  const meeting = (S.room && S.room.type) === 'meeting';
  const list = [];
  const cams = new Map();
  const screens = [];
  for (const tr of client.tracks.values()) {
    if (tr.source === 'screen') screens.push(tr);
    else if (tr.kind === 'video') cams.set(tr.participant, tr);
  }
  for (const p of client.participants.values()) {
    if (p.status && p.status !== 'joined') continue;
    const sends = [...client.tracks.values()].some((x) => x.participant === p.id);
    if (!meeting && p.role === 'attendee' && !sends && !(p.id === me && client.publications.length)) continue;
    list.push({ key: p.id, participant: p, camera: cams.get(p.id), self: p.id === me });
  }
  const screenTiles = screens.map((tr) => ({ key: `${tr.participant}:screen`, participant: client.participants.get(tr.participant) || { id: tr.participant, name: '' }, screen: tr, self: tr.participant === me }));
  return { list, screenTiles, meeting };
}

function makeTile(key) {
  const tile = el('div', { class: 'tile', dataset: { key } });
  tile.innerHTML = '<video autoplay playsinline></video><div class="avatar"><span class="initials"></span></div>'
    + '<div class="label"><svg class="mic-off" viewBox="0 0 24 24"><use href="#i-mic-off"/></svg><span class="name"></span></div>';
  tile.querySelector('video').muted = true;
  tiles.set(key, tile);
  return tile;
}

function attach(video, stream, mirror) {
  if (video.srcObject !== stream) {
    video.srcObject = stream;
    video.play().catch(() => {});
  }
  video.classList.toggle('mirror', !!mirror);
}

function fillTile(tile, m) {
  const p = m.participant || {};
  const video = tile.querySelector('video');
  let stream = null;
  let live = false;
  if (m.screen) {
    if (m.self) {
      const tr = client.localTracks('screen')[0];
      stream = tr ? new MediaStream([tr]) : null;
    } else {
      const r = remote.get(m.screen.id);
      stream = r ? r.stream : null;
      if (r) stream = tile._stream && tile._stream.getTracks()[0] === r.track ? tile._stream : new MediaStream([r.track]);
    }
    live = !!stream;
  } else if (m.self) {
    const tr = client.localTracks('camera')[0];
    live = !!tr && !client.muted.video && tr.readyState === 'live';
    stream = tr ? (tile._stream && tile._stream.getTracks()[0] === tr ? tile._stream : new MediaStream([tr])) : null;
  } else if (m.camera) {
    const r = remote.get(m.camera.id);
    live = !!r && !m.camera.muted;
    stream = r ? (tile._stream && tile._stream.getTracks()[0] === r.track ? tile._stream : new MediaStream([r.track])) : null;
  }
  tile._stream = stream;
  if (stream) attach(video, stream, m.self && !m.screen);
  else if (video.srcObject) video.srcObject = null;
  tile.classList.toggle('has-video', live);
  tile.classList.toggle('screen', !!m.screen);
  tile.classList.toggle('self', !!m.self);
  tile.dataset.participant = p.id || '';
  const name = m.screen ? t('tile.screenOf', { name: p.name || '' }) : `${p.name || ''}${m.self ? ` (${t('tile.you')})` : ''}`;
  tile.querySelector('.name').textContent = name;
  const av = tile.querySelector('.avatar');
  av.style.setProperty('--hue', hue(p.id || p.name || ''));
  av.classList.toggle('image', !!p.avatar);
  av.querySelector('.initials').style.backgroundImage = p.avatar ? `url("${String(p.avatar).replace(/"/g, '%22')}")` : '';
  tile.querySelector('.initials').textContent = p.avatar ? '' : initials(p.name);
  const audio = [...client.tracks.values()].find((x) => x.participant === p.id && x.kind === 'audio');
  const micOff = m.self ? client.muted.audio || !client.localTracks('microphone').length : !audio || audio.muted;
  tile.classList.toggle('muted', !m.screen && micOff);
  tile.classList.toggle('speaking', !m.screen && S.activeSpeaker === p.id);
}

function renderMedia() {
  const { list, screenTiles, meeting } = tileModel();
  const media = $('#media');
  // Stage layout: a webinar always (presenter or screen big, others small); a meeting while someone shares.
  const stage = !meeting || screenTiles.length > 0;
  media.classList.toggle('stage', stage);
  media.classList.toggle('grid', !stage);
  const all = [...screenTiles, ...list];
  const keep = new Set(all.map((m) => m.key));
  for (const [key, tile] of tiles) if (!keep.has(key)) { tile.remove(); tiles.delete(key); }
  let main = null;
  if (stage) {
    main = screenTiles[0]
      || list.find((m) => m.participant.id === S.activeSpeaker && (m.camera || m.self))
      || list.find((m) => m.camera && !m.camera.muted && m.participant.role !== 'attendee')
      || list.find((m) => m.participant.role === 'host')
      || list[0] || null;
  }
  const stageBox = $('#stage-main');
  const strip = $('#tiles');
  for (const m of all) {
    const tile = tiles.get(m.key) || makeTile(m.key);
    fillTile(tile, m);
    const parent = m === main ? stageBox : strip;
    if (tile.parentNode !== parent) {
      parent.append(tile);
      const v = tile.querySelector('video');
      if (v.srcObject) v.play().catch(() => {});
    }
  }
  // Order the strip as the model says.
  for (const m of all) if (m !== main) strip.append(tiles.get(m.key));
  const n = all.length - (main ? 1 : 0);
  const narrow = mobile || window.innerWidth < 700;
  const portrait = window.innerHeight > window.innerWidth;
  let cols;
  if (stage) cols = Math.min(Math.max(n, 1), narrow ? 3 : 6);
  else if (narrow && portrait) cols = n <= 2 ? 1 : n <= 8 ? 2 : 3;
  else cols = n <= 1 ? 1 : n <= 4 ? 2 : n <= 9 ? 3 : n <= 16 ? 4 : 5;
  media.style.setProperty('--cols', String(cols));
  media.style.setProperty('--rows', String(Math.ceil(Math.max(n, 1) / cols)));
  const empty = $('#media-empty');
  empty.textContent = t(S.audioMode === 'presenters' && S.role === 'attendee' && !(client.participant || {}).floor
    ? 'room.presentersOnly' : 'room.empty');
  const blocked = S.audioMode === 'presenters' && S.role === 'attendee' && !(client.participant || {}).floor;
  media.classList.toggle('blocked', blocked);
  show(empty, all.length === 0 || blocked);
  show(stageBox, stage && !!main);
  // Remote audio: one <audio> per received audio track.
  const sink = $('#audio-sink');
  const wanted = new Set();
  for (const [id, r] of remote) {
    if (r.track.kind !== 'audio') continue;
    wanted.add(id);
    let a = sink.querySelector(`audio[data-track="${CSS.escape(id)}"]`);
    if (!a) {
      a = el('audio', { autoplay: true, dataset: { track: id } });
      a.srcObject = new MediaStream([r.track]);
      sink.append(a);
      a.play().catch(() => {});
    }
  }
  for (const a of sink.querySelectorAll('audio')) if (!wanted.has(a.dataset.track)) a.remove();
}

function renderSpeaker() {
  for (const tile of tiles.values()) {
    tile.classList.toggle('speaking', !tile.classList.contains('screen') && tile.dataset.participant === S.activeSpeaker);
  }
  if (S.screen === 'room' && client && (S.room || {}).type !== 'meeting') renderMedia();
}

function renderAvatarControl() {
  const me = client.participant || {};
  const box = $('#dev-avatar-preview');
  box.style.setProperty('--hue', hue(me.id || me.name || ''));
  box.style.backgroundImage = me.avatar ? `url("${String(me.avatar).replace(/"/g, '%22')}")` : '';
  box.style.backgroundSize = 'cover';
  box.textContent = me.avatar ? '' : initials(me.name);
  show($('#dev-avatar-clear'), !!me.avatar);
}

function mediaState(micOn, camOn) {
  const span = el('span', { class: 'media-state' });
  span.innerHTML = `<svg class="${micOn ? 'on' : 'off'}" viewBox="0 0 24 24"><use href="#i-mic${micOn ? '' : '-off'}"/></svg>`
    + `<svg class="${camOn ? 'on' : 'off'}" viewBox="0 0 24 24"><use href="#i-cam${camOn ? '' : '-off'}"/></svg>`;
  return span;
}

function renderPeople() {
  const ul = $('#people-list');
  const me = client.participant && client.participant.id;
  const host = S.role === 'host';
  const order = { host: 0, presenter: 1, attendee: 2 };
  const people = [...client.participants.values()].sort((a, b) => (order[a.role] ?? 3) - (order[b.role] ?? 3) || String(a.name).localeCompare(b.name));
  const rows = people.map((p) => {
    const tracks = [...client.tracks.values()].filter((x) => x.participant === p.id);
    const micOn = p.id === me ? client.localTracks('microphone').length && !client.muted.audio : tracks.some((x) => x.kind === 'audio' && !x.muted);
    const camOn = p.id === me ? client.localTracks('camera').length && !client.muted.video : tracks.some((x) => x.source === 'camera' && !x.muted);
    const actions = el('span', { class: 'actions' });
    if (host && p.id !== me) {
      if (p.role === 'attendee') {
        const floor = !!p.floor;
        actions.append(el('button', { type: 'button', class: 'small', dataset: { act: floor ? 'revokeFloor' : 'grantFloor', id: p.id } }, t(floor ? 'people.revoke' : 'people.grant')));
      }
      actions.append(el('button', { type: 'button', class: 'small danger', dataset: { act: 'remove', id: p.id } }, t('people.remove')));
    }
    const status = p.status && p.status !== 'joined' ? el('span', { class: 'badge' }, t(`status.${p.status}`)) : null;
    return el('li', { dataset: { id: p.id } },
      el('span', { class: 'mini-avatar', style: `--hue:${hue(p.id || p.name)}` }, initials(p.name)),
      el('span', { class: 'who' }, el('span', { class: 'pname' }, `${p.name}${p.id === me ? ` (${t('tile.you')})` : ''}`),
        el('small', {}, t(`role.${p.role}`) + (p.floor ? ` · ${t('people.hasFloor')}` : ''), ' ', status)),
      mediaState(micOn, camOn),
      actions);
  });
  ul.replaceChildren(...rows);
  if (S.role !== 'host' && (S.room || {}).type === 'webinar') {
    ul.append(el('li', { class: 'muted note' }, t('people.webinarNote')));
  }
}

function renderHostPanel() {
  if (S.role !== 'host') return;
  const r = S.room || {};
  for (const radio of $$('input[name="audio-mode"]')) radio.checked = radio.value === r.audioMode;
  const cap = $('#host-capacity');
  if (document.activeElement !== cap) cap.value = r.capacity || '';
  cap.max = r.type === 'meeting' ? 25 : 5000;
  $('#host-language').value = r.language || language();
  show($('#host-start-box'), r.state === 'lobby');
  for (const b of $$('.lock-btn')) b.textContent = t(r.locked ? 'host.unlock' : 'host.lock');
  $('#host-rec').textContent = t(r.recording ? 'host.recStop' : 'host.recStart');
  $('#host-rec').classList.toggle('danger', !!r.recording);
  $('#host-stream').textContent = t(r.streaming ? 'host.streamStop' : 'host.streamStart');
  $('#host-stream').classList.toggle('danger', !!r.streaming);
  $('#host-stream-url').disabled = $('#host-stream-key').disabled = !!r.streaming;
}

function renderMyData() {
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

// ---------- side panels ----------

const PANEL_TITLES = { people: 'tool.people', host: 'tool.host', mydata: 'tool.mydata', devices: 'tool.devices' };

function togglePanel(name) {
  if (openPanel === name) { closePanel(); return; }
  openPanel = name;
  for (const p of ['people', 'host', 'mydata', 'devices']) show($(`#panel-${p}`), p === name);
  $('#side-title').textContent = t(PANEL_TITLES[name]);
  show($('#side'), true);
  document.body.classList.add('panel-open');
  if (name === 'devices') fillDevices();
  renderAll();
}

function closePanel() {
  openPanel = null;
  show($('#side'), false);
  document.body.classList.remove('panel-open');
  for (const b of $$('.toolbar [data-panel]')) b.classList.remove('active');
}

async function copy(sel) {
  const node = $(sel);
  const text = node.value !== undefined && node.tagName === 'TEXTAREA' ? node.value : node.textContent;
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const ta = el('textarea', {}, text);
    document.body.append(ta);
    ta.select();
    document.execCommand('copy');
    ta.remove();
  }
  toast(t('common.copied'));
}

// ---------- stats for tests and diagnostics ----------

window.roomStats = async () => {
  const out = { framesDecoded: 0, audioPackets: 0, audioLevel: 0, framesSent: 0, videoPackets: 0 };
  if (!client) return out;
  const pcs = [client.sub, ...client.publications.map((p) => p.pc)].filter(Boolean);
  for (const pc of pcs) {
    const report = await pc.getStats();
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') { out.framesDecoded += s.framesDecoded || 0; out.videoPackets += s.packetsReceived || 0; }
      if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        out.audioPackets += s.packetsReceived || 0;
        if (typeof s.audioLevel === 'number') out.audioLevel = Math.max(out.audioLevel, s.audioLevel);
      }
      if (s.type === 'outbound-rtp' && s.kind === 'video') out.framesSent += s.framesSent || 0;
    });
  }
  return out;
};

// ---------- start ----------

function bind() {
  $('#join-form').addEventListener('submit', submitJoin);
  $('#reg-form').addEventListener('submit', submitRegistration);
  $('#reg-back').addEventListener('click', () => setScreen('join'));
  $('#buy-form').addEventListener('submit', submitBuy);
  $('#buy-open').addEventListener('click', openBuy);
  $('#buy-close').addEventListener('click', () => { buyOpen = false; renderBuy(); $('#buy-open').focus(); });
  $('#order-check').addEventListener('click', checkOrder);
  $('#order-new').addEventListener('click', newOrder);
  $('#btn-mic').addEventListener('click', () => toggle('audio'));
  $('#btn-cam').addEventListener('click', () => toggle('video'));
  $('#btn-screen').addEventListener('click', toggleScreen);
  for (const b of $$('#screen-menu [data-quality]')) b.addEventListener('click', () => shareScreen(b.dataset.quality));
  for (const b of $$('.toolbar [data-panel]')) b.addEventListener('click', () => togglePanel(b.dataset.panel));
  $('#side-close').addEventListener('click', closePanel);
  $('#btn-leave').addEventListener('click', leave);
  for (const b of $$('.leave-btn')) b.addEventListener('click', leave);
  for (const b of $$('.rejoin-btn')) b.addEventListener('click', () => { location.reload(); });
  for (const b of $$('.copy')) b.addEventListener('click', () => copy(b.dataset.copy));
  for (const b of $$('.lock-btn')) b.addEventListener('click', () => hostAction((S.room || {}).locked ? 'unlock' : 'lock'));
  for (const b of $$('.end-btn')) b.addEventListener('click', () => hostAction('end', {}, 'host.endConfirm'));
  $('#host-rec').addEventListener('click', () => hostAction((S.room || {}).recording ? 'stopRecording' : 'startRecording'));
  $('#host-stream').addEventListener('click', () => {
    if ((S.room || {}).streaming) { hostAction('stopStream'); return; }
    const key = $('#host-stream-key').value.trim();
    hostAction('startStream', { url: $('#host-stream-url').value.trim(), key: key || undefined });
  });
  $('#host-start').addEventListener('click', () => hostAction('start'));
  for (const r of $$('input[name="audio-mode"]')) {
    r.addEventListener('change', () => { if (r.checked) hostAction('setAudioMode', { mode: r.value }); });
  }
  $('#host-capacity-set').addEventListener('click', () => {
    const n = Number($('#host-capacity').value);
    if (!Number.isInteger(n) || n < 1) { toast(errorText('bad_capacity'), 'error'); return; }
    hostAction('setCapacity', { capacity: n });
  });
  $('#host-language').addEventListener('change', (e) => hostAction('setLanguage', { language: e.target.value }));
  $('#people-list').addEventListener('click', (e) => {
    const b = e.target.closest('button[data-act]');
    if (!b) return;
    hostAction(b.dataset.act, { participant: b.dataset.id }, b.dataset.act === 'remove' ? 'people.removeConfirm' : undefined);
  });
  $('#dev-camera').addEventListener('change', () => changeDevice('video'));
  $('#dev-mic').addEventListener('change', () => changeDevice('audio'));
  $('#dev-quality').addEventListener('change', async (e) => {
    if (!client) return;
    await client.setVideoQuality(e.target.value).catch((err) => fail(err));
    await changeDevice('video');
  });
  $('#dev-avatar').addEventListener('change', async (e) => {
    const file = e.target.files && e.target.files[0];
    if (!file || !client) return;
    try {
      await client.setAvatar(await MediaserverClient.avatarDataUrl(file));
      toast(t('devices.avatarSet'));
    } catch (err) { fail(err); }
    e.target.value = '';
    syncState();
    renderAll();
  });
  $('#dev-avatar-clear').addEventListener('click', async () => {
    try { await client.setAvatar(null); } catch (err) { fail(err); }
    syncState();
    renderAll();
  });
  document.addEventListener('click', (e) => {
    const menu = $('#screen-menu');
    if (!menu.hidden && !menu.contains(e.target) && !e.target.closest('#btn-screen')) menu.hidden = true;
  });
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape') { $('#screen-menu').hidden = true; closePanel(); } });
  if (navigator.mediaDevices && navigator.mediaDevices.addEventListener) {
    navigator.mediaDevices.addEventListener('devicechange', () => fillDevices());
  }
  window.addEventListener('pagehide', () => { leaving = true; if (client) client.leave(); });
  let resizeTimer = null;
  window.addEventListener('resize', () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(renderAll, 150); });
  setInterval(() => { if (openPanel === 'mydata') $('#md-now').textContent = new Date().toLocaleString(language()); }, 1000);
}

async function main() {
  bind();
  document.body.classList.toggle('mobile', mobile);
  try {
    const saved = JSON.parse(localStorage.getItem('ms.person') || 'null');
    if (saved) { $('#join-name').value = saved.name || ''; $('#join-email').value = saved.email || ''; }
  } catch { /* private mode */ }
  if (query.get('name')) $('#join-name').value = query.get('name');
  if (query.get('email')) $('#join-email').value = query.get('email');
  applyLanguage(null);
  setScreen('join');
  const id = roomIdFromUrl();
  if (hostKey || presenterKey) {
    const as = $('#join-as');
    as.textContent = t(hostKey ? 'join.asHost' : 'join.asPresenter');
    as.dataset.i18n = hostKey ? 'join.asHost' : 'join.asPresenter';
    show(as, true);
  }
  if (!id) { $('#join-id').focus(); return; }
  const ok = await loadRoom(id);
  if (ok && query.get('autojoin') === '1' && $('#join-name').value && $('#join-email').value) submitJoin();
  else if (ok) ($('#join-name').value ? $('#join-submit') : $('#join-name')).focus();
}

main().catch((e) => {
  console.error(e);
  showError(e instanceof MediaserverError ? e.code : 'unknown', e.message);
});
