// The dashboard's statistics (issue 20 item 5; R-STAT-1, R-STAT-2): the account's events per month (meetings
// and webinars), its attendees' devices, countries and browsers; per event the attendees (e-mail, join and
// leave, time attended, browser, device, country, rating, poll answers, Q&A and chat counts), the rating's
// average and distribution, and the CSV and XLSX exports. Everything comes from GET /api/v1/statistics and
// GET /api/v1/events/{id}/statistics; the charts are charts.js's inline SVG.
import { addStrings } from '/static/i18n.js';
import { $, api, cell, el, t, when } from './core.js';
import { barChart, hbarChart } from './charts.js';

addStrings({
  en: {
    'stats.nav': 'Statistics',
    'stats.title': 'Statistics',
    'stats.lead': 'Events held per month, meetings and webinars, and who attended.',
    'stats.from': 'From (month)',
    'stats.to': 'To (month)',
    'stats.show': 'Show',
    'stats.events': 'Events held',
    'stats.meetings': 'Meetings',
    'stats.webinars': 'Webinars',
    'stats.attendees': 'Attendees',
    'stats.views': 'On-demand views',
    'stats.viewersTitle': 'Who watched the recording',
    'stats.viewsOf': '{total} views by {unique} people; {messages} messages left',
    'stats.watchedAt': 'Watched',
    'stats.noViews': 'Nobody has watched it yet.',
    'stats.perMonth': 'Events per month: meetings and webinars',
    'stats.meetingsWebinars': 'Meetings and webinars',
    'stats.devices': 'Attendees by device',
    'stats.countries': 'Attendees by country',
    'stats.browsers': 'Attendees by browser',
    'stats.people': 'attendees',
    'stats.count': 'events',
    'stats.eventTitle': 'An event',
    'stats.event': 'Event',
    'stats.pick': 'Choose an event',
    'stats.noEvent': 'Choose an event to see its attendees.',
    'stats.noAttendees': 'Nobody has attended this event yet.',
    'stats.timeAttended': 'Average time attended',
    'stats.rating': 'Rating',
    'stats.ratingOf': '{avg} of 5 ({n} ratings)',
    'stats.noRating': 'not rated yet',
    'stats.questions': 'Questions',
    'stats.chatMessages': 'Chat messages',
    'stats.pollAnswers': 'Poll and test answers',
    'stats.ratings': 'Ratings: how many people gave each number of stars',
    'stats.stars': '{n} ★',
    'stats.raters': 'people',
    'stats.download': 'The attendee table:',
    'stats.downloadCsv': 'Attendees of {name} as CSV',
    'stats.downloadXlsx': 'Attendees of {name} as XLSX',
    'stats.colName': 'Name',
    'stats.colEmail': 'E-mail',
    'stats.colJoined': 'Joined',
    'stats.colLeft': 'Left',
    'stats.colAttended': 'Time attended',
    'stats.colBrowser': 'Browser',
    'stats.colOs': 'System',
    'stats.colDevice': 'Device',
    'stats.colCountry': 'Country',
    'stats.colRating': 'Rating',
    'stats.colQuestions': 'Questions',
    'stats.colChat': 'Chat',
    'stats.colPolls': 'Poll answers',
    'stats.colPoll': 'Poll or test',
    'stats.colAnswers': 'Answers',
    'stats.colScore': 'Score',
    'stats.answersTitle': 'Poll and test answers',
    'stats.run': 'run {n}',
    'stats.noAnswers': 'No poll or test was answered.',
    'stats.device_desktop': 'computer',
    'stats.device_phone': 'phone',
    'stats.device_tablet': 'tablet',
    'stats.device_unknown': 'unknown',
    'stats.unknown': 'unknown',
    'stats.live': 'live',
    'stats.done': 'held',
    'stats.planned': 'planned',
    'stats.failed': 'did not start',
  },
  ru: {
    'stats.nav': 'Статистика',
    'stats.title': 'Статистика',
    'stats.lead': 'Сколько мероприятий прошло по месяцам, встречи и вебинары, кто на них был.',
    'stats.from': 'С (месяц)',
    'stats.to': 'По (месяц)',
    'stats.show': 'Показать',
    'stats.events': 'Проведено мероприятий',
    'stats.meetings': 'Встречи',
    'stats.webinars': 'Вебинары',
    'stats.attendees': 'Участники',
    'stats.views': 'Просмотры в записи',
    'stats.viewersTitle': 'Кто смотрел запись',
    'stats.viewsOf': 'Просмотров: {total}, зрителей: {unique}; оставлено сообщений: {messages}',
    'stats.watchedAt': 'Когда',
    'stats.noViews': 'Запись ещё никто не смотрел.',
    'stats.perMonth': 'Мероприятия по месяцам: встречи и вебинары',
    'stats.meetingsWebinars': 'Встречи и вебинары',
    'stats.devices': 'Участники по устройствам',
    'stats.countries': 'Участники по странам',
    'stats.browsers': 'Участники по браузерам',
    'stats.people': 'участников',
    'stats.count': 'мероприятий',
    'stats.eventTitle': 'Мероприятие',
    'stats.event': 'Мероприятие',
    'stats.pick': 'Выберите мероприятие',
    'stats.noEvent': 'Выберите мероприятие, чтобы увидеть его участников.',
    'stats.noAttendees': 'На этом мероприятии пока никого не было.',
    'stats.timeAttended': 'Среднее время участия',
    'stats.rating': 'Оценка',
    'stats.ratingOf': '{avg} из 5 (оценок: {n})',
    'stats.noRating': 'оценок пока нет',
    'stats.questions': 'Вопросы',
    'stats.chatMessages': 'Сообщения в чате',
    'stats.pollAnswers': 'Ответы на опросы и тесты',
    'stats.ratings': 'Оценки: сколько человек поставили каждое число звёзд',
    'stats.stars': '{n} ★',
    'stats.raters': 'человек',
    'stats.download': 'Таблица участников:',
    'stats.downloadCsv': 'Участники «{name}» в CSV',
    'stats.downloadXlsx': 'Участники «{name}» в XLSX',
    'stats.colName': 'Имя',
    'stats.colEmail': 'E-mail',
    'stats.colJoined': 'Вошёл',
    'stats.colLeft': 'Вышел',
    'stats.colAttended': 'Время участия',
    'stats.colBrowser': 'Браузер',
    'stats.colOs': 'Система',
    'stats.colDevice': 'Устройство',
    'stats.colCountry': 'Страна',
    'stats.colRating': 'Оценка',
    'stats.colQuestions': 'Вопросы',
    'stats.colChat': 'Чат',
    'stats.colPolls': 'Ответы на опросы',
    'stats.colPoll': 'Опрос или тест',
    'stats.colAnswers': 'Ответы',
    'stats.colScore': 'Баллы',
    'stats.answersTitle': 'Ответы на опросы и тесты',
    'stats.run': 'запуск {n}',
    'stats.noAnswers': 'На опросы и тесты не отвечали.',
    'stats.device_desktop': 'компьютер',
    'stats.device_phone': 'телефон',
    'stats.device_tablet': 'планшет',
    'stats.device_unknown': 'неизвестно',
    'stats.unknown': 'неизвестно',
    'stats.live': 'идёт',
    'stats.done': 'прошло',
    'stats.planned': 'запланировано',
    'stats.failed': 'не началось',
  },
});

