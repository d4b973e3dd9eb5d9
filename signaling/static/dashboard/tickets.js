// The dashboard's Tickets (issue 20 item 1 "the payment provider for tickets", item 4 "ticket orders with confirm and
// reject"; R-BILL-10, R-BILL-6): every order of the account (GET /api/v1/payments) confirmed, rejected or its
// ticket re-sent, and the payment provider linked, changed or unlinked (/api/v1/payment-provider). The provider's
// signing secret is never put back into the page: the field stays empty (empty keeps the linked one), and a secret
// the server makes is shown once, masked until the organiser asks to see it.
import { $, api, button, cell, el, say, t, when } from './core.js';
import { everything } from './paging.js';

let rejecting = null;   // the order in the reject form

/** Show the orders and the provider. */
export async function showTickets(me) {
  say('tix-error', ''); say('tix-provider-error', ''); say('tix-provider-note', '');
  $('tix-secret-new').hidden = true; $('tix-secret-shown').value = '';
  const owner = me.role !== 'additional';   // the provider is the account's integration (R-ACC-5)
  $('tix-provider-forbidden').hidden = owner;
  $('tix-provider-form').hidden = !owner;
  const section = $('section-tickets');
  section.setAttribute('aria-busy', 'true');   // its lists are being drawn anew
  try {
    await Promise.all([listOrders(), owner ? showProvider() : Promise.resolve()]);
  } finally { section.removeAttribute('aria-busy'); }
}

async function listOrders() {
  const status = $('tix-status').value;
  const got = await everything(`/payments${status ? `?status=${status}` : ''}`);
  const body = $('tix-orders'); body.textContent = '';
  for (const p of got.items) {
    const tr = el('tr', { 'data-id': p.id, 'data-status': p.status });
    cell(tr, when(p.createdAt));
    cell(tr, p.eventName + (p.eventId === null || p.eventCancelledAt ? ` ${t('lib.eventGone')}` : ''));
    cell(tr, `${p.name} <${p.email}>`);
    cell(tr, `${p.amount} ${p.currency}`);
    cell(tr, t(`lib.st_${p.status}`) + (p.reason ? `: ${p.reason}` : ''));
    cell(tr, p.reference + (p.payerReference ? ` (${t('lib.payerSays', { ref: p.payerReference })})` : '')).className = 'mono';
    const actions = cell(tr, ''); actions.className = 'actions';
    const who = `${p.name} <${p.email}>`;
    const act = (label, cls, fn) => button(t(label), `small ${cls}`, async () => {
      say('tix-error', '');
      try { await fn(); } catch (e) { say('tix-error', e.message); }
    }, `${t(label)}: ${who}`);
    if (p.eventId !== null && !p.eventCancelledAt) {
      if (p.status === 'pending' || p.status === 'failed') {
        actions.append(act('lib.confirm', 'primary tix-confirm', async () => {
          await api('POST', `/events/${p.eventId}/payments/${p.id}/confirm`);
          await listOrders();
          $('tix-note').textContent = t('lib.confirmed', { name: p.name });
        }));
      }
      if (p.status === 'paid') {
        actions.append(act('lib.resend', 'tix-resend', async () => {
          await api('POST', `/events/${p.eventId}/payments/${p.id}/resend`);
          await listOrders();
          $('tix-note').textContent = t('lib.resent', { name: p.name });
        }));
      }
      if (p.status === 'pending' || p.status === 'paid' || p.status === 'failed') {
        actions.append(act('lib.reject', 'danger tix-reject', async () => openReject(p)));
      }
    }
    body.append(tr);
  }
  $('tix-note').textContent = got.items.length ? '' : t('lib.noOrders');
}

function openReject(p) {
  rejecting = p;
  $('tix-reject-title').textContent = t('lib.rejectTitle', { name: `${p.name} <${p.email}>`, amount: `${p.amount} ${p.currency}` });
  $('tix-reject-reason').value = '';
  $('tix-reject-form').hidden = false;
  $('tix-reject-reason').focus();
}

