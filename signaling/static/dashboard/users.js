// Users (R-ACC-2: additional users invited by e-mail, removed) and sub-accounts (R-ACC-3: created with a
// package, the package changed, logged in as, reassigned or deleted after the page name is typed again).
// The main account's only: others see why not.
import { $, api, button, cell, el, say, t } from './core.js';

let danger = null;   // {sub, what: 'reassign' | 'delete'} while the confirmation form is open
let afterLoginAs = async () => {};

/** Show the users and the sub-accounts (main account only). */
export async function showUsers(me) {
  const main = me.role === 'main';
  $('users-forbidden').hidden = main;
  $('users-panel').hidden = $('subs-panel').hidden = !main;
  say('users-error', ''); say('subs-error', '');
  if (!main) return;
  await Promise.all([listUsers(), listSubs()]);
}

async function listUsers() {
  const users = await api('GET', '/users');
  const body = $('users'); body.textContent = '';
  for (const u of users.items) {
    const tr = el('tr', { 'data-id': u.id });
    cell(tr, u.name); cell(tr, u.email);
    cell(tr, t(u.role === 'owner' ? 'dash.role_main' : 'dash.role_additional'));
    cell(tr, t(u.active ? 'dash.active' : 'dash.pending'));
    const td = cell(tr, '');
    if (u.role !== 'owner') {
      td.append(button(t('dash.remove'), 'small danger user-delete', async () => {
        if (!confirm(t('dash.confirmRemoveUser', { name: u.name }))) return;
        try { await api('DELETE', `/users/${u.id}`); await listUsers(); } catch (e) { say('users-error', e.message); }
      }, `${t('dash.remove')}: ${u.name}`));
    }
    body.append(tr);
  }
}

async function listSubs() {
  const subs = await api('GET', '/subaccounts');
  const body = $('subs'); body.textContent = '';
  for (const sub of subs.items) {
    const tr = el('tr', { 'data-id': sub.id });
    cell(tr, sub.pageName);
    cell(tr, sub.user ? `${sub.user.name} <${sub.user.email}>${sub.user.active ? '' : ` (${t('dash.pending')})`}` : '');
    const pkg = el('select', { className: 'sub-package', 'aria-label': `${t('dash.package')}: ${sub.pageName}` });
    for (const p of ['small', 'medium', 'large']) {
      pkg.append(el('option', { value: p, textContent: t(`dash.pkg${p[0].toUpperCase()}${p.slice(1)}`), selected: sub.package === p }));
    }
    pkg.onchange = async () => {
      try {
        await api('PATCH', `/subaccounts/${sub.id}`, { package: pkg.value });
        say('subs-note', t('dash.packageChanged', { name: sub.pageName }));
      } catch (e) { say('subs-error', e.message); }
    };
    cell(tr, '').append(pkg);
    const actions = cell(tr, ''); actions.className = 'actions';
    actions.append(
      button(t('dash.loginAs'), 'small sub-login', () => loginAs(sub), `${t('dash.loginAs')}: ${sub.pageName}`),
      button(t('dash.reassign'), 'small sub-reassign', () => openDanger(sub, 'reassign'), `${t('dash.reassign')}: ${sub.pageName}`),
      button(t('dash.delete'), 'small danger sub-delete', () => openDanger(sub, 'delete'), `${t('dash.delete')}: ${sub.pageName}`));
    body.append(tr);
  }
  $('subs-note').textContent = subs.items.length ? '' : t('dash.noSubs');
}

async function loginAs(sub) {
  try {
    await api('POST', `/subaccounts/${sub.id}/login-as`);
    location.hash = '#events';
    await afterLoginAs();
  } catch (e) { say('subs-error', e.message); }
}

function openDanger(sub, what) {
  danger = { sub, what };
  $('sub-danger-title').textContent = t(what === 'delete' ? 'dash.deleteSubTitle' : 'dash.reassignSubTitle', { name: sub.pageName });
  $('sub-danger-lead').textContent = t(what === 'delete' ? 'dash.deleteSubLead' : 'dash.reassignSubLead');
  $('sub-reassign-fields').hidden = what !== 'reassign';
  $('sub-new-user').required = $('sub-new-email').required = what === 'reassign';
  $('sub-danger-go').textContent = t(what === 'delete' ? 'dash.deleteForGood' : 'dash.reassign');
  $('sub-confirm').value = '';
  $('sub-danger').hidden = false;
  $('sub-confirm').focus();
}

/** Wire the forms (once); loggedInAs() runs after a log-in-as. */
export function setupUsers(loggedInAs) {
  afterLoginAs = loggedInAs;
  $('user-form').onsubmit = async (ev) => {
    ev.preventDefault();
    try {
      const u = await api('POST', '/users', { name: $('user-name').value, email: $('user-email').value });
      $('user-form').reset(); say('users-error', '');
      await listUsers();
      say('users-note', t('dash.userInvited', { email: u.email }));
    } catch (e) { say('users-error', e.message); }
  };
  $('sub-form').onsubmit = async (ev) => {
    ev.preventDefault();
    try {
      const sub = await api('POST', '/subaccounts', { pageName: $('sub-page').value, userName: $('sub-user').value,
                                                      email: $('sub-email').value, package: $('sub-package').value });
      $('sub-form').reset(); say('subs-error', '');
      await listSubs();
      say('subs-note', t('dash.subCreated', { name: sub.pageName }));
    } catch (e) { say('subs-error', e.message); }
  };
  $('sub-danger-cancel').onclick = () => { danger = null; $('sub-danger').hidden = true; };
  $('sub-danger').onsubmit = async (ev) => {
    ev.preventDefault();
    if (!danger) return;
    const { sub, what } = danger;
    try {
      if (what === 'delete') {
        await api('DELETE', `/subaccounts/${sub.id}`, { confirm: $('sub-confirm').value });
      } else {
        await api('POST', `/subaccounts/${sub.id}/reassign`, { confirm: $('sub-confirm').value,
          userName: $('sub-new-user').value, email: $('sub-new-email').value });
      }
      danger = null; $('sub-danger').hidden = true; $('sub-danger').reset(); say('subs-error', '');
      await listSubs();
      say('subs-note', t(what === 'delete' ? 'dash.subDeleted' : 'dash.subReassigned', { name: sub.pageName }));
    } catch (e) { say('subs-error', e.message); }
  };
}
