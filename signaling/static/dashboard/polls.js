// The dashboard's polls and tests of an event (R-INT-3, issue 16): the list, the editor, the results and the
// exports. The rules are the server's (mediaserver/interaction/polls_store.py): the editor sends what was typed
// and shows the API's error message.
import { $, api, cell, el, t } from './core.js';

const polls = {event: null, editing: null, questions: [], images: []};

function pollsError(e) { $('polls-note').textContent = e.message; }

/** Show the polls of event ev. */
export async function showPolls(ev) {
  polls.event = ev;
  $('polls-event').textContent = ev.name;
  $('polls-view').hidden = false;
  $('poll-form').hidden = true; $('poll-results').hidden = true;
  try { await listPolls(); } catch (e) { pollsError(e); }
  $('polls-view').scrollIntoView();
}

async function listPolls() {
  const ev = polls.event;
  const list = await api('GET', `/events/${ev.id}/polls?limit=100`);
  $('polls-note').textContent = list.total ? '' : t('dashPoll.none');
  const body = $('polls'); body.textContent = '';
  for (const p of list.items) {
    const tr = document.createElement('tr'); tr.dataset.id = p.id;
    cell(tr, p.name); cell(tr, p.kind); cell(tr, String(p.questions.length));
    const state = cell(tr, ''); state.className = 'poll-state';
    const actions = cell(tr, '');
    for (const [label, fn] of [['edit', () => editPoll(p)], ['results', () => showResults(p)],
                               ['delete', () => deletePoll(p)]]) {
      actions.append(el('button', {type: 'button', textContent: t(`dashPoll.${label}`), className: 'poll-' + label,
                                   onclick: fn}), ' ');
    }
    body.appendChild(tr);
    // launched or not, and whether the last launch is still open: the results' launches
    api('GET', `/events/${ev.id}/polls/${p.id}/results`).then((r) => { state.textContent = launched(r); }, () => {});
  }
}

function launched(results) {
  const last = results.launches[results.launches.length - 1];
  return !last ? t('dashPoll.notLaunched')
    : `${results.launches.length} (${t(last.closedAt ? 'dashPoll.closed' : 'dashPoll.open')})`;
}

async function deletePoll(p) {
  if (!confirm(t('dashPoll.confirmDelete', {name: p.name}))) return;
  try {
    await api('DELETE', `/events/${polls.event.id}/polls/${p.id}`);
    $('poll-form').hidden = $('poll-results').hidden = true;
    await listPolls();
  } catch (e) { pollsError(e); }
}

// ---------------------------------------------------------------- the editor

function blankQuestion() {
  return {text: '', kind: 'single', points: 1, options: [blankOption(), blankOption()], accepted: []};
}
function blankOption() { return {text: '', imageFileId: null, correct: false}; }

async function loadImages() {
  // the account's library images (PNG and JPG files, finished) an option may show
  const files = [];
  for (let offset = 0; ;) {
    const page = await api('GET', `/files?limit=100&offset=${offset}`);
    files.push(...page.items);
    offset += page.items.length;
    if (!page.items.length || offset >= page.total) break;
  }
  polls.images = files.filter((f) => f.status === 'complete' && /\.(png|jpg)$/i.test(f.name));
}

async function editPoll(p) {
  polls.editing = p;
  $('poll-results').hidden = true;
  $('poll-form-title').textContent = p ? t('dashPoll.editTitle', {name: p.name}) : t('dash.pollNew');
  $('poll-name').value = p ? p.name : '';
  $('poll-kind').value = p ? p.kind : 'poll';
  polls.questions = p ? p.questions.map((q) => ({
    text: q.text, kind: q.kind, points: q.points, accepted: [...q.accepted],
    options: q.options.map((o) => ({text: o.text, imageFileId: o.imageFileId, correct: o.correct})),
  })) : [blankQuestion()];
  $('poll-error').textContent = '';
  try { await loadImages(); } catch (e) { polls.images = []; }
  renderQuestions();
  $('poll-form').hidden = false;
  $('poll-form').scrollIntoView();
  $('poll-name').focus();
}

