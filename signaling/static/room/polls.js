// Polls and tests (R-INT-3, issue 16): the Polls tab. The staff (host, presenters) see the event's saved polls and
// tests (poll.list) with "Launch", then the open poll's live results (bars with counts and percentages, a test's
// correct options marked), the short answers as they come, "Close" and "Show results to everyone" / "Hide
// results". Attendees get the tab while a poll is open or its results are shown; it opens by itself when one
// is launched (pollcard.js draws their form, thanks, score and results). Everything is drawn as text.
import { errorText, t } from '/static/i18n.js';
import { $, el, show } from './dom.js';
import { attendeePoll, bindPollCard } from './pollcard.js';
import { resultsElement } from './pollbars.js';
import { page, S } from './state.js';
import { openTab, registerTab, showTab } from './tabs.js';

S.polls = { saved: null, launch: null, state: null, respondents: 0, shown: false, error: null, answered: false };
const staff = () => S.role === 'host' || S.role === 'presenter';
const polls = () => (page.client ? page.client.interaction.polls : null);
const current = () => { const s = polls(); return s && s.poll && s.poll.questions ? s.poll : null; };

registerTab({
  key: 'polls', order: 60,
  visible: () => (staff() && !!S.event) || !!current(),   // polls belong to an event
  label: () => (current() && current().state === 'open' ? `${t('poll.tab')}\u00a0•` : t('poll.tab')),
  shown: () => { if (staff() && S.polls.saved === null) loadSaved(); renderPolls(); },
});

export function pollError(code, message) {
  S.polls.error = code || null;
  const p = $('#poll-error');
  if (code) {
    const key = `poll.error.${code}`;
    p.textContent = t(key) !== key ? t(key) : errorText(code, message);
  }
  show(p, !!code);
}

async function call(f) {
  try { await f(); pollError(null); } catch (e) { pollError(e.code || 'network', e.message); }
  renderPolls();
}

function loadSaved() {
  S.polls.saved = [];
  call(async () => { S.polls.saved = (await page.client.listPolls()).polls || []; });
}

function drawSaved() {
  const open = current() && current().state === 'open';
  const list = S.polls.saved || [];
  $('#poll-saved').replaceChildren(...list.map((p) => el('li', { class: 'poll-saved', dataset: { poll: String(p.id) } },
    el('span', {}, String(p.name ?? ''), el('small', { class: 'muted' },
      ` · ${t(p.kind === 'test' ? 'poll.kindTest' : 'poll.kindPoll')} · ${t('poll.questions', { n: p.questions })}`)),
    el('button', { type: 'button', class: 'primary', dataset: { launch: String(p.id) }, disabled: open }, t('poll.launch')))));
  show($('#poll-none'), S.polls.saved !== null && list.length === 0);
}

function drawLive(p) {
  const s = polls();
  show($('#poll-live'), !!p);
  if (!p) return;
  $('#poll-live-name').textContent = `${String(p.name ?? '')} · ${t(p.state === 'open' ? 'poll.open' : 'poll.closed')}`;
  show($('#poll-close'), p.state === 'open');
  const toggle = $('#poll-show');
  toggle.dataset.i18n = p.shown ? 'poll.hide' : 'poll.show';
  toggle.textContent = t(toggle.dataset.i18n);
  $('#poll-live-results').replaceChildren(resultsElement(p, s.results, p.correct || null));
  const shorts = s.shortAnswers || [];
  $('#poll-short').replaceChildren(...shorts.slice(-100).map((a) => el('li', {},
    el('b', {}, `${String(a.name ?? '')}: `), String(a.text ?? ''))));
  show($('#poll-short-box'), shorts.length > 0);
}

let drawQueued = false;
/** The polls' part of renderAll and of each poll event (drawn at most once a frame, only while the tab shows). */
export function renderPolls() {
  const s = polls();
  if (!s) return;
  const p = current();
  S.polls.launch = p ? p.launch : null;
  S.polls.state = p ? p.state : null;
  S.polls.shown = !!(p && p.shown);
  S.polls.answered = !!s.answered;
  S.polls.respondents = (s.results && s.results.respondents) || 0;
  show($('#poll-staff'), staff());
  show($('#poll-attendee'), !staff());
  if (drawQueued) return;
  drawQueued = true;
  requestAnimationFrame(() => {
    drawQueued = false;
    if (openTab() !== 'polls') return;
    if (staff()) { drawSaved(); drawLive(current()); } else attendeePoll(current(), polls());
  });
}

/** A poll event: a new poll opens the attendees' tab by itself. */
export function pollEvent(name, d) {
  if (name === 'poll' && d.state === 'open' && !staff()) showTab('polls');
  if (name === 'pollShown' && d.shown && !staff()) showTab('polls');
  renderPolls();
}

export function bindPolls() {
  bindPollCard(call);
  $('#poll-saved').addEventListener('click', (e) => {
    const b = e.target.closest('button[data-launch]');
    if (b) call(() => page.client.launchPoll(Number(b.dataset.launch)));
  });
  $('#poll-reload').addEventListener('click', loadSaved);
  $('#poll-close').addEventListener('click', () => call(() => page.client.closePoll()));
  $('#poll-show').addEventListener('click', () => call(() => page.client.showPollResults(!(current() && current().shown))));
}
