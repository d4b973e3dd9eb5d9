// Account settings (R-ACC-5): personal data, language, the e-mails' signature and auto-recording, through
// GET and PATCH /api/v1/account/settings; what the account is (GET /api/v1/me).
import { $, api, el, t, when } from './core.js';

let onLanguage = () => {};

/** Show the account's facts and its settings as the server has them. */
export async function showSettings(me) {
  const facts = $('account-facts'); facts.textContent = '';
  const rows = [
    [t('dash.email'), me.user.email],
    [t('dash.pageNameShort'), me.account.pageName],
    [t('dash.role'), t(`dash.role_${me.role}`)],
  ];
  if (me.account.plan) rows.push([t('dash.plan'), me.account.plan]);
  if (me.account.trialEndsAt && me.account.plan === 'trial') rows.push([t('dash.trialEnds'), when(me.account.trialEndsAt)]);
  for (const [k, v] of rows) facts.append(el('dt', { textContent: k }), el('dd', { textContent: v }));
  const s = await api('GET', '/account/settings');
  $('settings-name').value = s.name;
  $('settings-language').value = s.language;
  $('settings-signature').value = s.signature;
  $('settings-autorecord').checked = s.autoRecord;
  const shared = me.role !== 'additional';   // an additional user changes only their name and language
  $('settings-signature').disabled = $('settings-autorecord').disabled = !shared;
  $('settings-shared-note').hidden = shared;
  $('settings-note').textContent = ''; $('settings-error').textContent = '';
}

/** Wire the settings form; languageChanged(lang) runs after a saved change of language. */
export function setupSettings(getMe, languageChanged) {
  onLanguage = languageChanged;
  $('settings-form').onsubmit = async (ev) => {
    ev.preventDefault();
    const me = getMe();
    const body = { name: $('settings-name').value, language: $('settings-language').value };
    if (me.role !== 'additional') {
      body.signature = $('settings-signature').value;
      body.autoRecord = $('settings-autorecord').checked;
    }
    try {
      const saved = await api('PATCH', '/account/settings', body);
      $('settings-error').textContent = '';
      me.user.name = saved.name;
      await onLanguage(saved.language);
      $('settings-note').textContent = t('dash.saved');
    } catch (e) { $('settings-note').textContent = ''; $('settings-error').textContent = e.message; }
  };
}