let chosen = null;   // the event whose statistics are shown (its id)

/** Seconds as m:ss, or h:mm:ss from an hour. */
export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds || 0));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h ? String(m).padStart(2, '0') : String(m);
  return `${h ? `${h}:` : ''}${mm}:${String(r).padStart(2, '0')}`;
}

function device(name) {
  const key = `stats.device_${name || 'unknown'}`;
  const text = t(key);
  return text === key ? name : text;
}

function facts(dl, pairs) {
  dl.textContent = '';
  for (const [term, value, cls] of pairs) {
    dl.append(el('dt', { textContent: term }), el('dd', { textContent: String(value), className: cls || '' }));
  }
}

/** A month's "YYYY-MM" as the page's language says it, short ("Mar 2026"). */
function monthName(ym) {
  const [y, m] = ym.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, 1)).toLocaleDateString(document.documentElement.lang || undefined,
    { month: 'short', year: '2-digit', timeZone: 'UTC' });
}

function sorted(counts, name = (k) => k) {
  return Object.entries(counts || {}).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([k, n]) => [name(k), n]);
}

/** The account's numbers for the range in the form (the API's default: the last 12 months). */
async function showAccount() {
  const q = new URLSearchParams();
  if ($('stats-from').value) q.set('from', $('stats-from').value);
  if ($('stats-to').value) q.set('to', $('stats-to').value);
  $('stats-error').textContent = '';
  let s;
  try { s = await api('GET', `/statistics?${q}`); } catch (e) { $('stats-error').textContent = e.message; return; }
  $('stats-from').value = s.from; $('stats-to').value = s.to;
  facts($('stats-facts'), [
    [t('stats.events'), s.events, 'stats-events'], [t('stats.meetings'), s.meetings, 'stats-meetings'],
    [t('stats.webinars'), s.webinars, 'stats-webinars'], [t('stats.attendees'), s.attendees, 'stats-attendees'],
    [t('stats.views'), s.views, 'stats-views'],
  ]);
  const charts = $('stats-charts'); charts.textContent = '';
  charts.append(
    barChart({
      title: t('stats.perMonth'), className: 'stats-months',
      labels: s.months.map((m) => monthName(m.month)),
      series: [
        { name: t('stats.meetings'), values: s.months.map((m) => m.meetings), className: 'meetings' },
        { name: t('stats.webinars'), values: s.months.map((m) => m.webinars), className: 'webinars' },
      ],
    }),
    hbarChart({ title: t('stats.meetingsWebinars'), className: 'stats-kinds', name: t('stats.count'),
                rows: [[t('stats.meetings'), s.meetings], [t('stats.webinars'), s.webinars]] }),
    hbarChart({ title: t('stats.devices'), className: 'stats-devices', name: t('stats.people'),
                rows: sorted(s.devices, device) }),
    hbarChart({ title: t('stats.countries'), className: 'stats-countries', name: t('stats.people'),
                rows: sorted(s.countries, (c) => (c === 'unknown' ? t('stats.unknown') : c)) }),
    hbarChart({ title: t('stats.browsers'), className: 'stats-browsers', name: t('stats.people'),
                rows: sorted(s.browsers, (c) => (c === 'unknown' ? t('stats.unknown') : c)) }),
  );
  charts.querySelector('.stats-months .chart-wrap').scrollLeft = 1e6;   // on a narrow screen: the latest months
}

