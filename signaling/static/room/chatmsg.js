// One chat message as the page shows it (R-INT-1): the sender's name and role, the time, a private message's
// mark, the text as TEXT (never HTML) with its http(s) links made clickable, and the staff's actions on it.
import { language, t } from '/static/i18n.js';
import { el } from './dom.js';

const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;
const TRAILING = /[.,;:!?»"'\]}]$/;

/** Where a link found in the text ends: sentence punctuation and an unbalanced ')' stay text. */
function trimUrl(url) {
  for (;;) {
    if (TRAILING.test(url)) { url = url.slice(0, -1); continue; }
    if (url.endsWith(')') && (url.match(/\(/g) || []).length < (url.match(/\)/g) || []).length) {
      url = url.slice(0, -1);
      continue;
    }
    return url;
  }
}

/** The text as nodes: text nodes, and <a> for each http(s) URL (any other scheme stays text). */
export function linkify(text) {
  const frag = document.createDocumentFragment();
  let last = 0;
  for (const m of String(text).matchAll(URL_RE)) {
    const url = trimUrl(m[0]);
    let href = null;
    try {
      const u = new URL(url);
      if (u.protocol === 'http:' || u.protocol === 'https:') href = u.href;
    } catch { /* not a URL after all: text */ }
    if (!href || m.index < last) continue;
    frag.append(text.slice(last, m.index),
      el('a', { href, target: '_blank', rel: 'noopener noreferrer nofollow' }, url));
    last = m.index + url.length;
  }
  frag.append(text.slice(last));
  return frag;
}

function label(key, cls = '') { return el('span', { class: cls, dataset: { i18n: key } }, t(key)); }

function action(act, key, m, extra = {}) {
  return el('button', { type: 'button', class: `small link${act === 'delete' ? ' danger' : ''}`,
    dataset: { chatAct: act, id: m.id, i18n: key, ...extra } }, t(key));
}

/**
 * The <li> of message m. me: this page's participant id; role: this page's role; silenced(pid): whether the
 * host silenced that participant (seen here).
 */
export function messageElement(m, me, role, silenced) {
  const from = m.from || {};
  const staff = role === 'host' || role === 'presenter';
  const meta = el('div', { class: 'meta' }, el('b', { class: 'name' }, String(from.name || '?')));
  if (from.role === 'host' || from.role === 'presenter') meta.append(label(`role.${from.role}`, 'badge role'));
  if (m.to) {
    const mark = el('span', { class: 'private-mark' }, '🔒 ');
    if (m.to === 'staff') mark.append(label('chat.privateToStaff'));
    else if (m.to.id === me) mark.append(label('chat.privateToYou'));
    else mark.append(label('chat.privateTo'), ' ', el('b', {}, String(m.to.name || '?')));
    meta.append(mark);
  }
  if (m.at) {
    const at = new Date(m.at);
    meta.append(el('time', { datetime: at.toISOString() },
      at.toLocaleTimeString(language(), { hour: '2-digit', minute: '2-digit' })));
  }
  const li = el('li', { class: `chat-msg${m.to ? ' private' : ''}${from.id === me ? ' mine' : ''}`,
    dataset: { id: m.id } }, meta, el('div', { class: 'text' }, linkify(String(m.text ?? ''))));
  const acts = el('div', { class: 'actions' });
  // R-INT-2: "Mark as question" (an attendee on their own public message, the staff on anyone's); the list's
  // qa-open class shows it only while Q&A is open (qa.js)
  if (staff || (from.id === me && !m.to)) {
    acts.append(el('button', { type: 'button', class: 'small link qa-mark',
      dataset: { qaMark: m.id, i18n: 'qa.mark' } }, t('qa.mark')));
  }
  if (staff) {
    const attendee = from.role === 'attendee' ? from : m.to && m.to !== 'staff' && m.to.role === 'attendee' ? m.to : null;
    if (attendee && attendee.id !== me) {
      acts.append(action('reply', 'chat.reply', m, { pid: attendee.id, name: String(attendee.name || '') }));
    }
    acts.append(action('delete', 'chat.delete', m));
    if (role === 'host' && from.role === 'attendee') {
      const off = silenced(from.id);
      acts.append(action('silence', off ? 'chat.unsilence' : 'chat.silence', m, { pid: from.id, on: String(!off) }));
    }
  }
  if (acts.childElementCount) li.append(acts);
  return li;
}
