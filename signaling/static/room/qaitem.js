// One question of the Q&A tab as the page shows it (R-INT-2): the asker's name, the time, the text as TEXT
// (never HTML), its state (answered, dismissed, on the stage), the upvote toggle with the count, and the staff's
// actions (answer, dismiss; the host's publish and take down).
import { language, t } from '/static/i18n.js';
import { el } from './dom.js';

function act(name, key, q, cls = 'small') {
  return el('button', { type: 'button', class: cls, dataset: { qaAct: name, id: q.id, i18n: key } }, t(key));
}

function mark(key, cls) { return el('span', { class: `badge ${cls}`, dataset: { i18n: key } }, t(key)); }

/** The questions in the order the tab lists them: most votes first, then the oldest. */
export function sortQuestions(list) {
  return [...list].sort((a, b) => (b.votes || 0) - (a.votes || 0) || (a.at || 0) - (b.at || 0));
}

/**
 * The <li> of question q. voted: this person upvoted it; published: it is on the stage; role: this page's role.
 */
export function questionElement(q, voted, published, role) {
  const staff = role === 'host' || role === 'presenter';
  const from = q.from || {};
  const meta = el('div', { class: 'meta' }, el('b', { class: 'name' }, String(from.name || '?')));
  if (q.private) meta.append(el('span', { class: 'private-mark' }, '🔒'));
  if (q.state === 'answered') meta.append(mark('qa.answered', 'ok'));
  if (q.state === 'dismissed') meta.append(mark('qa.dismissed', 'muted'));
  if (published) meta.append(mark('qa.onStage', 'onstage'));
  if (q.at) {
    meta.append(el('time', { datetime: new Date(q.at).toISOString() },
      new Date(q.at).toLocaleTimeString(language(), { hour: '2-digit', minute: '2-digit' })));
  }
  const open = q.state !== 'dismissed';
  const vote = el('button', {
    type: 'button', class: `vote${voted ? ' on' : ''}`, 'aria-pressed': String(!!voted), disabled: q.state !== 'open',
    dataset: { qaAct: 'vote', id: q.id }, title: t(voted ? 'qa.unvote' : 'qa.upvote'),
  }, '▲ ', el('span', { class: 'votes' }, String(q.votes || 0)));
  const li = el('li', { class: `question ${q.state || 'open'}${published ? ' published' : ''}`, dataset: { id: q.id } },
    vote, el('div', { class: 'body' }, meta, el('div', { class: 'text' }, String(q.text ?? ''))));
  if (staff) {
    const acts = el('div', { class: 'actions' });
    if (q.state === 'open') acts.append(act('answer', 'qa.answer', q));
    if (open) acts.append(act('dismiss', 'qa.dismiss', q));
    if (role === 'host' && open) {
      acts.append(published ? act('unpublish', 'qa.unpublish', q) : act('publish', 'qa.publish', q, 'small primary'));
    }
    li.lastChild.append(acts);
  }
  return li;
}
