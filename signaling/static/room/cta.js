// The call to action (R-INT-4, issue 16): the host's form in the host panel (the description with a live "n/54"
// counter that refuses more than 54 characters, spaces included, counted as the server counts them: characters
// of the NFC form; the button's label, the URL, optional seconds), "Close" and the click count; the attendees'
// pop-up card over the stage (the description, the button opening the URL in a new tab, a countdown when it
// closes by itself, and "×", which hides it on this page only).
import { errorText, t } from '/static/i18n.js';
import { $, show } from './dom.js';
import { page, S } from './state.js';

export const CTA_MAX = 54;
S.cta = { shown: false, clicks: 0, error: null, clicked: false, remaining: null };
let hiddenId = null;                  // the one this attendee closed with "×"
let timer = null;

export const ctaLength = (s) => [...String(s).normalize('NFC')].length;
const cta = () => (page.client ? page.client.interaction.cta : null);

function ctaError(code, message) {
  S.cta.error = code || null;
  const p = $('#cta-error');
  if (code) {
    const key = `cta.error.${code}`;
    p.textContent = t(key) !== key ? t(key) : errorText(code, message);
  }
  show(p, !!code);
}

function renderCounter() {
  const n = ctaLength($('#cta-text').value);
  const counter = $('#cta-count');
  counter.textContent = `${n}/${CTA_MAX}`;
  counter.classList.toggle('over', n > CTA_MAX);
  $('#cta-show').disabled = n > CTA_MAX || n === 0;
  if (n > CTA_MAX) ctaError('too_long');
  else if (S.cta.error === 'too_long') ctaError(null);
}

function tick() {
  const c = cta() && cta().current;
  const left = c && c.until ? Math.max(0, Math.ceil((c.until - Date.now()) / 1000)) : null;
  S.cta.remaining = left;
  const out = $('#cta-countdown');
  show(out, left !== null);
  if (left !== null) out.textContent = t('cta.closesIn', { n: left });
  if (left === 0) { show($('#cta-card'), false); S.cta.shown = false; }
}

/** The call to action's part of renderAll (and of the 'cta' and 'ctaClicks' events). */
export function renderCta() {
  const s = cta();
  if (!s) return;
  const c = s.current;
  const host = S.role === 'host';
  S.cta.clicks = s.clicks;
  S.cta.clicked = s.clicked;
  show($('#cta-live'), host && !!c);
  if (host && c) {
    $('#cta-live-text').textContent = String(c.text ?? '');
    $('#cta-clicks').textContent = t('cta.clicks', { n: s.clicks });
  }
  renderCounter();
  const card = !host && S.role === 'attendee' && !!c && c.id !== hiddenId;
  S.cta.shown = host ? !!c : card;
  show($('#cta-card'), card);
  clearInterval(timer);
  timer = null;
  if (!card) return;
  $('#cta-card-text').textContent = String(c.text ?? '');
  const a = $('#cta-card-go');
  a.textContent = String(c.button ?? '');
  a.href = /^https?:\/\//i.test(c.url || '') ? c.url : '#';
  tick();
  if (c.until) timer = setInterval(tick, 1000);
}

async function showIt(ev) {
  ev.preventDefault();
  const text = $('#cta-text').value.normalize('NFC');
  if (ctaLength(text) > CTA_MAX) { ctaError('too_long'); return; }
  const seconds = Number($('#cta-seconds').value) || undefined;
  try {
    await page.client.showCta({ text, button: $('#cta-button').value, url: $('#cta-url').value.trim(), seconds });
    ctaError(null);
  } catch (e) { ctaError(e.code || 'network', e.message); }
}

async function closeIt() {
  try { await page.client.closeCta(); ctaError(null); } catch (e) { ctaError(e.code || 'network', e.message); }
}

/** The button is a link (target _blank, rel noopener): the browser opens it from the click itself, so no pop-up
 * blocker stops it; the click is counted on the way. */
function clicked() {
  if (!page.client) return;
  page.client.clickCta().then(renderCta, (e) => console.warn('cta:', e.code || e));
}

export function bindCta() {
  $('#cta-form').addEventListener('submit', showIt);
  $('#cta-text').addEventListener('input', renderCounter);
  $('#cta-close').addEventListener('click', closeIt);
  $('#cta-card-go').addEventListener('click', clicked);
  $('#cta-card-x').addEventListener('click', () => {
    hiddenId = cta() && cta().current ? cta().current.id : null;
    renderCta();
  });
}