async function showProvider() {
  let p = null;
  try { p = await api('GET', '/payment-provider'); } catch (e) { if (e.status !== 404) throw e; }
  $('tix-provider-unlink').hidden = !p;
  $('tix-secret').value = '';
  if (!p) {
    $('tix-provider-now').textContent = t('lib.providerNone');
    $('tix-provider-form').dataset.kind = '';
    return;
  }
  $('tix-provider-form').dataset.kind = p.kind;
  $('tix-kind').value = p.kind;
  const kind = t(p.kind === 'manual' ? 'lib.kindManual' : 'lib.kindGateway');
  $('tix-provider-now').textContent = p.callbackUrl
    ? t('lib.providerCallback', { kind, when: when(p.updatedAt), url: p.callbackUrl })
    : t('lib.providerIs', { kind, when: when(p.updatedAt) });
  $('tix-instructions').value = p.config.instructions || '';
  $('tix-checkout').value = p.config.checkoutUrl || '';
  kindShown();
}

function kindShown() {
  const gateway = $('tix-kind').value === 'gateway';
  $('tix-gateway-box').hidden = !gateway;
  $('tix-manual-box').hidden = gateway;
  $('tix-checkout').required = gateway;
  $('tix-instructions').required = !gateway;
}

/** Wire the forms (once). */
export function setupTickets() {
  $('tix-status').onchange = () => listOrders().catch((e) => say('tix-error', e.message));
  $('tix-kind').onchange = kindShown;
  kindShown();
  $('tix-reject-cancel').onclick = () => { rejecting = null; $('tix-reject-form').hidden = true; };
  $('tix-reject-form').onsubmit = async (ev) => {
    ev.preventDefault();
    const p = rejecting;
    if (!p) return;
    try {
      await api('POST', `/events/${p.eventId}/payments/${p.id}/reject`, { reason: $('tix-reject-reason').value.trim() });
      rejecting = null; $('tix-reject-form').hidden = true;
      await listOrders();
      $('tix-note').textContent = `${t('lib.rejected', { name: p.name })}${p.status === 'paid' ? ' ' + t('lib.refundNote') : ''}`;
    } catch (e) { say('tix-error', e.message); }
  };
  $('tix-provider-form').onsubmit = async (ev) => {
    ev.preventDefault();
    const kind = $('tix-kind').value;
    const body = kind === 'manual'
      ? { kind, instructions: $('tix-instructions').value.trim() }
      : { kind, checkoutUrl: $('tix-checkout').value.trim(), ...($('tix-secret').value ? { secret: $('tix-secret').value } : {}) };
    try {
      const linked = await api('PUT', '/payment-provider', body);
      $('tix-secret').value = '';   // never kept in the page
      say('tix-provider-error', '');
      await showProvider();
      say('tix-provider-note', t('lib.providerSaved'));
      if (linked.secret) {
        $('tix-secret-shown').type = 'password';
        $('tix-secret-reveal').textContent = t('lib.reveal');
        $('tix-secret-reveal').setAttribute('aria-pressed', 'false');
        $('tix-secret-shown').value = linked.secret;
        $('tix-secret-new').hidden = false;
      } else { $('tix-secret-new').hidden = true; $('tix-secret-shown').value = ''; }
    } catch (e) { say('tix-provider-error', e.message); }
  };
  $('tix-provider-unlink').onclick = async () => {
    if (!confirm(t('lib.confirmUnlink'))) return;
    try {
      await api('DELETE', '/payment-provider');
      $('tix-secret-new').hidden = true; $('tix-secret-shown').value = '';
      await showProvider();
      say('tix-provider-note', t('lib.providerUnlinked'));
    } catch (e) { say('tix-provider-error', e.message); }
  };
  $('tix-secret-reveal').onclick = () => {
    const shown = $('tix-secret-shown').type === 'text';
    $('tix-secret-shown').type = shown ? 'password' : 'text';
    $('tix-secret-reveal').textContent = t(shown ? 'lib.reveal' : 'lib.hide');
    $('tix-secret-reveal').setAttribute('aria-pressed', String(!shown));
  };
  $('tix-secret-copy').onclick = () => { navigator.clipboard?.writeText($('tix-secret-shown').value).catch(() => {}); };
}
