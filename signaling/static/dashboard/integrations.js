// API keys (made, shown once, listed, revoked) and webhooks (made with their secret shown once, listed,
// deleted) with each one's delivery log: /api/v1/api-keys, /api/v1/webhooks, /api/v1/webhooks/{id}/deliveries.
import { $, api, button, cell, el, say, t, when } from './core.js';

/** What a webhook can be sent (mediaserver/outbox/webhooks.py EVENT_TYPES). */
export const HOOK_EVENTS = [
  'event.created', 'event.updated', 'event.started', 'event.ended', 'event.deleted', 'event.failed',
  'participant.registered', 'participant.joined', 'participant.left', 'invitation.declined', 'recording.started',
  'recording.ready', 'stream.started', 'stream.stopped', 'question.published', 'payment.succeeded',
  'payment.failed', 'payment.refused', 'billing.plan_changed', 'billing.addon_added', 'poll.closed',
];

let watching = null;   // the webhook whose delivery log is shown

/** Show the keys and the webhooks. */
export async function showIntegrations(me) {
  say('key-error', ''); $('key-new').hidden = true; $('hook-new').hidden = true;
  await listKeys();
  const hooks = me.role !== 'additional';   // integrations are the account's (R-ACC-5)
  $('hooks-forbidden').hidden = hooks;
  $('hook-form').hidden = !hooks;
  if (hooks) await listHooks();
}

async function listKeys() {
  const keys = await api('GET', '/api-keys');
  const body = $('keys'); body.textContent = '';
  for (const k of keys.items) {
    const tr = el('tr', { 'data-id': k.id });
    cell(tr, k.name); cell(tr, k.prefix + '…').className = 'mono';
    cell(tr, when(k.createdAt)); cell(tr, k.lastUsedAt ? when(k.lastUsedAt) : t('dash.never'));
    cell(tr, '').append(button(t('dash.revoke'), 'small danger key-revoke', () => revokeKey(k),
                               `${t('dash.revoke')}: ${k.name}`));
    body.append(tr);
  }
  $('keys-note').textContent = keys.items.length ? '' : t('dash.noKeys');
}

async function revokeKey(k) {
  if (!confirm(t('dash.confirmRevoke', { name: k.name }))) return;
  try {
    await api('DELETE', `/api-keys/${k.id}`);
    $('key-new').hidden = true;
    await listKeys();
    $('keys-note').textContent = t('dash.revoked', { name: k.name });
  } catch (e) { say('key-error', e.message); }
}

async function listHooks() {
  const hooks = await api('GET', '/webhooks');
  const body = $('hooks'); body.textContent = '';
  for (const h of hooks.items) {
    const tr = el('tr', { 'data-id': h.id });
    cell(tr, h.url).className = 'mono url';
    cell(tr, h.events.length ? h.events.join(', ') : t('dash.everything'));
    cell(tr, when(h.createdAt));
    const actions = cell(tr, ''); actions.className = 'actions';
    actions.append(
      button(t('dash.deliveryLog'), 'small hook-log', () => showDeliveries(h), `${t('dash.deliveryLog')}: ${h.url}`),
      button(t('dash.delete'), 'small danger hook-delete', () => deleteHook(h), `${t('dash.delete')}: ${h.url}`));
    body.append(tr);
  }
  $('hooks-note').textContent = hooks.items.length ? '' : t('dash.noHooks');
}

async function deleteHook(h) {
  if (!confirm(t('dash.confirmDeleteHook', { url: h.url }))) return;
  try {
    await api('DELETE', `/webhooks/${h.id}`);
    if (watching && watching.id === h.id) { watching = null; $('deliveries-view').hidden = true; }
    $('hook-new').hidden = true;
    await listHooks();
  } catch (e) { say('hook-error', e.message); }
}

async function showDeliveries(h) {
  watching = h;
  $('deliveries-url').textContent = h.url;
  $('deliveries-view').hidden = false;
  const page = await api('GET', `/webhooks/${h.id}/deliveries?limit=50`);
  const body = $('deliveries'); body.textContent = '';
  for (const d of page.items) {
    const tr = el('tr', { 'data-id': d.id, className: `delivery ${d.status}` });
    cell(tr, when(d.createdAt)); cell(tr, d.eventType); cell(tr, d.status);
    cell(tr, String(d.attempts));
    cell(tr, d.lastError || (d.lastStatus ? `HTTP ${d.lastStatus}` : ''));   // the error says the status
    body.append(tr);
  }
  $('deliveries-note').textContent = page.total ? t('dash.deliveriesCount', { n: page.total }) : t('dash.noDeliveries');
}

/** Wire the forms (once). */
export function setupIntegrations() {
  const box = $('hook-events');
  for (const name of HOOK_EVENTS) {
    const id = 'hook-ev-' + name.replace('.', '-');
    box.append(el('label', { className: 'check', htmlFor: id },
                  el('input', { type: 'checkbox', id, value: name }), el('span', { className: 'mono', textContent: name })));
  }
  $('key-form').onsubmit = async (ev) => {
    ev.preventDefault();
    try {
      const k = await api('POST', '/api-keys', { name: $('key-name').value });
      say('key-error', '');
      $('key-name').value = '';
      await listKeys();
      $('key-secret').value = k.key;
      $('key-new').hidden = false;
      $('key-secret').focus(); $('key-secret').select();
    } catch (e) { say('key-error', e.message); }
  };
  $('key-copy').onclick = () => {
    $('key-secret').select();
    navigator.clipboard?.writeText($('key-secret').value).catch(() => {});
  };
  $('hook-form').onsubmit = async (ev) => {
    ev.preventDefault();
    const events = [...box.querySelectorAll('input:checked')].map((i) => i.value);
    try {
      const h = await api('POST', '/webhooks', { url: $('hook-url').value, events });
      say('hook-error', '');
      $('hook-form').reset();
      await listHooks();
      $('hook-secret').value = h.secret;
      $('hook-new').hidden = false;
    } catch (e) { say('hook-error', e.message); }
  };
  $('deliveries-refresh').onclick = () => { if (watching) showDeliveries(watching).catch((e) => say('hook-error', e.message)); };
}
