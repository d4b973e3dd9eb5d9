// Which screen the page shows (join, register, lobby, waiting, room, ended, left, removed, error), the page after
// the event (R-ROOM-4, -13), the redirect to a thank-you page (R-STAT-3) and the join and error messages.
import { applyI18n, errorText } from '/static/i18n.js';
import { mountRating } from '/static/rating.js';
import { stopTimeline } from './automated.js';
import { $, explain, show } from './dom.js';
import { closePanel } from './panels.js';
import { stopLocal } from './publish.js';
import { S } from './state.js';

export function setScreen(name) {
  S.screen = name;
  for (const s of ['join', 'register', 'lobby', 'waiting', 'room', 'ended', 'left', 'removed', 'error']) {
    show($(`#screen-${s}`), s === name);
  }
  document.body.dataset.screen = name;        // also picks the screen's branded background (room.css)
  if (name !== 'room') stopTimeline();
  if (name !== 'room') {
    closePanel();
    $('#toast').hidden = true;
  }
}

// The page after the event: the session ended, the event is over, or it is on demand (R-ROOM-4, -13).
const OVER = {
  session: ['ended.title', 'ended.text', 'ended'],
  event: ['over.title', 'over.text', 'ended'],
  on_demand: ['ondemand.title', 'ondemand.text', 'on_demand'],
  failed: ['failed.title', 'failed.text', 'not_started'],
};
export function showOver(kind, thankYouUrl) {
  const [title, text, code] = OVER[kind];
  $('#ended-title').dataset.i18n = title;
  $('#ended-text').dataset.i18n = text;
  S.error = code;
  S.over = kind;
  setScreen('ended');
  applyI18n();
  goTo(thankYouUrl, 'ended');
}

// R-STAT-3 (thank-you page) and R-ROOM-9 (the page after registering): any http(s) URL the organiser set; the
// screen says where the person goes, then the browser goes there.
export function goTo(url, where) {
  const ok = typeof url === 'string' && /^https?:\/\//i.test(url);
  show($(`#${where}-redirect`), ok);
  // R-STAT-1: an attendee who stays on this screen rates the event here (with the organiser's own thank-you
  // page, the rating link of the thank-you e-mail is where they rate)
  const rating = $(`#${where}-rating`);
  if (rating) mountRating(rating, ok ? null : S.ratingToken);
  if (!ok) return false;
  const a = $(`#${where}-redirect-link`);
  a.href = url;
  a.textContent = url;
  S.redirect = url;
  setTimeout(() => location.assign(url), 800);
  return true;
}

export function showJoinError(code, message) {
  S.error = code;
  const p = $('#join-error');
  p.textContent = errorText(code, message);
  p.dataset.code = code;
  show(p, true);
}

export function showError(code, message) {
  S.error = code;
  $('#error-text').textContent = explain(code, message);
  setScreen('error');
  stopLocal();
}
