// Buying a ticket to a paid event (R-BILL-10) on the join screen, and following the order until it is paid.
import { MediaserverClient } from '/sdk/mediaserver.js';
import { errorText, language, t } from '/static/i18n.js';
import { $, show } from './dom.js';
import { hostKey, presenterKey, S } from './state.js';

// The person orders through POST /api/v1/public/events/{roomId}/tickets and the page follows the order with the
// payer's own key (GET /api/v1/public/tickets/{id}?key=), kept in localStorage so a reload still shows it. The
// ticket's token is never in these answers: it comes only by e-mail, and the person types it into the ticket field.
const ORDER_POLL_MS = 3000;
const ORDER_POLL_MAX = 600;            // 30 minutes of checking by itself; then the "check" button
const EMAIL_RE = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const ORDER_FIELDS = ['id', 'status', 'reason', 'reference', 'amount', 'currency', 'eventName', 'decidedAt'];
let buyOpen = false;
let orderTimer = null;
let orderPolls = 0;

function orderStore() { return `ms.ticketOrder.${S.roomId}`; }
function savedOrder() {
  try {
    const o = JSON.parse(localStorage.getItem(orderStore()) || 'null');
    return o && o.id && o.key ? o : null;
  } catch { return null; }
}
function saveOrder(o) { try { localStorage.setItem(orderStore(), JSON.stringify(o)); } catch { /* private mode */ } }
function forgetOrder() { try { localStorage.removeItem(orderStore()); } catch { /* private mode */ } }
// What the page (and window.roomState) shows of the order: everything but the key.
function showOrder(kept) {
  if (!kept) { S.order = null; return; }
  const shown = { ...kept, polling: orderTimer !== null };
  delete shown.key;
  S.order = shown;
}

function canBuy() {
  const ev = S.event;
  return !!ev && !hostKey && !presenterKey && ev.access === 'paid' && ev.status !== 'done'
    && !$('#join-token-box').hidden;
}