/** The events to choose from: the planned and live ones and those in the history (newest first). */
async function fillPicker() {
  const [events, hist] = await Promise.all([api('GET', '/events?limit=100'), api('GET', '/history?limit=100')]);
  const seen = new Map();
  for (const h of hist.items) if (!seen.has(h.eventId)) seen.set(h.eventId, `${h.name} (${when(h.startedAt)})`);
  for (const ev of events.items) if (!seen.has(ev.id)) seen.set(ev.id, `${ev.name} (${t(`stats.${ev.status}`) || ev.status})`);
  if (chosen && !seen.has(chosen)) seen.set(chosen, `#${chosen}`);
  const pick = $('stats-event');
  pick.textContent = '';
  pick.append(el('option', { value: '', textContent: t('stats.pick') }));
  for (const [id, name] of seen) pick.append(el('option', { value: String(id), textContent: name }));
  pick.value = chosen ? String(chosen) : '';
}

/** One event's attendees, totals, rating, answers and the exports. */
async function showEvent() {
  const box = $('stats-event-view');
  $('stats-event-error').textContent = '';
  if (!chosen) { box.hidden = true; $('stats-event-note').textContent = t('stats.noEvent'); return; }
  let s;
  try { s = await api('GET', `/events/${chosen}/statistics`); } catch (e) {
    box.hidden = true; $('stats-event-error').textContent = e.message; return;
  }
  box.hidden = false;
  const tot = s.totals;
  $('stats-event-note').textContent = s.attendees.length ? '' : t('stats.noAttendees');
  facts($('stats-event-facts'), [
    [t('stats.attendees'), tot.attendees, 'ev-attendees'],
    [t('stats.timeAttended'), duration(tot.averageSecondsAttended), 'ev-average'],
    [t('stats.rating'), tot.averageRating == null ? t('stats.noRating')
      : t('stats.ratingOf', { avg: tot.averageRating, n: tot.ratings }), 'ev-rating'],
    [t('stats.questions'), tot.questions, 'ev-questions'],
    [t('stats.chatMessages'), tot.chatMessages, 'ev-chat'],
    [t('stats.pollAnswers'), tot.pollAnswers, 'ev-answers'],
  ]);
  const stars = [1, 2, 3, 4, 5].map((n) => s.attendees.filter((a) => a.rating === n).length);
  const charts = $('stats-event-charts'); charts.textContent = '';
  charts.append(
    barChart({ title: t('stats.ratings'), className: 'stats-rating',
               labels: [1, 2, 3, 4, 5].map((n) => t('stats.stars', { n })),
               series: [{ name: t('stats.raters'), values: stars, className: 'stars' }] }),
    hbarChart({ title: t('stats.devices'), className: 'ev-devices', name: t('stats.people'),
                rows: sorted(tot.devices, device) }),
    hbarChart({ title: t('stats.countries'), className: 'ev-countries', name: t('stats.people'),
                rows: sorted(tot.countries, (c) => (c === 'unknown' ? t('stats.unknown') : c)) }),
  );
  const name = s.event.name;
  for (const ext of ['csv', 'xlsx']) {
    const a = $(`stats-${ext}`);
    a.href = `/api/v1/events/${s.event.id}/statistics/attendees.${ext}`;
    a.setAttribute('aria-label', t(ext === 'csv' ? 'stats.downloadCsv' : 'stats.downloadXlsx', { name }));
  }
  const body = $('stats-attendees'); body.textContent = '';
  const answers = $('stats-answers'); answers.textContent = '';
  for (const a of s.attendees) {
    const tr = el('tr', { 'data-email': a.email });
    cell(tr, a.name); cell(tr, a.email); cell(tr, when(a.joinedAt)); cell(tr, when(a.leftAt));
    cell(tr, duration(a.secondsAttended)).className = 'attended';
    cell(tr, a.browser || ''); cell(tr, a.os || ''); cell(tr, a.device ? device(a.device) : '');
    cell(tr, a.country || '');
    cell(tr, a.rating == null ? '' : `${a.rating} ★${a.comment ? ` “${a.comment}”` : ''}`).className = 'rating';
    cell(tr, String(a.questions)).className = 'questions';
    cell(tr, String(a.chatMessages)).className = 'chat';
    body.appendChild(tr);
    for (const p of a.pollAnswers) {
      const row = el('tr', { 'data-email': a.email });
      cell(row, a.name); cell(row, p.poll); cell(row, p.text);
      cell(row, p.score == null ? '' : String(p.score));
      answers.appendChild(row);
    }
  }
  $('stats-answers-note').textContent = tot.pollAnswers ? '' : t('stats.noAnswers');
  await viewers(s.event);
  await pollCharts(s.event.id);
}

