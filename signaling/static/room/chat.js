// The Chat tab (R-INT-1, issue 16): the messages (drawn one by one as they come, never all again), the composer
// (2,000 characters, Enter sends, Shift+Enter a new line; an attendee writes to everyone or privately to the
// host and presenters, the staff reply privately from a message), the host's switch, deletion and silencing,
// the server's refusals in words, and the unread count on the toolbar's Chat button.
import { errorText, t } from '/static/i18n.js';
import { messageElement } from './chatmsg.js';
import { $, show, toast } from './dom.js';
import { page, S } from './state.js';
import { openTab, registerTab } from './tabs.js';

export const MAX_CHARS = 2000;
const COUNT_FROM = 1800;             // the counter shows from here
const KEEP = 500;                    // messages kept on the page (the SDK keeps as many)

S.chat = { count: 0, unread: 0, enabled: true, silenced: false, error: null, sent: 0 };
const nodes = new Map();             // message id -> <li>
const silencedIds = new Set();       // participants the host silenced, as seen by this page
let builtFor = null;                 // the client (and snapshot) the list was drawn from
let replyTo = null;                  // the staff's private reply: {pid, name}

const staff = () => S.role === 'host' || S.role === 'presenter';
const me = () => page.client && page.client.participant && page.client.participant.id;
export const isSilenced = (pid) => silencedIds.has(pid);

registerTab({
  key: 'chat', order: 10, label: () => t('chat.tab'),
  shown: () => { S.chat.unread = 0; renderUnread(); scrollDown(); },
});

function scrollDown() { const list = $('#chat-list'); list.scrollTop = list.scrollHeight; }

function renderUnread() {
  const badge = $('#chat-unread');
  badge.textContent = S.chat.unread > 99 ? '99+' : String(S.chat.unread);
  show(badge, S.chat.unread > 0);
}

function draw(m) {
  const li = messageElement(m, me(), S.role, isSilenced);
  nodes.set(m.id, li);
  return li;
}

/** Draw the whole list again from the client's state (a join, admission or reconnection: a new snapshot). */
export function rebuildChat() {
  if (!page.client) return;
  builtFor = page.client.interaction;
  nodes.clear();
  silencedIds.clear();   // the staff's snapshot names who is silenced
  for (const pid of page.client.interaction.chat.silencedPeople || []) silencedIds.add(pid);
  $('#chat-list').replaceChildren(...page.client.interaction.chat.messages.map(draw));
  S.chat.count = nodes.size;
  scrollDown();
  renderChat();
}

/** A new message (the 'chat' event). */
export function chatAdded(m) {
  if (!m || typeof m.id !== 'string' || nodes.has(m.id)) return;
  const list = $('#chat-list');
  const atEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 60;
  list.append(draw(m));
  while (nodes.size > KEEP) { const [id, li] = nodes.entries().next().value; li.remove(); nodes.delete(id); }
  S.chat.count = nodes.size;
  const mine = m.from && m.from.id === me();
  if (atEnd || mine) scrollDown();
  if (!mine && openTab() !== 'chat') { S.chat.unread += 1; renderUnread(); }
  show($('#chat-empty'), false);
}

/** A message deleted by the staff (the 'chatDeleted' event): gone for everyone. */
export function chatRemoved(id) {
  const li = nodes.get(id);
  if (li) { li.remove(); nodes.delete(id); }
  S.chat.count = nodes.size;
  show($('#chat-empty'), nodes.size === 0);
}

/** The host silenced (or let again) someone: noted for the buttons; the person is told. */
export function chatSilenced(d) {
  if (!d || typeof d.participant !== 'string') return;
  (d.silenced ? silencedIds.add(d.participant) : silencedIds.delete(d.participant));
  for (const b of document.querySelectorAll(`[data-chat-act="silence"][data-pid="${CSS.escape(d.participant)}"]`)) {
    b.dataset.i18n = d.silenced ? 'chat.unsilence' : 'chat.silence';
    b.dataset.on = String(!d.silenced);
    b.textContent = t(b.dataset.i18n);
  }
  if (d.participant === me()) toast(t(d.silenced ? 'chat.silencedNotice' : 'chat.unsilencedNotice'), d.silenced ? 'error' : 'info');
}

