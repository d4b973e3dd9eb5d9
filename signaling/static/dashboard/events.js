// The dashboard's events: the list with its actions, invitations (pasted addresses, the address book's
// contacts and groups, re-sending), the embed snippet, on-demand viewers' messages and the history with its
// chat and Q&A downloads (issue 7 part 8, issue 16, issue 20 item 2). The event form is editor.js, polls
// polls.js.
import { $, api, cell, el, t, when } from './core.js';
import { showPolls } from './polls.js';
import { openStatistics } from './stats.js';
import { openTimeline } from './tleditor.js';
import { editEvent, formReady, setupEditor } from './editor.js';
import { setupInvitations, showEmbed, showInvite, showRegistrations } from './invitations.js';

/** An event's kind or status in the page's language (the API's word when there is no translation). */
function named(what, value, fallback = value) {
  const key = `dash.${what}_${value}`;
  const text = t(key);
  return text === key ? fallback : text;
}

/** Draw the events and the history again. */
export async function refreshEvents() {
  const ready = formReady();   // beside the list, not before it
  const events = await api('GET', '/events?limit=100');
  const body = $('events'); body.textContent = '';
  for (const ev of events.items) {
    const tr = document.createElement('tr'); tr.dataset.id = ev.id;
    cell(tr, ev.name); cell(tr, named('kind', ev.kind, ev.kind.replace('_', ' ')));
    // R-AUTO-1: an automated event that could not start says why (a new start time plans it again)
    const failure = ev.status === 'failed' && ev.automation && ev.automation.failure;
    const st = cell(tr, failure ? `${named('status', 'failed')}: ${failure.message}` : named('status', ev.status));
    if (failure) st.className = 'error';
    cell(tr, ev.roomId);
    const actions = cell(tr, ''); actions.className = 'actions';
    const add = (cls, label, fn) => {
      const b = el('button', { type: 'button', textContent: label, className: `small act-${cls}`, onclick: fn });
      b.setAttribute('aria-label', `${label}: ${ev.name}`);
      actions.appendChild(b);
    };
    add('edit', t('ev.edit'), () => editEvent(ev));   // issue 20 item 2
    add('invite', t('dash.invite'), () => showInvite(ev));
    add('embed', t('ev.embed'), () => showEmbed(ev));   // R-ROOM-12
    if (ev.registration.enabled) add('registrations', t('ev.registrations'), () => showRegistrations(ev));   // R-ROOM-9
    if (ev.status === 'live') add('end', t('dash.end'), () => act(() => api('POST', `/events/${ev.id}/end`)));
    else if (ev.kind !== 'on_demand') add('start', t('dash.start'), () => act(() => api('POST', `/events/${ev.id}/start`)));
    if (ev.kind === 'on_demand') add('messages', t('dash.messages'), () => showMessages(ev));   // R-AUTO-2
    add('polls', t('dash.polls'), () => showPolls(ev));   // R-INT-3
    if (ev.kind === 'automated') add('timeline', t('tl.nav'), () => openTimeline(ev));   // R-AUTO-1
    add('statistics', t('stats.nav'), () => openStatistics(ev));   // R-STAT-1
    add('delete', t('dash.delete'), () => {
      if (confirm(t('dash.confirmDeleteEvent', { name: ev.name }))) act(() => api('DELETE', `/events/${ev.id}`));
    });
    body.appendChild(tr);
  }
  if (!events.items.length) {
    const tr = document.createElement('tr');
    cell(tr, t('dash.noEvents')).colSpan = 5;
    body.appendChild(tr);
  }
  const hist = await api('GET', '/history?limit=50');
  const hb = $('history'); hb.textContent = '';
  for (const h of hist.items) {
    const tr = document.createElement('tr');
    cell(tr, when(h.startedAt)); cell(tr, h.name);
    cell(tr, h.endedAt ? when(h.endedAt) : named('status', 'live')); cell(tr, String(h.participants));
    cell(tr, String(h.ctaClicks));  // issue 16 (R-INT-4): counted call-to-action clicks
    // issue 16 (R-INT-1, R-INT-2): the session's chat and its Q&A list as downloads
    for (const what of ['chat', 'questions']) {
      const td = cell(tr, '');
      for (const ext of ['csv', 'xlsx']) {
        const a = el('a', { href: `/api/v1/events/${h.eventId}/sessions/${h.sessionId}/${what}.${ext}`,
                            download: '', textContent: ext.toUpperCase(), className: what + '-' + ext });
        a.setAttribute('aria-label', `${t(what === 'chat' ? 'dash.chat' : 'dash.qa')} ${ext.toUpperCase()}: ${h.name}`);
        td.append(a, ' ');
      }
    }
    hb.appendChild(tr);
  }
  const outdated = events.items.filter((e) => e.invitationsOutdated > 0);
  $('reminder').textContent = outdated.length
    ? t('dash.resend', { names: outdated.map((e) => e.name).join(', ') }) : '';
  await ready;
}

// R-AUTO-2: what the viewers of an on-demand event wrote; each is answered once, by e-mail to the viewer
async function showMessages(ev) {
  $('messages-event').textContent = ev.name; $('messages-view').hidden = false;
  const list = await api('GET', `/events/${ev.id}/messages?limit=100`);
  $('messages-note').textContent = list.total ? t('dash.messagesCount', { n: list.total }) : t('dash.noMessages');
  const box = $('messages'); box.textContent = '';
  for (const m of list.items) {
    const div = el('div', { className: 'viewer-message' }); div.dataset.id = m.id;
    const head = el('p', {}, el('strong', { textContent: m.name }), ` <${m.email}>, ${when(m.createdAt)}`);
    const text = el('p', { className: 'prewrap', textContent: m.text });
    div.append(head, text);
    if (m.answeredAt) {
      div.append(el('p', { className: 'note answered',
                           textContent: `${t('dash.answeredAt', { when: when(m.answeredAt) })}: ${m.answer}` }));
    } else {
      const area = el('textarea', { rows: 3, maxLength: 2000, className: 'answer-text',
                                    'aria-label': t('dash.answerTo', { name: m.name }) });
      const send = el('button', { type: 'button', textContent: t('dash.answerSend'), className: 'answer-send' });
      const err = el('p', { className: 'error' });
      send.onclick = async () => {
        try {
          await api('POST', `/events/${ev.id}/messages/${m.id}/answer`, { text: area.value });
          await showMessages(ev);
        } catch (e) { err.textContent = e.message; }
      };
      div.append(area, send, err);
    }
    box.appendChild(div);
  }
}

async function act(fn) {
  try { await fn(); } catch (e) { $('reminder').textContent = e.message; return; }
  await refreshEvents();
}

/** Wire the events' forms (once). */
export function setupEvents() {
  setupEditor(refreshEvents);
  setupInvitations(refreshEvents);
}
