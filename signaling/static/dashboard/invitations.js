// Invitations of an event (R-ROOM-10, issue 20 item 2): pasted addresses, contacts and contact groups of the
// address book (GET /contacts, /groups), the invitations sent with who holds an outdated one (the settings
// changed after it was sent) and re-sending, one or all (POST .../invitations/resend); and the embed
// snippet of the event's room for another site (GET /events/{id}/embed, R-ROOM-12) with a copy button; who
// registered, with their answers to the form's own fields (GET /events/{id}/registrations, R-ROOM-9).
import { addStrings, errorText } from '/static/i18n.js';
import { $, api, cell, el, t, when } from './core.js';

addStrings({
  en: {
    'ev.inviteGroups': 'Contact groups',
    'ev.inviteContacts': 'Contacts',
    'ev.noGroups': 'No contact groups yet.',
    'ev.noContacts': 'No contacts yet.',
    'ev.moreContacts': 'The first {n} of {total} contacts; invite the others through a group.',
    'ev.groupMembers': '{name} ({n})',
    'ev.invitations': 'Invitations sent',
    'ev.role': 'Role',
    'ev.sent': 'Sent',
    'ev.state': 'State',
    'ev.role_attendee': 'attendee',
    'ev.role_presenter': 'presenter',
    'ev.sentTimes': '{when} ({n}×)',
    'ev.current': 'current',
    'ev.outdated': 'old settings: re-send',
    'ev.declined': 'declined {when}',
    'ev.resend': 'Re-send',
    'ev.resendAll': 'Re-send all the invitations',
    'ev.resent': 'Re-sent {n} invitation(s).',
    'ev.noInvitations': 'No invitations yet.',
    'ev.invitationsCount': '{n} invitation(s); {outdated} with the old settings.',
    'ev.embed': 'Embed',
    'ev.registrations': 'Registrations',
    'ev.regsOf': 'Registered for',
    'ev.regsCount': '{n} registered.',
    'ev.regsNone': 'Nobody has registered yet.',
    'ev.regsOff': 'Registration is off for this event: turn it on in the form (Edit).',
    'ev.regsName': 'Name',
    'ev.regsWhen': 'Registered',
    'ev.yes': 'yes',
    'ev.no': 'no',
    'ev.embedOf': 'Embed on your site:',
    'ev.embedCode': 'HTML to paste into your page',
    'ev.copy': 'Copy',
    'ev.copied': 'Copied.',
    'ev.copyFailed': 'The browser did not let us copy: select the text and copy it.',
  },
  ru: {
    'ev.inviteGroups': 'Группы контактов',
    'ev.inviteContacts': 'Контакты',
    'ev.noGroups': 'Групп контактов пока нет.',
    'ev.noContacts': 'Контактов пока нет.',
    'ev.moreContacts': 'Первые {n} из {total} контактов; остальных пригласите через группу.',
    'ev.groupMembers': '{name} ({n})',
    'ev.invitations': 'Отправленные приглашения',
    'ev.role': 'Роль',
    'ev.sent': 'Отправлено',
    'ev.state': 'Состояние',
    'ev.role_attendee': 'участник',
    'ev.role_presenter': 'ведущий',
    'ev.sentTimes': '{when} ({n}×)',
    'ev.current': 'актуальное',
    'ev.outdated': 'старые настройки: отправьте повторно',
    'ev.declined': 'отклонено {when}',
    'ev.resend': 'Отправить повторно',
    'ev.resendAll': 'Отправить все приглашения повторно',
    'ev.resent': 'Отправлено повторно: {n}.',
    'ev.noInvitations': 'Приглашений пока нет.',
    'ev.invitationsCount': 'Приглашений: {n}; со старыми настройками: {outdated}.',
    'ev.embed': 'Встроить',
    'ev.registrations': 'Регистрации',
    'ev.regsOf': 'Зарегистрировались на',
    'ev.regsCount': 'Зарегистрировались: {n}.',
    'ev.regsNone': 'Пока никто не зарегистрировался.',
    'ev.regsOff': 'Регистрация для этого мероприятия выключена: включите её в форме («Изменить»).',
    'ev.regsName': 'Имя',
    'ev.regsWhen': 'Когда',
    'ev.yes': 'да',
    'ev.no': 'нет',
    'ev.embedOf': 'Встроить на ваш сайт:',
    'ev.embedCode': 'HTML-код для вашей страницы',
    'ev.copy': 'Копировать',
    'ev.copied': 'Скопировано.',
    'ev.copyFailed': 'Браузер не дал скопировать: выделите текст и скопируйте его.',
  },
});

let inviting = null;
let refresh = async () => {};

function checks(box, items, cls, label) {
  box.replaceChildren(...items.map((x) => {
    const c = el('input', { type: 'checkbox', id: `${cls}-${x.id}`, value: String(x.id), className: cls });
    return el('label', { className: 'check', htmlFor: c.id }, c, el('span', { textContent: label(x) }));
  }));
}

