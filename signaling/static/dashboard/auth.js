// Signing up (R-ACC-1: a 7-day trial, the address confirmed by an e-mailed link), activating from that link
// (/dashboard#activate=<token>), signing in and out, and a password reset (/dashboard#reset=<token>).
import { $, api, say, t } from './core.js';

/** The token of #activate=… or #reset=… in the address, or null. */
export function hashToken(name) {
  return new URLSearchParams(location.hash.slice(1)).get(name);
}

function busy(form, on) {
  for (const b of form.querySelectorAll('button[type=submit]')) b.disabled = on;
}

/** Wire the signed-out forms; signedIn() runs once a session cookie is set. */
export function setupAuth(signedIn) {
  $('login-form').onsubmit = async (ev) => {
    ev.preventDefault();
    busy(ev.target, true);
    try {
      await api('POST', '/session', { email: $('login-email').value, password: $('login-password').value });
      $('login-error').textContent = '';
      $('login-password').value = '';
      say('login-note', '');
      await signedIn();
    } catch (e) { $('login-error').textContent = e.message; } finally { busy(ev.target, false); }
  };

  $('signup-form').onsubmit = async (ev) => {
    ev.preventDefault();
    busy(ev.target, true);
    const body = { name: $('signup-name').value, email: $('signup-email').value,
                   language: $('signup-language').value };
    if ($('signup-page').value.trim()) body.pageName = $('signup-page').value.trim();
    try {
      await api('POST', '/signup', body);
      $('signup-error').textContent = '';
      $('signup-form').hidden = true;
      say('signup-result', t('dash.signupSent', { email: body.email }));
    } catch (e) { $('signup-error').textContent = e.message; } finally { busy(ev.target, false); }
  };

  $('activate-form').onsubmit = async (ev) => {
    ev.preventDefault();
    busy(ev.target, true);
    try {
      await api('POST', '/activate', { token: hashToken('activate'), password: $('activate-password').value });
      history.replaceState(null, '', location.pathname);
      $('activate-password').value = '';
      await signedIn();
    } catch (e) { $('activate-error').textContent = e.message; } finally { busy(ev.target, false); }
  };

  $('forgot-form').onsubmit = async (ev) => {
    ev.preventDefault();
    busy(ev.target, true);
    try {
      await api('POST', '/password-reset', { email: $('forgot-email').value });
      $('forgot-error').textContent = '';
      $('forgot-form').hidden = true;
      say('forgot-result', t('dash.forgotSent', { email: $('forgot-email').value }));
    } catch (e) { $('forgot-error').textContent = e.message; } finally { busy(ev.target, false); }
  };

  $('reset-form').onsubmit = async (ev) => {
    ev.preventDefault();
    busy(ev.target, true);
    try {
      await api('POST', '/password-reset/confirm', { token: hashToken('reset'), password: $('reset-password').value });
      $('reset-password').value = '';
      $('reset-error').textContent = '';
      say('login-note', t('dash.resetDone'));
      location.hash = '';   // the sign-in form, which now says so
    } catch (e) { $('reset-error').textContent = e.message; } finally { busy(ev.target, false); }
  };
}

/** Sign out: the session cookie goes. */
export async function signOut() {
  await api('DELETE', '/session').catch(() => {});
}