function renderQuestions() {
  const test = $('poll-kind').value === 'test';
  const box = $('poll-questions'); box.textContent = '';
  polls.questions.forEach((q, n) => {
    const fs = el('fieldset', {className: 'poll-q'});
    fs.dataset.index = n;
    const tool = (label, cls, fn, disabled) => el('button', {type: 'button', textContent: label, className: cls,
                                                            onclick: fn, disabled: !!disabled});
    const tools = el('span', {className: 'poll-q-tools'},
      tool('↑', 'q-up', () => move(n, -1), n === 0), ' ',
      tool('↓', 'q-down', () => move(n, 1), n === polls.questions.length - 1), ' ',
      tool(t('dashPoll.removeQuestion'), 'q-remove', () => { polls.questions.splice(n, 1); renderQuestions(); }));
    fs.append(el('legend', {textContent: `${t('dashPoll.questionN', {n: n + 1})} `}, tools));
    const text = el('input', {type: 'text', className: 'q-text', maxLength: 1000, required: true, value: q.text,
                              'aria-label': t('dashPoll.questionN', {n: n + 1}), oninput: () => { q.text = text.value; }});
    const kind = el('select', {className: 'q-kind', 'aria-label': t('dashPoll.answeredByN', {n: n + 1}), onchange: () => {
      q.kind = kind.value;   // a short answer keeps the options typed (not sent) in case the kind goes back
      if (q.kind !== 'short' && !q.options.length) q.options = [blankOption(), blankOption()];
      if (q.kind === 'single') {   // a radio group shows one choice: keep the first one marked
        let seen = false;
        for (const o of q.options) { o.correct = o.correct && !seen; seen = seen || o.correct; }
      }
      renderQuestions();
    }});
    for (const [value, label] of [['single', t('dashPoll.single')], ['multiple', t('dashPoll.multiple')],
                                  ['short', t('dashPoll.short')]]) {
      kind.append(el('option', {value, textContent: label, selected: q.kind === value}));
    }
    fs.append(el('label', {textContent: t('dashPoll.question')}), text, el('label', {textContent: t('dashPoll.answeredBy')}), kind);
    if (test) {
      const points = el('input', {type: 'number', className: 'q-points', min: 1, max: 100, value: q.points,
                                  'aria-label': t('dashPoll.pointsN', {n: n + 1}),
                                  oninput: () => { q.points = Number(points.value); }});
      fs.append(el('label', {textContent: t('dashPoll.points')}), points);
    }
    if (q.kind === 'short') {
      if (test) {
        const acc = el('textarea', {className: 'q-accepted', rows: 2, value: q.accepted.join('\n'),
                                    'aria-label': t('dashPoll.acceptedN', {n: n + 1}),
                                    oninput: () => { q.accepted = acc.value.split('\n'); }});
        fs.append(el('label', {textContent: t('dashPoll.accepted')}), acc);
      }
    } else {
      fs.append(el('label', {textContent: t(test ? 'dashPoll.optionsTest' : 'dashPoll.options')}));
      q.options.forEach((o, m) => fs.append(optionRow(q, n, o, m, test)));
      fs.append(el('button', {type: 'button', className: 'o-add', textContent: t('dashPoll.addOption'),
                              onclick: () => { q.options.push(blankOption()); renderQuestions(); }}));
    }
    box.appendChild(fs);
  });
}

function optionRow(q, n, o, m, test) {
  const row = el('div', {className: 'poll-opt'});
  row.dataset.index = m;
  if (test) {
    const mark = el('input', {type: q.kind === 'single' ? 'radio' : 'checkbox', name: `correct-${n}`,
                              className: 'o-correct', checked: o.correct, title: t('dashPoll.correct'),
                              'aria-label': t('dashPoll.correctNM', {n: n + 1, m: m + 1})});
    mark.onchange = () => {
      if (q.kind === 'single') for (const x of q.options) x.correct = false;
      o.correct = mark.checked;
    };
    row.append(mark);
  }
  const text = el('input', {type: 'text', className: 'o-text', maxLength: 500, value: o.text,
                            placeholder: t('dashPoll.optionM', {m: m + 1}), 'aria-label': t('dashPoll.optionNM', {n: n + 1, m: m + 1}),
                            oninput: () => { o.text = text.value; }});
  const image = el('select', {className: 'o-image', title: t('dashPoll.imageTitle'),
                              'aria-label': t('dashPoll.imageNM', {n: n + 1, m: m + 1})});
  image.append(el('option', {value: '', textContent: t('dashPoll.noImage')}));
  for (const f of polls.images) {
    image.append(el('option', {value: String(f.id), textContent: f.name, selected: f.id === o.imageFileId}));
  }
  if (o.imageFileId && !polls.images.some((f) => f.id === o.imageFileId)) {   // kept as saved
    image.append(el('option', {value: String(o.imageFileId), textContent: t('dashPoll.file', {id: o.imageFileId}), selected: true}));
  }
  const preview = el('img', {alt: ''});
  const showImage = () => {
    preview.hidden = !o.imageFileId;
    if (o.imageFileId) preview.src = `/api/v1/files/${o.imageFileId}/content`;
  };
  image.onchange = () => { o.imageFileId = image.value ? Number(image.value) : null; showImage(); };
  showImage();
  const remove = el('button', {type: 'button', className: 'o-remove', textContent: '✕', title: t('dashPoll.removeOption'),
                               onclick: () => { q.options.splice(m, 1); renderQuestions(); }});
  row.append(text, image, preview, remove);
  return row;
}

