// The registration form of an event (R-ROOM-9): fields from the event, sent before joining.
import { MediaserverClient } from '/sdk/mediaserver.js';
import { errorText, t } from '/static/i18n.js';
import { $, $$, el, show, toast } from './dom.js';
import { submitJoin } from './join.js';
import { goTo, setScreen, showJoinError, showOver } from './screens.js';
import { S } from './state.js';

const DEFAULT_FIELDS = ['firstName', 'lastName', 'email'];
let regPerson = null;

function regLabel(f) { return DEFAULT_FIELDS.includes(f.name) ? t(`reg.${f.name}`) : f.label || f.name; }

function regField(f, value) {
  const id = `reg-${f.name}`;
  const attrs = { id, name: f.name, required: !!f.required, dataset: { field: f.name } };
  const text = regLabel(f) + (f.required ? ' *' : '');
  if (f.type === 'checkbox') {
    return el('label', { class: 'radio', for: id }, el('input', { ...attrs, type: 'checkbox' }), el('span', {}, text));
  }
  let input;
  if (f.type === 'textarea') input = el('textarea', { ...attrs, rows: 3, maxlength: 2000 });
  else if (f.type === 'select') {
    input = el('select', attrs, el('option', { value: '' }, t('reg.choose')),
      ...(f.options || []).map((o) => el('option', { value: o }, o)));
  } else {
    const auto = { firstName: 'given-name', lastName: 'family-name', email: 'email' }[f.name];
    input = el('input', { ...attrs, type: { email: 'email', phone: 'tel' }[f.type] || 'text',
      maxlength: DEFAULT_FIELDS.includes(f.name) ? (f.name === 'email' ? 320 : 120) : 2000, autocomplete: auto });
  }
  if (value) input.value = value;
  return el('div', { class: 'reg-field' }, el('label', { for: id }, text), input);
}

export function showRegistration() {
  const form = S.event && S.event.registration;
  if (!form || !form.enabled) { showJoinError('registration_required'); return; }
  const words = $('#join-name').value.trim().split(/\s+/).filter(Boolean);
  const pre = { firstName: words[0] || '', lastName: words.slice(1).join(' '), email: $('#join-email').value.trim() };
  $('#reg-title').textContent = S.event.name || '';
  $('#reg-fields').replaceChildren(...form.fields.map((f) => regField(f, pre[f.name])));
  show($('#reg-error'), false);
  show($('#reg-redirect'), false);
  setScreen('register');
  const empty = $$('#reg-fields input, #reg-fields textarea, #reg-fields select').find((x) => x.type !== 'checkbox' && !x.value);
  (empty || $('#reg-submit')).focus();
}

function regError(text, input) {
  const p = $('#reg-error');
  p.textContent = text;
  show(p, true);
  if (input) input.focus();
}

export async function submitRegistration(ev) {
  if (ev) ev.preventDefault();
  const form = S.event.registration;
  const values = {};
  for (const f of form.fields) {
    const input = document.getElementById(`reg-${f.name}`);
    const v = f.type === 'checkbox' ? input.checked : input.value.trim();
    if (f.required && (v === '' || v === false)) { regError(t('reg.missing', { field: regLabel(f) }), input); return; }
    values[f.name] = v;
  }
  if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(values.email)) { regError(t('reg.badEmail'), $('#reg-email')); return; }
  const fields = {};
  for (const f of form.fields) {
    if (!DEFAULT_FIELDS.includes(f.name) && values[f.name] !== '') fields[f.name] = values[f.name];
  }
  show($('#reg-error'), false);
  const button = $('#reg-submit');
  button.disabled = true;
  regPerson = { firstName: values.firstName, lastName: values.lastName, email: values.email };
  try {
    const done = await MediaserverClient.register(location.origin, S.roomId, { ...regPerson, fields });
    registered(done && done.redirectUrl);
  } catch (e) {
    if (e.code === 'already_registered') registered(null);
    else if (e.code === 'ended') showOver('event');
    else regError(e.code === 'bad_request' && e.message ? e.message : errorText(e.code, e.message));
  } finally {
    button.disabled = false;
  }
}

// Registered: the join uses the registered address. If the organiser set a page to go to after registering,
// the person goes there (the server names it; they come back by the event's link, registered); else they join.
function registered(redirectUrl) {
  $('#join-email').value = regPerson.email;
  if (!$('#join-name').value.trim()) $('#join-name').value = `${regPerson.firstName} ${regPerson.lastName}`.slice(0, 64);
  try {
    localStorage.setItem('ms.person', JSON.stringify({ name: $('#join-name').value.trim(), email: regPerson.email }));
  } catch { /* private mode */ }
  if (goTo(redirectUrl, 'reg')) { toast(t('reg.done')); return; }
  setScreen('join');
  toast(t('reg.done'));
  submitJoin();
}
