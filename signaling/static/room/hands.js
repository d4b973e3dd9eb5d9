// Raised hands (R-ROOM-3, issue 16): an attendee's toolbar button raises and lowers the hand and shows the place
// in the queue the server gave; the host and presenters get the same button as "Hands" with the queue's length
// on it, opening the Raised hands tab: the queue oldest first, with "Give the floor" (the host's grantFloor,
// which answers the hand) and "Lower".
import { language, t } from '/static/i18n.js';
import { $, el, fail, show } from './dom.js';
import { renderAll } from './render.js';
import { page, S, syncState } from './state.js';
import { registerTab, showTab } from './tabs.js';

S.hand = { raised: false, position: null };     // this attendee's hand
S.hands = { queue: 0 };                         // the staff: how many hands are up

const staff = () => S.role === 'host' || S.role === 'presenter';
const queue = () => (page.client ? page.client.interaction.hands.queue : []);

registerTab({
  key: 'hands', order: 90, visible: staff,
  label: () => (queue().length ? `${t('hands.tab')} (${queue().length})` : t('hands.tab')),
});

function setLabel(node, key) { node.dataset.i18n = key; node.textContent = t(key); }

/** The toolbar button, the queue tab and window.roomState's hand fields (renderAll calls it). */
export function renderHands() {
  if (!page.client) return;
  const self = page.client.participant || {};
  const btn = $('#btn-hand');
  const badge = $('#hand-badge');
  const h = page.client.interaction.hands;
  S.hand.position = h.raised ? h.position : null;
  S.hand.raised = !!h.raised;
  S.hands.queue = h.queue.length;
  if (staff()) {
    show(btn, true);
    setLabel($('#btn-hand-label'), 'tool.hands');
    btn.classList.remove('on');
    btn.removeAttribute('aria-pressed');
    badge.textContent = String(h.queue.length);
    show(badge, h.queue.length > 0);
    renderQueue(h.queue);
    return;
  }
  show(btn, !self.floor);                        // who has the floor has nothing to ask for
  setLabel($('#btn-hand-label'), h.raised ? 'tool.lowerHand' : 'tool.raiseHand');
  btn.classList.toggle('on', !!h.raised);
  btn.setAttribute('aria-pressed', String(!!h.raised));
  btn.title = h.raised && S.hand.position ? t('hands.position', { n: S.hand.position }) : '';
  badge.textContent = S.hand.position ? `#${S.hand.position}` : '';
  show(badge, !!h.raised && !!S.hand.position);
}

function renderQueue(list) {
  const host = S.role === 'host';
  const rows = list.map((h) => el('li', { dataset: { id: h.participant } },
    el('span', { class: 'hand-mark', 'aria-hidden': 'true' }, '✋'),
    el('span', { class: 'who' }, el('span', { class: 'pname' }, String(h.name || '?')),
      h.at ? el('small', {}, new Date(h.at).toLocaleTimeString(language(), { hour: '2-digit', minute: '2-digit' })) : null),
    el('span', { class: 'actions' },
      host ? el('button', { type: 'button', class: 'small primary', dataset: { handAct: 'grant', id: h.participant } }, t('people.grant')) : null,
      el('button', { type: 'button', class: 'small', dataset: { handAct: 'lower', id: h.participant } }, t('hands.lower')))));
  $('#hands-list').replaceChildren(...rows);
  show($('#hands-empty'), list.length === 0);
}

async function toggleHand() {
  const c = page.client;
  if (!c) return;
  if (staff()) { showTab('hands'); return; }
  try {
    if (c.interaction.hands.raised) {
      await c.lowerHand();
      c.interaction.hands.raised = false;       // the event confirms it; the button answers the click now
    } else {
      await c.raiseHand();
    }
  } catch (e) { fail(e); }
  renderHands();
}

async function onQueue(e) {
  const b = e.target.closest('button[data-hand-act]');
  if (!b || !page.client) return;
  try {
    if (b.dataset.handAct === 'grant') await page.client.host('grantFloor', { participant: b.dataset.id });
    else await page.client.lowerHand(b.dataset.id);
  } catch (err) { fail(err); }
  syncState();
  renderAll();
}

export function bindHands() {
  $('#btn-hand').addEventListener('click', toggleHand);
  $('#hands-list').addEventListener('click', onQueue);
}