/** The Invite action: the form for this event, the address book to pick from and the invitations sent. */
export async function showInvite(ev) {
  inviting = ev;
  $('invite-event').textContent = ev.name; $('invite-view').hidden = false;
  $('invite-result').textContent = ''; $('invite-error').textContent = '';
  const [groups, contacts] = await Promise.all([
    api('GET', '/groups').catch(() => ({ items: [] })), api('GET', '/contacts?limit=100').catch(() => ({ items: [], total: 0 }))]);
  checks($('invite-groups'), groups.items, 'invite-group', (g) => t('ev.groupMembers', { name: g.name, n: g.members }));
  if (!groups.items.length) $('invite-groups').textContent = t('ev.noGroups');
  const reachable = contacts.items.filter((c) => c.email);
  checks($('invite-contacts'), reachable, 'invite-contact', (c) => (c.name ? `${c.name} <${c.email}>` : c.email));
  if (!reachable.length) $('invite-contacts').textContent = t('ev.noContacts');
  else if (contacts.total > contacts.items.length) {
    $('invite-contacts').append(el('p', { className: 'muted', textContent: t('ev.moreContacts', { n: contacts.items.length, total: contacts.total }) }));
  }
  await drawInvitations();
  $('invite-view').scrollIntoView({ block: 'start' });
  $('invite-emails').focus();
}

async function drawInvitations() {
  const ev = inviting;
  const list = await api('GET', `/events/${ev.id}/invitations?limit=100`);
  const body = $('invitations'); body.textContent = '';
  for (const inv of list.items) {
    const tr = el('tr', { className: inv.outdated ? 'invitation outdated' : 'invitation' });
    tr.dataset.id = inv.id;
    cell(tr, inv.name ? `${inv.name} <${inv.email}>` : inv.email);
    cell(tr, t(`ev.role_${inv.role}`));
    cell(tr, inv.lastSentAt ? t('ev.sentTimes', { when: when(inv.lastSentAt), n: inv.sentCount }) : '');
    cell(tr, inv.declinedAt ? t('ev.declined', { when: when(inv.declinedAt) }) : t(inv.outdated ? 'ev.outdated' : 'ev.current'));
    const td = cell(tr, ''); td.className = 'actions';
    td.append(el('button', { type: 'button', className: 'small inv-resend', textContent: t('ev.resend'),
      'aria-label': `${t('ev.resend')}: ${inv.email}`, onclick: () => resend([inv.id]) }));
    body.append(tr);
  }
  const outdated = list.items.filter((i) => i.outdated).length;
  $('invitations-note').textContent = list.total ? t('ev.invitationsCount', { n: list.total, outdated }) : t('ev.noInvitations');
  $('invite-resend-all').hidden = !list.total;
}

async function resend(ids) {
  $('invite-error').textContent = '';
  try {
    const res = await api('POST', `/events/${inviting.id}/invitations/resend`, ids ? { ids } : {});
    $('invite-result').textContent = t('ev.resent', { n: res.total });
    await drawInvitations();
    await refresh();
  } catch (e) { $('invite-error').textContent = errorText(e.code, e.message); }
}

/** The Embed action: the snippet of the event's room, with a copy button. */
export async function showEmbed(ev) {
  $('embed-event').textContent = ev.name; $('embed-view').hidden = false; $('embed-note').textContent = '';
  const got = await api('GET', `/events/${ev.id}/embed`);
  $('embed-code').value = got.html;
  $('embed-view').scrollIntoView({ block: 'start' });
  $('embed-code').focus();
}

/** The Registrations action: who registered (newest first as the API gives them) and their answers, one
 * column per field of the form. */
export async function showRegistrations(ev) {
  $('regs-event').textContent = ev.name; $('regs-view').hidden = false;
  const list = await api('GET', `/events/${ev.id}/registrations?limit=100`);
  const custom = ev.registration.fields.slice(3);
  const head = el('tr', {}, ...[t('ev.regsName'), t('dash.email'), ...custom.map((f) => f.label), t('ev.regsWhen')]
    .map((h) => el('th', { textContent: h })));
  $('regs-head').replaceChildren(head);
  const body = $('regs'); body.textContent = '';
  for (const r of list.items) {
    const tr = el('tr', { className: 'registration' });
    cell(tr, `${r.firstName} ${r.lastName}`); cell(tr, r.email);
    for (const f of custom) {
      const v = r.fields[f.name];
      cell(tr, v === true ? t('ev.yes') : v === false ? t('ev.no') : v == null ? '' : String(v));
    }
    cell(tr, when(r.createdAt));
    body.append(tr);
  }
  $('regs-note').textContent = list.total ? t('ev.regsCount', { n: list.total })
    : t(ev.registration.enabled ? 'ev.regsNone' : 'ev.regsOff');
  $('regs-view').scrollIntoView({ block: 'start' });
}

/** Wire the invitation form and the copy button (once). */
export function setupInvitations(refreshList) {
  refresh = refreshList;
  $('invite-form').onsubmit = async (ev) => {
    ev.preventDefault();
    const emails = $('invite-emails').value.split(/[\s,;]+/).filter(Boolean);
    const picked = (cls) => [...document.querySelectorAll(`input.${cls}:checked`)].map((c) => Number(c.value));
    const body = { emails, contactIds: picked('invite-contact'), groupIds: picked('invite-group'), role: $('invite-role').value };
    try {
      const res = await api('POST', `/events/${inviting.id}/invitations`, body);
      $('invite-result').textContent = t('dash.invited', { n: res.total });
      $('invite-error').textContent = '';
      $('invite-emails').value = '';
      for (const c of document.querySelectorAll('#invite-form input[type=checkbox]')) c.checked = false;
      await drawInvitations();
    } catch (e) { $('invite-result').textContent = ''; $('invite-error').textContent = e.message; }
  };
  $('invite-resend-all').onclick = () => resend(null);
  $('embed-copy').onclick = async () => {
    try {
      await navigator.clipboard.writeText($('embed-code').value);
      $('embed-note').textContent = t('ev.copied');
    } catch (e) {
      $('embed-code').select();
      $('embed-note').textContent = document.execCommand && document.execCommand('copy') ? t('ev.copied') : t('ev.copyFailed');
    }
  };
}