/** An on-demand event's viewers (R-AUTO-2, R-STAT-1): who watched and when, newest first. */
async function viewers(ev) {
  const box = $('stats-viewers');
  box.hidden = ev.kind !== 'on_demand';
  if (box.hidden) return;
  const v = await api('GET', `/events/${ev.id}/views?limit=100`);
  $('stats-viewers-note').textContent = v.total
    ? t('stats.viewsOf', { total: v.total, unique: v.uniqueViewers, messages: v.messages }) : t('stats.noViews');
  const body = $('stats-viewers-rows'); body.textContent = '';
  for (const w of v.items) {
    const tr = el('tr', { 'data-email': w.email });
    cell(tr, w.name); cell(tr, w.email); cell(tr, when(w.watchedAt));
    body.appendChild(tr);
  }
}

/** Each launched poll's and test's choice questions as bars: how many picked each option (R-INT-3 results). */
async function pollCharts(eventId) {
  const box = $('stats-poll-charts'); box.textContent = '';
  const polls = await api('GET', `/events/${eventId}/polls`).catch(() => ({ items: [] }));
  const results = await Promise.all(polls.items.map((p) => api('GET', `/events/${eventId}/polls/${p.id}/results`)
    .catch(() => null)));
  for (const r of results) {
    if (!r) continue;
    r.launches.forEach((launch, n) => {
      for (const q of launch.questions) {
        if (!q.options.length) continue;
        const run = r.launches.length > 1 ? ` (${t('stats.run', { n: n + 1 })})` : '';
        box.append(hbarChart({
          title: `${r.poll.name}${run}: ${q.text}`, className: 'stats-poll', name: t('stats.people'),
          rows: q.options.map((o) => [`${o.correct ? '✓ ' : ''}${o.text}`, o.count]),
        }));
      }
    });
  }
}

/** Show the statistics section (the router's entry). */
export async function showStatistics() {
  await Promise.all([showAccount(), fillPicker()]);
  await showEvent();
}

/** The Statistics action of an event's row: this event's numbers in the statistics section. */
export function openStatistics(ev) {
  chosen = ev.id;
  if (location.hash === '#statistics') showStatistics(); else location.hash = 'statistics';
}

/** Wire the section's forms (once). */
export function setupStatistics() {
  $('stats-range').onsubmit = (e) => { e.preventDefault(); showAccount(); };
  $('stats-event').onchange = () => {
    chosen = Number($('stats-event').value) || null;
    showEvent();
  };
}