/** The chat's state: switch, notices, composer (renderAll calls it). */
export function renderChat() {
  if (!page.client) return;
  if (builtFor !== page.client.interaction) { rebuildChat(); return; }
  const c = page.client.interaction.chat;
  S.chat.enabled = c.enabled;
  S.chat.silenced = c.silenced;
  const host = S.role === 'host';
  show($('#chat-toggle-box'), host);
  $('#chat-toggle').checked = c.enabled;
  show($('#chat-staff-off'), staff() && !c.enabled);
  const off = !staff() && !c.enabled;
  const blocked = off || c.silenced;
  show($('#chat-off'), off);
  show($('#chat-silenced'), !off && c.silenced);
  $('#chat-text').disabled = blocked;
  show($('#chat-to'), !staff());
  show($('#chat-reply'), !!replyTo);
  if (replyTo) $('#chat-reply-name').textContent = replyTo.name;
  show($('#chat-empty'), nodes.size === 0);
  renderCount();
  renderUnread();
}

function length(text) { return [...text].length; }   // characters, as the server counts them

function renderCount() {
  const n = length($('#chat-text').value);
  const counter = $('#chat-count');
  counter.textContent = `${n} / ${MAX_CHARS}`;
  counter.classList.toggle('over', n > MAX_CHARS);
  show(counter, n >= COUNT_FROM);
  const c = page.client ? page.client.interaction.chat : { enabled: true, silenced: false };
  $('#chat-send').disabled = n > MAX_CHARS || !$('#chat-text').value.trim() || c.silenced || (!staff() && !c.enabled);
}

function chatError(code, message) {
  S.chat.error = code || null;
  const p = $('#chat-error');
  if (!code) { show(p, false); return; }
  const key = `chat.error.${code}`;
  p.textContent = t(key) !== key ? t(key) : errorText(code, message);
  show(p, true);
}

async function send(ev) {
  if (ev) ev.preventDefault();
  const box = $('#chat-text');
  const text = box.value;
  if (!page.client || !text.trim()) return;
  if (length(text) > MAX_CHARS) { chatError('too_long'); return; }
  const to = replyTo ? replyTo.pid : !staff() && $('#chat-to').value === 'staff' ? 'staff' : undefined;
  $('#chat-send').disabled = true;
  try {
    await page.client.sendChat(text, { to });
    S.chat.sent += 1;
    box.value = '';
    replyTo = null;
    chatError(null);
  } catch (e) {
    chatError(e.code || 'network', e.message);
  }
  renderChat();
}

async function act(b) {
  const c = page.client;
  if (!c) return;
  try {
    if (b.dataset.chatAct === 'reply') {
      replyTo = { pid: b.dataset.pid, name: b.dataset.name };
      renderChat();
      $('#chat-text').focus();
    } else if (b.dataset.chatAct === 'delete') await c.deleteChat(b.dataset.id);
    else if (b.dataset.chatAct === 'silence') await c.silence(b.dataset.pid, b.dataset.on !== 'false');
  } catch (e) {
    chatError(e.code || 'network', e.message);
  }
}

export function bindChat() {
  $('#chat-form').addEventListener('submit', send);
  $('#chat-text').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
  });
  $('#chat-text').addEventListener('input', renderCount);
  $('#chat-reply-cancel').addEventListener('click', () => { replyTo = null; renderChat(); });
  $('#chat-toggle').addEventListener('change', async (e) => {
    try { await page.client.setChatEnabled(e.target.checked); } catch (err) { chatError(err.code, err.message); }
    renderChat();
  });
  for (const list of [$('#chat-list'), $('#people-list')]) {
    list.addEventListener('click', (e) => {
      const b = e.target.closest('button[data-chat-act]');
      if (b) act(b);
    });
  }
}
