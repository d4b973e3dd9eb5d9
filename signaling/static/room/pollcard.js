// The attendees' side of a poll or test (R-INT-3, issue 16), in the Polls tab: the open poll's questions (single
// choice as radios, multiple choice as checkboxes, a short answer as a textarea of at most 500 characters, an
// option's image when it has one), "Submit" once, then "Thank you" and a test's score; the results once the host
// shows them (a test's correct options marked after it closed). Drawn as text, never as HTML.
import { t } from '/static/i18n.js';
import { $, el, show } from './dom.js';
import { resultsElement } from './pollbars.js';
import { page } from './state.js';

export const SHORT_MAX = 500;
let drawnLaunch = null;               // the form is built once per launch (typing is not redrawn away)

function optionElement(q, o) {
  const type = q.kind === 'single' ? 'radio' : 'checkbox';
  const input = el('input', { type, name: `poll-q-${q.id}`, value: String(o.id) });
  const label = el('label', { class: 'poll-choice' }, input, el('span', {}, String(o.text ?? '')));
  if (o.image && /^\/play\//.test(o.image)) label.append(el('img', { src: o.image, alt: String(o.text ?? ''), loading: 'lazy' }));
  return label;
}

function questionElement(q) {
  const box = el('fieldset', { class: 'poll-q', dataset: { question: String(q.id), kind: q.kind } },
    el('legend', {}, String(q.text ?? '')));
  if (q.kind === 'short') {
    box.append(el('textarea', { rows: '3', maxlength: String(SHORT_MAX), name: `poll-q-${q.id}`,
      placeholder: t('poll.shortPlaceholder') }));
  } else {
    for (const o of q.options || []) box.append(optionElement(q, o));
  }
  return box;
}

function buildForm(p) {
  drawnLaunch = p.launch;
  $('#poll-form-name').textContent = String(p.name ?? '');
  $('#poll-questions').replaceChildren(...(p.questions || []).map(questionElement));
}

/** The answers the form holds: [{question, options}|{question, text}]; null when a question is left out. */
function answers(p) {
  const out = [];
  for (const q of p.questions || []) {
    const name = `poll-q-${q.id}`;
    if (q.kind === 'short') {
      const text = $(`textarea[name="${name}"]`).value.trim();
      if (!text) return null;
      out.push({ question: q.id, text });
    } else {
      const ids = [...document.querySelectorAll(`input[name="${name}"]:checked`)].map((i) => Number(i.value));
      if (!ids.length) return null;
      out.push({ question: q.id, options: ids });
    }
  }
  return out;
}

/** Draw the attendee's poll: `p` the poll (or null), `s` client.interaction.polls. */
export function attendeePoll(p, s) {
  show($('#poll-empty'), !p);
  const canAnswer = !!p && p.state === 'open' && !s.answered;
  show($('#poll-form'), canAnswer);
  if (canAnswer && drawnLaunch !== p.launch) buildForm(p);
  show($('#poll-thanks'), !!p && s.answered);
  const mine = s.mine && p && s.mine.launch === p.launch ? s.mine : null;
  const scored = !!mine && mine.score !== undefined && mine.score !== null;
  show($('#poll-score'), scored);
  if (scored) $('#poll-score').textContent = t('poll.score', { n: mine.score, max: mine.maxScore });
  show($('#poll-closed-note'), !!p && p.state === 'closed' && !s.results);
  const results = !!p && !!s.results && s.results.launch === p.launch;
  show($('#poll-results'), results);
  if (results) {
    $('#poll-results-name').textContent = String(p.name ?? '');
    $('#poll-results-body').replaceChildren(resultsElement(p, s.results, s.results.correct || null));
  }
}

export function bindPollCard(call) {
  $('#poll-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const s = page.client && page.client.interaction.polls;
    const p = s && s.poll;
    if (!p) return;
    const got = answers(p);
    if (!got) { call(() => Promise.reject(Object.assign(new Error('incomplete'), { code: 'incomplete' }))); return; }
    $('#poll-submit').disabled = true;
    call(() => page.client.answerPoll(got)).finally(() => { $('#poll-submit').disabled = false; });
  });
}
