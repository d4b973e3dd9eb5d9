// The organiser's web app at /dashboard (issue 20 item 1): signed out, the sign-in, sign-up, activation and
// password reset pages; signed in, the sections Events, Account, API keys and webhooks, Users and
// sub-accounts, chosen by the address's #fragment (#events, #account, #integrations, #users). Links in
// e-mails land on #activate=<token> and #reset=<token>.
import { applyI18n, detectLanguage, setLanguage, t } from '/static/i18n.js';
import { $, api } from './core.js';
import { hashToken, setupAuth, signOut } from './auth.js';
import { refreshEvents, setupEvents } from './events.js';
import { setupPolls } from './polls.js';
import { setupSettings, showSettings } from './settings.js';
import { setupIntegrations, showIntegrations } from './integrations.js';
import { setupUsers, showUsers } from './users.js';
import { setupStatistics, showStatistics } from './stats.js';
import { setupTimeline, timelineSection } from './tleditor.js';
import { setupLibrary, showLibrary, showTickets } from './library.js';
import { billingVisible, showBilling } from './billing.js';
import { setupAccountBranding } from './branding-editor.js';

const VIEWS = ['login-view', 'signup-view', 'activate-view', 'forgot-view', 'reset-view', 'app-view'];
const SECTIONS = {
  events: () => refreshEvents(),
  account: async () => { await showSettings(state.me); await accountBranding.show(state.me); },
  integrations: () => showIntegrations(state.me),
  users: () => showUsers(state.me),
  statistics: () => showStatistics(),   // issue 20 item 5 (R-STAT-1)
  timeline: () => timelineSection(),    // issue 20 item 3 (R-AUTO-1)
  library: () => showLibrary(state.me),  // issue 20 item 4
  tickets: () => showTickets(state.me),
  billing: () => showBilling(state.me),  // R-ACC-4
};
const state = { me: null, checked: false };

function show(view) {
  for (const v of VIEWS) $(v).hidden = v !== view;
  $('logout').hidden = view !== 'app-view';
  document.body.dataset.view = view;
}

/** The chosen language: the one picked in the header, else the signed-in user's, else the browser's. */
function useLanguage(lang) {
  setLanguage(lang);
  $('dash-lang').value = lang;
  document.title = t('dash.title');
}

/** Who is signed in (null: nobody); the page speaks their language unless one was picked in the header. */
async function whoAmI() {
  try { state.me = await api('GET', '/me'); } catch (e) { state.me = null; }
  state.checked = true;
  if (state.me && !localStorage.getItem('dash.lang')) {
    const mine = await api('GET', '/account/settings').then((s) => s.language, () => state.me.account.language);
    useLanguage(mine || 'en');
  }
  return state.me;
}

function describeMe() {
  const me = state.me;
  $('who').textContent = `${me.user.name} (${me.account.pageName})`;
  $('impersonation').hidden = !me.impersonatedBy;
  $('impersonation').textContent = me.impersonatedBy ? t('dash.impersonating', { name: me.account.pageName }) : '';
  for (const a of document.querySelectorAll('.dash-nav a')) {
    // additional users have no users page (R-ACC-2); the page says so to others who are not main
    a.hidden = (a.dataset.section === 'users' && me.role === 'additional')
      || (a.dataset.section === 'billing' && !billingVisible(me));
  }
}

/** Show what the address's #fragment asks for. */
async function route() {
  const hash = location.hash.slice(1);
  if (hashToken('activate')) { show('activate-view'); $('activate-password').focus(); return; }
  if (hashToken('reset')) { show('reset-view'); $('reset-password').focus(); return; }
  if (!state.checked) await whoAmI();
  if (!state.me) {
    if (hash === 'signup') {
      $('signup-form').hidden = false; $('signup-result').hidden = true;
      show('signup-view'); $('signup-name').focus();
    } else if (hash === 'forgot') {
      $('forgot-form').hidden = false; $('forgot-result').hidden = true;
      $('forgot-email').value = $('login-email').value;
      show('forgot-view'); $('forgot-email').focus();
    } else {
      show('login-view');
    }
    return;
  }
  show('app-view');
  describeMe();
  const section = SECTIONS[hash] ? hash : 'events';
  for (const s of document.querySelectorAll('.section')) s.hidden = s.dataset.section !== section;
  for (const a of document.querySelectorAll('.dash-nav a')) {
    if (a.dataset.section === section) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  $('app-error').textContent = '';
  try { await SECTIONS[section](); } catch (e) {
    if (e.status === 401) { state.me = null; show('login-view'); return; }
    $('app-error').textContent = e.message;
  }
}

/** After sign-in, activation or log-in-as: who is it, in their language unless one was picked. */
async function signedIn() {
  await whoAmI();
  if (location.hash.includes('=')) history.replaceState(null, '', location.pathname);
  await route();
}

$('dash-lang').onchange = () => {
  localStorage.setItem('dash.lang', $('dash-lang').value);
  useLanguage($('dash-lang').value);
  if (state.me) route();
};
$('logout').onclick = async () => {
  await signOut();
  state.me = null;
  if (location.hash) history.replaceState(null, '', location.pathname);
  show('login-view');
  $('login-email').focus();
};
window.addEventListener('hashchange', () => { route(); });

setupAuth(signedIn);
setupEvents();
setupPolls();
setupSettings(() => state.me, async (lang) => {
  localStorage.removeItem('dash.lang');   // the saved language is the one to show from now on
  useLanguage(lang);
  describeMe();
});
setupIntegrations();
setupUsers(signedIn);
setupStatistics();
setupTimeline();
setupLibrary();
const accountBranding = setupAccountBranding();
useLanguage(localStorage.getItem('dash.lang') || detectLanguage());
applyI18n(document);
route();
