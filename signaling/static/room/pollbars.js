// A poll's results drawn as text (issue 16, R-INT-3): per question its text, then per option a bar with the count
// and the percentage of those who answered the question; a test's correct options marked ✓ (the staff always,
// everyone once the host closed it and showed the results). Short answers are listed for the staff (polls.js).
import { t } from '/static/i18n.js';
import { el } from './dom.js';

const pct = (n, of) => (of ? Math.round((100 * n) / of) : 0);

/** The element of the results `r` ({respondents, questions: [{id, answered, counts}], averageScore?, maxScore?},
 * or null: nobody yet) of `poll` ({questions}); `correct` a test's key by question id (or null). */
export function resultsElement(poll, r, correct) {
  const byId = new Map(((r && r.questions) || []).map((q) => [q.id, q]));
  const box = el('div', { class: 'poll-results' });
  box.append(el('p', { class: 'muted poll-respondents' }, t('poll.respondents', { n: (r && r.respondents) || 0 })));
  if (r && r.maxScore !== undefined && r.averageScore !== null && r.averageScore !== undefined) {
    box.append(el('p', { class: 'muted' }, t('poll.average', { n: r.averageScore, max: r.maxScore })));
  }
  for (const q of poll.questions || []) {
    const got = byId.get(q.id) || { answered: 0, counts: {} };
    const right = new Set(((correct && correct[String(q.id)]) || []).map(String));
    const part = el('div', { class: 'poll-q', dataset: { question: String(q.id) } }, el('h4', {}, String(q.text ?? '')));
    if (q.kind === 'short') {
      part.append(el('p', { class: 'muted' }, t('poll.shortCount', { n: got.answered || 0 })));
    }
    for (const o of q.kind === 'short' ? [] : q.options || []) {
      const n = (got.counts || {})[String(o.id)] || 0;
      const p = pct(n, got.answered);
      const ok = right.has(String(o.id));
      const bar = el('span', { class: 'poll-bar' }, el('span', { class: ok ? 'poll-fill ok' : 'poll-fill' }));
      bar.firstChild.style.width = `${p}%`;
      part.append(el('div', { class: ok ? 'poll-opt correct' : 'poll-opt', dataset: { option: String(o.id) } },
        el('span', { class: 'poll-opt-text' }, `${ok ? '✓ ' : ''}${String(o.text ?? '')}`),
        bar, el('span', { class: 'poll-count' }, `${n} · ${p}%`)));
    }
    box.append(part);
  }
  return box;
}