function move(n, by) {
  const [q] = polls.questions.splice(n, 1);
  polls.questions.splice(n + by, 0, q);
  renderQuestions();
}

function pollBody() {
  // what the form shows, as the API takes it (a poll's hidden test fields are not sent)
  const test = $('poll-kind').value === 'test';
  return {
    name: $('poll-name').value, kind: $('poll-kind').value,
    questions: polls.questions.map((q) => {
      const out = {text: q.text, kind: q.kind,
                   options: q.kind === 'short' ? [] : q.options.map((o) => {
                     const opt = {text: o.text};
                     if (o.imageFileId) opt.imageFileId = o.imageFileId;
                     if (test) opt.correct = o.correct;
                     return opt;
                   })};
      if (test) {
        out.points = q.points;
        if (q.kind === 'short') out.accepted = q.accepted.map((a) => a.trim()).filter(Boolean);
      }
      return out;
    }),
  };
}

export function setupPolls() {
$('poll-new').onclick = () => editPoll(null);
$('poll-cancel').onclick = () => { $('poll-form').hidden = true; };
$('poll-kind').onchange = renderQuestions;
$('poll-add-question').onclick = () => { polls.questions.push(blankQuestion()); renderQuestions(); };
$('poll-form').onsubmit = async (e) => {
  e.preventDefault();
  const base = `/events/${polls.event.id}/polls`;
  $('poll-error').textContent = '';
  try {
    const saved = polls.editing ? await api('PUT', `${base}/${polls.editing.id}`, pollBody())
                                : await api('POST', base, pollBody());
    $('poll-form').hidden = true;
    await listPolls();
    $('polls-note').textContent = t('dashPoll.saved', {name: saved.name});
  } catch (err) { $('poll-error').textContent = err.message; }
};
}

// ---------------------------------------------------------------- the results

async function showResults(p) {
  const base = `/api/v1/events/${polls.event.id}/polls/${p.id}`;
  $('poll-form').hidden = true;
  $('poll-results-name').textContent = p.name;
  $('poll-export-csv').href = `${base}/export?format=csv`;
  $('poll-export-xlsx').href = `${base}/export?format=xlsx`;
  let got;
  try { got = await api('GET', `/events/${polls.event.id}/polls/${p.id}/results`); } catch (e) { pollsError(e); return; }
  const state = document.querySelector(`#polls tr[data-id="${p.id}"] .poll-state`);
  if (state) state.textContent = launched(got);
  const box = $('poll-launches'); box.textContent = '';
  if (!got.launches.length) box.append(el('p', {className: 'note', textContent: t('dashPoll.notLaunchedYet')}));
  got.launches.forEach((l, n) => {
    const div = el('div', {className: 'poll-launch'});
    div.dataset.id = l.id;
    const when = `${new Date(l.startedAt).toLocaleString()}, ${t(l.closedAt ? 'dashPoll.closed' : 'dashPoll.open')}`;
    let head = t('dashPoll.launch', {n: n + 1, when, count: l.respondents});
    if (l.maxScore !== null && l.maxScore !== undefined) {
      head += t('dashPoll.average', {score: l.averageScore ?? 0, max: l.maxScore});
    }
    div.append(el('h4', {className: 'launch-head', textContent: head}));
    for (const q of l.questions) {
      const qd = el('div', {className: 'result-q'});
      qd.dataset.question = q.id;
      qd.append(el('p', {textContent: t('dashPoll.qAnswered', {text: q.text, n: q.answered})}));
      if (q.options.length) {
        const ul = el('ul');
        for (const o of q.options) {
          const li = el('li', {className: 'result-opt' + (o.correct ? ' correct' : ''),
                               textContent: `${o.correct ? '✓ ' : ''}${o.text}: ${o.count}`});
          li.dataset.option = o.id;
          ul.append(li);
        }
        qd.append(ul);
      }
      div.append(qd);
    }
    box.append(div);
  });
  // R-STAT-1: each attendee's answer and a test's score (the first 100; all of them in the exports)
  const answers = await api('GET', `/events/${polls.event.id}/polls/${p.id}/answers?limit=100`).catch(() => null);
  const body = $('poll-answers'); body.textContent = '';
  for (const a of answers ? answers.items : []) {
    const tr = document.createElement('tr');
    cell(tr, a.name); cell(tr, a.email); cell(tr, new Date(a.answeredAt).toLocaleString());
    cell(tr, a.score === null ? '' : t('dashPoll.scoreOf', {score: a.score, max: got.launches.find((l) => l.id === a.launchId)?.maxScore ?? ''}));
    body.appendChild(tr);
  }
  $('poll-answers-note').textContent = !answers ? '' : answers.total > answers.items.length
    ? t('dashPoll.some', {n: answers.items.length, total: answers.total}) : t('dashPoll.all', {total: answers.total});
  $('poll-results').hidden = false;
  $('poll-results').scrollIntoView();
}