export function renderBuy() {
  const o = S.order;
  const can = canBuy();
  show($('#buy-offer'), can && !o);
  show($('#buy'), can && (buyOpen || !!o));
  if (!can) return;
  const ev = S.event;
  $('#buy-price').textContent = t('buy.price', { price: ev.ticketPrice || '', currency: ev.ticketCurrency || '' });
  show($('#buy-form'), !o);
  show($('#order'), !!o);
  if (!o) return;
  const open = o.status === 'pending' || o.status === 'failed';
  const status = $('#order-status');
  status.dataset.status = o.status;
  status.className = `notice${{ paid: ' ok', pending: '' }[o.status] ?? ' bad'}`;
  status.textContent = t(`order.${o.status}`, {
    amount: o.amount, currency: o.currency, email: o.email,
    reason: o.reason ? t('order.reason', { reason: o.reason.replace(/[.\s]+$/, '') }) : '' });
  show($('#order-pay'), open && !!(o.instructions || o.payUrl));
  $('#order-instructions').textContent = o.instructions || '';
  show($('#order-instructions'), !!o.instructions);
  show($('#order-pay-link-box'), !!o.payUrl && /^https?:\/\//i.test(o.payUrl));
  $('#order-pay-link').href = o.payUrl && /^https?:\/\//i.test(o.payUrl) ? o.payUrl : '#';
  $('#order-reference-label').textContent = t(open ? 'order.reference' : 'order.referenceOf');
  $('#order-reference').textContent = o.reference || '';
  const notes = [];
  if (o.status === 'pending') notes.push(t('order.pendingNote', { email: o.email }));
  if (open && !o.polling) notes.push(t('order.stopped'));
  if (o.status === 'refused' || o.status === 'cancelled') notes.push(t('order.refundNote'));
  $('#order-note').textContent = notes.join(' ');
  show($('#order-note'), notes.length > 0);
  show($('#order-check'), open);
  show($('#order-new'), ['failed', 'refused', 'cancelled'].includes(o.status));
}

function buyError(code, message) {
  S.buyError = code;
  const p = $('#buy-error');
  p.textContent = code === 'bad_request' ? t('buy.badRequest') : code === 'gone' ? t('order.gone')
    : code === 'missing_name' ? t('buy.missingName') : errorText(code, message);
  p.dataset.code = code;
  show(p, true);
}

export function openBuy() {
  buyOpen = true;
  if (!$('#buy-name').value) $('#buy-name').value = $('#join-name').value.trim();
  if (!$('#buy-email').value) $('#buy-email').value = $('#join-email').value.trim();
  renderBuy();
  $(S.order ? '#order-status' : ($('#buy-name').value ? '#buy-email' : '#buy-name')).focus();
}

export async function submitBuy(e) {
  if (e) e.preventDefault();
  const name = $('#buy-name').value.trim();
  const email = $('#buy-email').value.trim();
  S.buyError = null;
  show($('#buy-error'), false);
  if (!name) { buyError('missing_name'); $('#buy-name').focus(); return; }
  if (!EMAIL_RE.test(email)) { buyError('invalid_email'); $('#buy-email').focus(); return; }
  const button = $('#buy-submit');
  button.disabled = true;
  try {
    const o = await MediaserverClient.buyTicket(location.origin, S.roomId, { name, email, language: language() });
    const kept = { key: o.key, email: email.toLowerCase(), name, instructions: o.instructions || '',
      payUrl: o.payUrl || null };
    for (const f of ORDER_FIELDS) kept[f] = o[f];
    saveOrder(kept);
    // the ticket's token opens the event only with the address it is sent to
    if (!$('#join-name').value.trim()) $('#join-name').value = name;
    $('#join-email').value = kept.email;
    startOrderPolling(kept);
    $('#order-status').focus();
  } catch (err) {
    buyError(err.code || 'network', err.message);
  } finally {
    button.disabled = false;
  }
}

function stopOrderPolling() {
  clearTimeout(orderTimer);
  orderTimer = null;
}

function startOrderPolling(kept) {
  stopOrderPolling();
  orderPolls = 0;
  if (kept.status === 'pending' || kept.status === 'failed') orderTimer = setTimeout(checkOrder, ORDER_POLL_MS);
  showOrder(kept);
  renderBuy();
}

export async function checkOrder() {
  stopOrderPolling();
  const kept = savedOrder();
  if (!kept) { showOrder(null); renderBuy(); return; }
  const was = kept.status;
  try {
    const o = await MediaserverClient.ticketOrder(location.origin, kept.id, kept.key);
    for (const f of ORDER_FIELDS) kept[f] = o[f];
    saveOrder(kept);
  } catch (e) {
    if (e.code === 'not_found') {           // the order is gone (or its key no longer opens it): order again
      forgetOrder();
      showOrder(null);
      buyOpen = true;
      renderBuy();
      buyError('gone');
      return;
    }
    console.warn('room: ticket order:', e.code, e.message);     // the network: try again on the next round
  }
  const open = kept.status === 'pending' || kept.status === 'failed';
  if (open && S.screen === 'join' && ++orderPolls < ORDER_POLL_MAX) orderTimer = setTimeout(checkOrder, ORDER_POLL_MS);
  showOrder(kept);
  renderBuy();
  if (kept.status === 'paid' && was !== 'paid') ticketPaid(kept);
}

// Paid: the ticket was e-mailed. The person types its code into the ticket field with the order's address.
function ticketPaid(kept) {
  if (kept.email) $('#join-email').value = kept.email;
  if (!$('#join-name').value.trim() && kept.name) $('#join-name').value = kept.name;
  show($('#join-error'), false);
  $('#join-token').focus();
}

export function newOrder() {
  stopOrderPolling();
  forgetOrder();
  showOrder(null);
  buyOpen = true;
  renderBuy();
  $('#buy-name').focus();
}

// A reload (or coming back later) shows the order kept for this room and follows it again.
export function resumeOrder() {
  const kept = savedOrder();
  if (!kept || !canBuy()) return;
  buyOpen = true;
  startOrderPolling(kept);
  if (kept.status === 'paid') ticketPaid(kept);
  checkOrder();
}

export function closeBuy() {
  buyOpen = false;
  renderBuy();
  $('#buy-open').focus();
}
