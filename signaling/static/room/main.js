// The room page's entry point: join form, lobby, waiting room, the call itself and the host's controls, on the SDK.
// Room ID from /room/<id> or ?id=; ?host=<key> (or ?presenter=<key>) joins with that role; ?lang=en|ru
// overrides the room's language; ?name=&email=&autojoin=1 joins without the form (embeds, tests).
// An event's room asks for what the event needs (R-ROOM-6: password, personal token or ticket, ?token= from the
// invitation link; R-ROOM-9: the registration form) and, after it, sends people to its thank-you page (R-STAT-3).
// The modules next to this one hold each concern; state.js holds what they share.
import { MediaserverError } from '/sdk/mediaserver.js';
import { t } from '/static/i18n.js';
import { loadRoom } from './access.js';
import { bindDevices, fillDevices } from './devices.js';
import { $, $$, show } from './dom.js';
import { turnSoundOn } from './grid.js';
import { bindHost } from './host.js';
import { bindInteraction } from './interact.js';
import { leave, offerAttendeeLink, submitJoin } from './join.js';
import { startClock } from './mydata.js';
import { closePanel, copy, togglePanel } from './panels.js';
import { shareScreen, toggle, toggleScreen } from './publish.js';
import { submitRegistration } from './register.js';
import { applyLanguage, renderAll } from './render.js';
import { setScreen, showError } from './screens.js';
import { hostKey, mobile, page, presenterKey, query, roomIdFromUrl, S } from './state.js';
import './stats.js';                             // window.roomStats
import { checkOrder, closeBuy, newOrder, openBuy, submitBuy } from './tickets.js';

function bind() {
  $('#join-form').addEventListener('submit', submitJoin);
  $('#reg-form').addEventListener('submit', submitRegistration);
  $('#reg-back').addEventListener('click', () => setScreen('join'));
  $('#buy-form').addEventListener('submit', submitBuy);
  $('#buy-open').addEventListener('click', openBuy);
  $('#buy-close').addEventListener('click', closeBuy);
  $('#order-check').addEventListener('click', checkOrder);
  $('#order-new').addEventListener('click', newOrder);
  $('#btn-mic').addEventListener('click', () => toggle('audio'));
  $('#btn-cam').addEventListener('click', () => toggle('video'));
  $('#btn-screen').addEventListener('click', toggleScreen);
  for (const b of $$('#screen-menu [data-quality]')) b.addEventListener('click', () => shareScreen(b.dataset.quality));
  for (const b of $$('.toolbar [data-panel]')) b.addEventListener('click', () => togglePanel(b.dataset.panel));
  $('#side-close').addEventListener('click', closePanel);
  $('#btn-leave').addEventListener('click', leave);
  $('#sound-on').addEventListener('click', turnSoundOn);
  for (const b of $$('.leave-btn')) b.addEventListener('click', leave);
  for (const b of $$('.rejoin-btn')) b.addEventListener('click', () => { location.reload(); });
  for (const b of $$('.copy')) b.addEventListener('click', () => copy(b.dataset.copy));
  bindHost();
  bindInteraction();
  bindDevices();
  document.addEventListener('click', (e) => {
    const menu = $('#screen-menu');
    if (!menu.hidden && !menu.contains(e.target) && !e.target.closest('#btn-screen')) menu.hidden = true;
  });
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape') { $('#screen-menu').hidden = true; closePanel(); } });
  if (navigator.mediaDevices && navigator.mediaDevices.addEventListener) {
    navigator.mediaDevices.addEventListener('devicechange', () => fillDevices());
  }
  window.addEventListener('pagehide', () => { page.leaving = true; if (page.client) page.client.leave(); });
  let resizeTimer = null;
  window.addEventListener('resize', () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(renderAll, 150); });
  startClock();
}

async function main() {
  bind();
  document.body.classList.toggle('mobile', mobile);
  try {
    const saved = JSON.parse(localStorage.getItem('ms.person') || 'null');
    if (saved) { $('#join-name').value = saved.name || ''; $('#join-email').value = saved.email || ''; }
  } catch { /* private mode */ }
  if (query.get('name')) $('#join-name').value = query.get('name');
  if (query.get('email')) $('#join-email').value = query.get('email');
  show($('#join-nortc'), !S.webrtc);          // said before joining: what this browser cannot do, and where it can
  applyLanguage(null);
  setScreen('join');
  const id = roomIdFromUrl();
  if (hostKey || presenterKey) {
    const as = $('#join-as');
    as.textContent = t(hostKey ? 'join.asHost' : 'join.asPresenter');
    as.dataset.i18n = hostKey ? 'join.asHost' : 'join.asPresenter';
    show(as, true);
    if (mobile) {                     // the server refuses hosts and presenters on phones: say so before the form
      as.textContent = t('join.staffOnMobile');
      as.dataset.i18n = 'join.staffOnMobile';
      offerAttendeeLink();
    }
  }
  if (!id) { $('#join-id').focus(); return; }
  const ok = await loadRoom(id);
  if (ok && query.get('autojoin') === '1' && $('#join-name').value && $('#join-email').value) submitJoin();
  else if (ok) ($('#join-name').value ? $('#join-submit') : $('#join-name')).focus();
}

main().catch((e) => {
  console.error(e);
  showError(e instanceof MediaserverError ? e.code : 'unknown', e.message);
});
