// Q&A (R-INT-2, issue 16): the Q&A tab (the host always, with "Open Q&A" / "Close Q&A"; everyone else while Q&A
// is open): the questions sorted by votes then time, the upvote toggle, the "Ask a question" composer (2,000
// characters), the staff's answer / dismiss and the host's publish / take down; "Mark as question" on chat
// messages while Q&A is open; the published question as a banner over the stage for everyone.
import { errorText, t } from '/static/i18n.js';
import { $, show } from './dom.js';
import { questionElement, sortQuestions } from './qaitem.js';
import { page, S } from './state.js';
import { openTab, registerTab, showTab } from './tabs.js';

const MAX_CHARS = 2000;
S.qa = { open: false, count: 0, published: null, error: null, asked: 0 };

const staff = () => S.role === 'host' || S.role === 'presenter';
const qa = () => (page.client ? page.client.interaction.qa : null);
const me = () => page.client && page.client.participant && page.client.participant.id;
const visible = () => (page.client ? page.client.interaction.visibleQuestions(staff(), me()) : []);

registerTab({
  key: 'qa', order: 50, visible: () => S.role === 'host' || !!(qa() && qa().open),
  label: () => (S.qa.count ? `${t('qa.tab')} (${S.qa.count})` : t('qa.tab')),
  shown: () => drawList(),
});

function qaError(code, message) {
  S.qa.error = code || null;
  const p = $('#qa-error');
  if (code) {
    const key = `qa.error.${code}`;
    p.textContent = t(key) !== key ? t(key) : errorText(code, message);
  }
  show(p, !!code);
}

let drawQueued = false;
let drawnAt = 0;
/** Redraw the list only while the tab shows, at most four times a second (votes come every tick, and the staff's
 * list may hold thousands of questions). */
function drawList() {
  if (drawQueued) return;
  drawQueued = true;
  setTimeout(() => requestAnimationFrame(() => {
    drawQueued = false;
    drawnAt = performance.now();
    const s = qa();
    if (!s || openTab() !== 'qa') return;
    const pub = s.published && s.published.id;
    const list = sortQuestions(visible());
    $('#qa-list').replaceChildren(...list.map((q) => questionElement(q, s.voted.has(q.id), q.id === pub, S.role)));
    show($('#qa-empty'), list.length === 0);
  }), Math.max(0, drawnAt + 250 - performance.now()));
}

function renderBanner(s) {
  const q = s && s.open ? s.published : null;
  show($('#qa-banner'), !!q);
  if (!q) return;
  $('#qa-banner-name').textContent = String((q.from && q.from.name) || '?');
  $('#qa-banner-text').textContent = String(q.text ?? '');
}

/** The Q&A's part of renderAll (and of each Q&A event). */
export function renderQA() {
  const s = qa();
  if (!s) return;
  S.qa.open = s.open;
  S.qa.count = visible().filter((q) => q.state !== 'dismissed').length;
  S.qa.published = s.published ? s.published.id : null;
  const host = S.role === 'host';
  show($('#qa-host'), host);
  const toggle = $('#qa-toggle');
  toggle.dataset.i18n = s.open ? 'qa.close' : 'qa.open';
  toggle.textContent = t(toggle.dataset.i18n);
  toggle.classList.toggle('danger', s.open);
  show($('#qa-closed'), !s.open);
  show($('#qa-form'), s.open);
  $('#chat-list').classList.toggle('qa-open', s.open);
  renderBanner(s);
  renderCount();
  drawList();
}

function renderCount() {
  const n = [...$('#qa-text').value].length;
  const counter = $('#qa-count');
  counter.textContent = `${n} / ${MAX_CHARS}`;
  counter.classList.toggle('over', n > MAX_CHARS);
  show(counter, n >= 1800);
  $('#qa-send').disabled = n > MAX_CHARS || !$('#qa-text').value.trim();
}

async function call(f) {
  try { await f(); qaError(null); } catch (e) { qaError(e.code || 'network', e.message); }
  renderQA();
}

function asked() {
  S.qa.asked += 1;
}

async function ask(ev) {
  ev.preventDefault();
  const box = $('#qa-text');
  if (!page.client || !box.value.trim()) return;
  if ([...box.value].length > MAX_CHARS) { qaError('too_long'); return; }
  await call(async () => { asked(await page.client.askQuestion(box.value)); box.value = ''; });
}

function onList(e) {
  const b = e.target.closest('button[data-qa-act]');
  const c = page.client;
  if (!b || !c) return;
  const id = b.dataset.id;
  const acts = {
    vote: () => c.upvote(id, !c.interaction.qa.voted.has(id)),   // the state now, not the drawn button's
    answer: () => c.answerQuestion(id),
    dismiss: () => c.dismissQuestion(id), publish: () => c.publishQuestion(id), unpublish: () => c.unpublishQuestion(),
  };
  call(acts[b.dataset.qaAct]);
}

async function markQuestion(e) {
  const b = e.target.closest('button[data-qa-mark]');
  if (!b || !page.client) return;
  e.stopPropagation();
  await call(async () => asked(await page.client.askQuestion({ message: b.dataset.qaMark })));
  showTab('qa');   // the question (or the refusal, in words) is on the Q&A tab
}

export function bindQA() {
  $('#qa-form').addEventListener('submit', ask);
  $('#qa-text').addEventListener('input', renderCount);
  $('#qa-text').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); $('#qa-form').requestSubmit(); }
  });
  $('#qa-list').addEventListener('click', onList);
  $('#chat-list').addEventListener('click', markQuestion);
  $('#qa-toggle').addEventListener('click', () => call(() => (qa().open ? page.client.closeQA() : page.client.openQA())));
}
