// The people panel: everyone in the room with role, media state and, for the host, floor and remove buttons; the
// staff see who raised a hand (✋) and the host silences a person in the chat from here too (issue 16).
import { t } from '/static/i18n.js';
import { isSilenced } from './chat.js';
import { $, el, hue, initials } from './dom.js';
import { page, S } from './state.js';

function mediaState(micOn, camOn) {
  const span = el('span', { class: 'media-state' });
  span.innerHTML = `<svg class="${micOn ? 'on' : 'off'}" viewBox="0 0 24 24"><use href="#i-mic${micOn ? '' : '-off'}"/></svg>`
    + `<svg class="${camOn ? 'on' : 'off'}" viewBox="0 0 24 24"><use href="#i-cam${camOn ? '' : '-off'}"/></svg>`;
  return span;
}

export function renderPeople() {
  const ul = $('#people-list');
  const me = page.client.participant && page.client.participant.id;
  const host = S.role === 'host';
  const hands = new Set(host || S.role === 'presenter' ? page.client.interaction.hands.queue.map((h) => h.participant) : []);
  const order = { host: 0, presenter: 1, attendee: 2 };
  const people = [...page.client.participants.values()].sort((a, b) => (order[a.role] ?? 3) - (order[b.role] ?? 3) || String(a.name).localeCompare(b.name));
  const rows = people.map((p) => {
    const tracks = [...page.client.tracks.values()].filter((x) => x.participant === p.id);
    const micOn = p.id === me ? page.client.localTracks('microphone').length && !page.client.muted.audio : tracks.some((x) => x.kind === 'audio' && !x.muted);
    const camOn = p.id === me ? page.client.localTracks('camera').length && !page.client.muted.video : tracks.some((x) => x.source === 'camera' && !x.muted);
    const actions = el('span', { class: 'actions' });
    if (host && p.id !== me) {
      if (p.role === 'attendee') {
        const floor = !!p.floor;
        actions.append(el('button', { type: 'button', class: 'small', dataset: { act: floor ? 'revokeFloor' : 'grantFloor', id: p.id } }, t(floor ? 'people.revoke' : 'people.grant')));
        const off = isSilenced(p.id);
        actions.append(el('button', { type: 'button', class: 'small', dataset: { chatAct: 'silence', pid: p.id, on: String(!off), i18n: off ? 'chat.unsilence' : 'chat.silence' } }, t(off ? 'chat.unsilence' : 'chat.silence')));
      }
      if (p.role === 'attendee' || p.role === 'presenter') {   // issue 17, R-INT-5 (a phone is refused by the server)
        const to = p.role === 'attendee' ? 'presenter' : 'attendee';
        actions.append(el('button', { type: 'button', class: 'small', dataset: { act: 'setRole', role: to, id: p.id } }, t(to === 'presenter' ? 'people.makePresenter' : 'people.makeAttendee')));
      }
      actions.append(el('button', { type: 'button', class: 'small danger', dataset: { act: 'remove', id: p.id } }, t('people.remove')));
    }
    const status = p.status && p.status !== 'joined' ? el('span', { class: 'badge' }, t(`status.${p.status}`)) : null;
    return el('li', { dataset: { id: p.id } },
      el('span', { class: 'mini-avatar', style: `--hue:${hue(p.id || p.name)}` }, initials(p.name)),
      el('span', { class: 'who' }, el('span', { class: 'pname' }, `${hands.has(p.id) ? '✋ ' : ''}${p.name}${p.id === me ? ` (${t('tile.you')})` : ''}`),
        el('small', {}, t(`role.${p.role}`) + (p.floor ? ` · ${t('people.hasFloor')}` : ''), ' ', status)),
      mediaState(micOn, camOn),
      actions);
  });
  ul.replaceChildren(...rows);
  if (S.role !== 'host' && (S.room || {}).type === 'webinar') {
    ul.append(el('li', { class: 'muted note' }, t('people.webinarNote')));
  }
}
