// The automated timeline editor (issue 20 item 3, R-AUTO-1): an automated event's components (recorded video,
// video, presentation, poll, call to action, chat module) on a horizontal timeline against a time scale, each
// on a lane of its own so that a call to action may sit before, during or after any other component. A
// component is dragged to move it and resized by its edges with the mouse or a finger (pointer events), or
// moved and resized with the keyboard (arrows; the aria label says its start and length). The timeline is
// Event.options.timeline, saved with PATCH /api/v1/events/{id}; the server validates it
// (mediaserver.events.automation.check and the API's TimelineItem) and its refusal is shown in words, with
// the items it names marked. A scrub line (a slider) previews what is on at a moment; the room link opens the
// event's room page, which plays the timeline when the event is live (signaling/static/timeline.js).
import { addStrings } from '/static/i18n.js';
import { $, api, el, t } from './core.js';

addStrings({
  en: {
    'tl.nav': 'Automated timeline',
    'tl.title': 'Automated timeline',
    'tl.lead': 'The components an automated event plays by itself, against a time scale from its start.',
    'tl.event': 'Automated event',
    'tl.pick': 'Choose an automated event',
    'tl.noEvents': 'No automated event yet: plan one in Events (kind “Automated”).',
    'tl.addKind': 'Component to add',
    'tl.add': 'Add',
    'tl.zoomIn': 'Zoom in',
    'tl.zoomOut': 'Zoom out',
    'tl.help': 'Drag a component to move it and its edges to change when it starts or ends. With the keyboard: Tab to a component, the left and right arrows move it by a second (with Shift: 10 seconds), the up and down arrows make it a second longer or shorter (with Shift: 10 seconds), Home moves it to the start; Enter shows its details below.',
    'tl.components': 'Components of the timeline',
    'tl.empty': 'No components yet: add one above.',
    'tl.item': '{kind} {ref}: starts at {start}, lasts {length}, ends at {end}',
    'tl.grabStart': 'Drag to change when it starts',
    'tl.grabEnd': 'Drag to change when it ends',
    'tl.previewAt': 'Preview: what is on at',
    'tl.onAt': 'At {at}: {what}',
    'tl.nothingAt': 'At {at}: nothing (the timeline ends at {end})',
    'tl.length': 'The timeline lasts {length}.',
    'tl.details': 'The selected component',
    'tl.kind': 'Kind',
    'tl.start': 'Starts at (seconds from the start)',
    'tl.duration': 'Lasts (seconds)',
    'tl.ref': 'Your label (optional)',
    'tl.file': 'File from the library',
    'tl.noFile': 'No file',
    'tl.text': 'Text shown',
    'tl.url': 'Link of the button (https://…)',
    'tl.button': 'Button label',
    'tl.poll': 'Poll or test of this event',
    'tl.noPoll': 'None: only the text',
    'tl.remove': 'Remove the component',
    'tl.save': 'Save the timeline',
    'tl.refused': '{message}',
    'tl.saved': 'Saved: {n} components, {length} in all.',
    'tl.room': 'Open the room page in a new tab',
    'tl.roomNote': 'The room plays the timeline for everyone once the event is live.',
    'tl.k_recording': 'Recording',
    'tl.k_video': 'Video',
    'tl.k_presentation': 'Presentation',
    'tl.k_poll': 'Poll',
    'tl.k_call_to_action': 'Call to action',
    'tl.k_chat': 'Chat',
  },
  ru: {
    'tl.nav': 'Автовебинар',
    'tl.title': 'Сценарий автовебинара',
    'tl.lead': 'Что автовебинар показывает сам, на шкале времени от его начала.',
    'tl.event': 'Автовебинар',
    'tl.pick': 'Выберите автовебинар',
    'tl.noEvents': 'Автовебинаров пока нет: создайте его в разделе «Мероприятия» (вид «Автоматический»).',
    'tl.addKind': 'Что добавить',
    'tl.add': 'Добавить',
    'tl.zoomIn': 'Крупнее',
    'tl.zoomOut': 'Мельче',
    'tl.help': 'Перетащите блок, чтобы сдвинуть его, или его край, чтобы изменить начало или конец. С клавиатуры: перейдите на блок клавишей Tab; стрелки влево и вправо сдвигают его на секунду (с Shift — на 10 секунд), стрелки вверх и вниз удлиняют или укорачивают на секунду (с Shift — на 10 секунд), Home переносит его в начало; Enter показывает его настройки ниже.',
    'tl.components': 'Блоки сценария',
    'tl.empty': 'Блоков пока нет: добавьте первый выше.',
    'tl.item': '{kind} {ref}: начало в {start}, длится {length}, конец в {end}',
    'tl.grabStart': 'Потяните, чтобы изменить начало',
    'tl.grabEnd': 'Потяните, чтобы изменить конец',
    'tl.previewAt': 'Предпросмотр: что идёт в',
    'tl.onAt': 'В {at}: {what}',
    'tl.nothingAt': 'В {at}: ничего (сценарий кончается в {end})',
    'tl.length': 'Сценарий длится {length}.',
    'tl.details': 'Выбранный блок',
    'tl.kind': 'Вид',
    'tl.start': 'Начало (секунд от старта)',
    'tl.duration': 'Длительность (секунд)',
    'tl.ref': 'Ваша подпись (необязательно)',
    'tl.file': 'Файл из библиотеки',
    'tl.noFile': 'Без файла',
    'tl.text': 'Текст',
    'tl.url': 'Ссылка кнопки (https://…)',
    'tl.button': 'Надпись на кнопке',
    'tl.poll': 'Опрос или тест этого мероприятия',
    'tl.noPoll': 'Нет: только текст',
    'tl.remove': 'Удалить блок',
    'tl.save': 'Сохранить сценарий',
    'tl.refused': 'Сервер не принял сценарий: {message}',
    'tl.saved': 'Сохранено: блоков {n}, всего {length}.',
    'tl.room': 'Открыть страницу комнаты в новой вкладке',
    'tl.roomNote': 'Когда мероприятие начнётся, комната проиграет сценарий для всех.',
    'tl.k_recording': 'Запись',
    'tl.k_video': 'Видео',
    'tl.k_presentation': 'Презентация',
    'tl.k_poll': 'Опрос',
    'tl.k_call_to_action': 'Призыв к действию',
    'tl.k_chat': 'Чат',
  },
});

// What the server's TimelineItem accepts (signaling/api/events.py), and what each kind carries.
export const KINDS = ['recording', 'video', 'presentation', 'poll', 'call_to_action', 'chat'];
const MEDIA = ['recording', 'video', 'presentation'];
const FIELDS = {   // the details' fields shown for a kind
  recording: ['file'], video: ['file'], presentation: ['file', 'text'],
  poll: ['poll', 'text'], call_to_action: ['text', 'url', 'button'], chat: [],
};
// The files the server lets a component show (mediaserver.events.automation.content_type): a video for a
// recording or video, a PDF, PNG or JPG slide for a presentation; the server checks again when saving.
const SHOWS = {
  recording: /\.(asf|avi|m4e|m4v|mkv|mov|mp4|mp4v|mpeg|mpg|ogm|ogv|qt|webm|wmv)$/i,
  presentation: /\.(pdf|png|jpg)$/i,
};
SHOWS.video = SHOWS.recording;
const KEPT = ['component', 'start', 'duration', 'ref', 'fileId', 'text', 'url', 'buttonText', 'pollId'];
const OPTIONS = ['chat', 'allowSeek', 'allowMessages', 'leadCapture'];   // the event's other options, kept
const MAX = 86400;
const LANE = 40;      // px: a lane's height

const ed = {
  ev: null, items: [], selected: -1, files: [], polls: [], scale: 1, span: 60, at: 0, drag: null, bad: new Set(),
  dirty: false,   // changed since loaded or saved
  zoom: 1,   // the track's width in widths of its box: wider to place short components on a long timeline
};

/** Seconds as m:ss, or h:mm:ss from an hour (as the server's messages say them). */
export function clock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return h ? `${h}:${String(m).padStart(2, '0')}:${String(r).padStart(2, '0')}` : `${m}:${String(r).padStart(2, '0')}`;
}

const kindName = (k) => t(`tl.k_${k}`);
const end = (i) => i.start + i.duration;
const total = () => Math.max(0, ...ed.items.map(end));

function label(item) {
  const ref = item.ref || item.text || (MEDIA.includes(item.component) && fileName(item.fileId)) || '';
  return t('tl.item', { kind: kindName(item.component), ref: ref ? `“${ref}”` : '', start: clock(item.start),
                        length: clock(item.duration), end: clock(end(item)) }).replace(/ {2,}/g, ' ').replace(' :', ':');
}

function fileName(id) {
  const f = ed.files.find((x) => x.id === id);
  return f ? f.name : '';
}

// ---------------------------------------------------------------- drawing

/** The seconds the track shows and the pixels a second takes (kept while a drag lasts, so nothing jumps). */
function measure() {
  const want = Math.max(60, Math.ceil((total() * 1.25 + 10) / 30) * 30);
  ed.span = Math.min(MAX, want);
  const width = Math.max(280, $('tl-scroll').clientWidth - 2) * ed.zoom;
  ed.scale = width / ed.span;
  $('tl-canvas').style.width = `${width}px`;
  $('tl-canvas').dataset.scale = String(ed.scale);
  $('tl-canvas').dataset.span = String(ed.span);
}

function drawRuler() {
  const ruler = $('tl-ruler'); ruler.textContent = '';
  const step = [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200].find((s) => s * ed.scale >= 64) || 7200;
  for (let s = 0; s <= ed.span; s += step) {
    const tick = el('span', { className: 'tl-tick', textContent: clock(s) });
    tick.style.left = `${s * ed.scale}px`;
    ruler.appendChild(tick);
  }
}

function place(node, item) {
  node.style.left = `${item.start * ed.scale}px`;
  node.style.width = `${Math.max(8, item.duration * ed.scale)}px`;
  node.setAttribute('aria-label', label(item));
  // the organiser's label, else its text or file, else its kind (the colour says the kind too)
  node.querySelector('.tl-name').textContent = item.ref || item.text || fileName(item.fileId) || kindName(item.component);
  node.title = label(item);
  node.querySelector('.tl-time').textContent = `${clock(item.start)}–${clock(end(item))}`;
}

/** Draw the lanes anew (after a change of the list, the scale or the selection). */
function draw() {
  measure();
  drawRuler();
  const lanes = $('tl-lanes'); lanes.textContent = '';
  ed.items.forEach((item, n) => {
    const node = el('div', {
      className: `tl-item k-${item.component}${n === ed.selected ? ' selected' : ''}${ed.bad.has(n) ? ' invalid' : ''}`,
      tabIndex: 0, role: 'button', 'aria-describedby': 'tl-help', 'data-n': String(n),
      'aria-pressed': String(n === ed.selected),
    },
    el('span', { className: 'tl-grip tl-grip-start', title: t('tl.grabStart') }),
    el('span', { className: 'tl-name' }), el('span', { className: 'tl-time' }),
    el('span', { className: 'tl-grip tl-grip-end', title: t('tl.grabEnd') }));
    if (ed.bad.has(n)) node.setAttribute('aria-invalid', 'true');
    place(node, item);
    node.addEventListener('pointerdown', (e) => grab(e, n));
    node.addEventListener('keydown', (e) => key(e, n));
    node.addEventListener('click', () => select(n));
    lanes.appendChild(el('div', { className: 'tl-lane', role: 'listitem' }, node));
  });
  $('tl-lanes').style.minHeight = `${Math.max(1, ed.items.length) * LANE}px`;
  $('tl-empty').hidden = ed.items.length > 0;
  $('tl-total').textContent = t('tl.length', { length: clock(total()) });
  $('tl-at').max = String(ed.span);
  scrub(Math.min(ed.at, ed.span));
  details();
}

/** Move the drawn component n to its item's place (during a drag or a key press: no redraw of the rest). */
function moved(n, announce) {
  const node = $('tl-lanes').querySelector(`.tl-item[data-n="${n}"]`);
  if (node) place(node, ed.items[n]);
  $('tl-total').textContent = t('tl.length', { length: clock(total()) });
  if (n === ed.selected) {   // not while the organiser types in them
    if (document.activeElement !== $('tl-start')) $('tl-start').value = ed.items[n].start;
    if (document.activeElement !== $('tl-duration')) $('tl-duration').value = ed.items[n].duration;
  }
  if (announce) $('tl-live').textContent = label(ed.items[n]);
  scrub(ed.at);
}

// ---------------------------------------------------------------- the preview: what is on at a moment

function scrub(at) {
  ed.at = Math.max(0, Math.min(ed.span, Math.round(at)));
  $('tl-at').value = String(ed.at);
  $('tl-scrub').style.left = `${ed.at * ed.scale}px`;
  const on = ed.items.filter((i) => i.start <= ed.at && ed.at < end(i));
  const what = on.map((i) => `${kindName(i.component)}${i.ref || i.text ? ` “${i.ref || i.text}”` : ''}`).join(', ');
  $('tl-now').textContent = on.length ? t('tl.onAt', { at: clock(ed.at), what })
    : t('tl.nothingAt', { at: clock(ed.at), end: clock(total()) });
  $('tl-at').setAttribute('aria-valuetext', $('tl-now').textContent);
  for (const node of $('tl-lanes').querySelectorAll('.tl-item')) {
    node.classList.toggle('on', on.includes(ed.items[Number(node.dataset.n)]));
  }
}

// ---------------------------------------------------------------- moving and resizing

/** Set an item's start and length within the server's bounds (0 to 24 h, at least a second). */
function setTimes(item, start, duration) {
  item.start = Math.max(0, Math.min(MAX, Math.round(start)));
  item.duration = Math.max(1, Math.min(MAX, Math.round(duration)));
}

function grab(e, n) {
  if (e.button !== 0) return;
  const node = e.currentTarget, item = ed.items[n];
  const grip = e.target.closest('.tl-grip');
  const mode = grip ? (grip.classList.contains('tl-grip-start') ? 'start' : 'end') : 'move';
  ed.drag = { n, mode, x: e.clientX, start: item.start, duration: item.duration, moved: false };
  node.setPointerCapture(e.pointerId);
  node.focus({ preventScroll: true });
  node.classList.add('dragging');
  if (ed.selected !== n) { ed.selected = n; markSelected(); details(); }
  const move = (ev) => {
    const d = ed.drag;
    const delta = Math.round((ev.clientX - d.x) / ed.scale);
    if (delta) d.moved = true;
    if (d.mode === 'move') setTimes(item, d.start + delta, d.duration);
    else if (d.mode === 'end') setTimes(item, d.start, d.duration + delta);
    else {   // the start edge: the end stays where it is
      const start = Math.max(0, Math.min(d.start + d.duration - 1, d.start + delta));
      setTimes(item, start, d.start + d.duration - start);
    }
    moved(n, false);
  };
  const up = () => {
    node.removeEventListener('pointermove', move);
    node.removeEventListener('pointerup', up);
    node.removeEventListener('pointercancel', up);
    node.classList.remove('dragging');
    const changed = ed.drag && ed.drag.moved;
    ed.drag = null;
    if (changed) { changedSince(); draw(); focusItem(n); $('tl-live').textContent = label(ed.items[n]); }
  };
  node.addEventListener('pointermove', move);
  node.addEventListener('pointerup', up);
  node.addEventListener('pointercancel', up);
  e.preventDefault();
}

function key(e, n) {
  const item = ed.items[n];
  const by = e.shiftKey ? 10 : 1;
  const act = {
    ArrowLeft: () => setTimes(item, item.start - by, item.duration),
    ArrowRight: () => setTimes(item, item.start + by, item.duration),
    ArrowUp: () => setTimes(item, item.start, item.duration + by),
    ArrowDown: () => setTimes(item, item.start, item.duration - by),
    Home: () => setTimes(item, 0, item.duration),
  }[e.key];
  if (act) {
    e.preventDefault();
    act();
    changedSince();
    if (end(item) > ed.span || total() * 1.25 + 10 < ed.span / 2) { draw(); focusItem(n); } else moved(n, false);
    $('tl-live').textContent = label(item);
  } else if (e.key === 'Enter' || e.key === ' ') {
    e.preventDefault();
    select(n);
    $('tl-kind').focus();
  }
}

function focusItem(n) {
  const node = $('tl-lanes').querySelector(`.tl-item[data-n="${n}"]`);
  if (node) node.focus();
}

function markSelected() {
  for (const node of $('tl-lanes').querySelectorAll('.tl-item')) {
    const on = Number(node.dataset.n) === ed.selected;
    node.classList.toggle('selected', on);
    node.setAttribute('aria-pressed', String(on));
  }
}

function select(n) {
  ed.selected = n;
  markSelected();
  details();
}

/** Something changed since the last save: the save's note and the marks of a refusal go. */
function changedSince() {
  ed.dirty = true;
  $('tl-note').textContent = '';
  if (ed.bad.size) { ed.bad.clear(); for (const x of $('tl-lanes').querySelectorAll('.invalid')) { x.classList.remove('invalid'); x.removeAttribute('aria-invalid'); } }
}

// ---------------------------------------------------------------- the selected component's details

function details() {
  const item = ed.items[ed.selected];
  $('tl-details').hidden = !item;
  if (!item) return;
  $('tl-kind').value = item.component;
  $('tl-start').value = item.start;
  $('tl-duration').value = item.duration;
  $('tl-ref').value = item.ref || '';
  $('tl-text').value = item.text || '';
  $('tl-url').value = item.url || '';
  $('tl-button').value = item.buttonText || '';
  const files = $('tl-file'); files.textContent = '';
  files.append(el('option', { value: '', textContent: t('tl.noFile') }));
  const fits = SHOWS[item.component] || /$^/;
  for (const f of ed.files.filter((x) => x.status === 'complete' && (fits.test(x.name) || x.id === item.fileId))) {
    files.append(el('option', { value: String(f.id), textContent: f.name }));
  }
  files.value = item.fileId ? String(item.fileId) : '';
  const polls = $('tl-poll'); polls.textContent = '';
  polls.append(el('option', { value: '', textContent: t('tl.noPoll') }));
  for (const p of ed.polls) polls.append(el('option', { value: String(p.id), textContent: p.name }));
  polls.value = item.pollId ? String(item.pollId) : '';
  const shown = FIELDS[item.component];
  for (const f of ['file', 'text', 'url', 'button', 'poll']) $(`tl-${f}-box`).hidden = !shown.includes(f);
}

function edited() {
  const item = ed.items[ed.selected];
  if (!item) return;
  const kind = $('tl-kind').value;
  const num = (id, fallback) => (Number.isFinite(parseInt($(id).value, 10)) ? parseInt($(id).value, 10) : fallback);
  setTimes(item, num('tl-start', item.start), num('tl-duration', item.duration));
  item.ref = $('tl-ref').value;
  const shown = FIELDS[kind];
  item.fileId = shown.includes('file') && $('tl-file').value ? Number($('tl-file').value) : null;
  item.text = shown.includes('text') && $('tl-text').value ? $('tl-text').value : null;
  item.url = shown.includes('url') && $('tl-url').value ? $('tl-url').value : null;
  item.buttonText = shown.includes('button') && $('tl-button').value ? $('tl-button').value : null;
  item.pollId = shown.includes('poll') && $('tl-poll').value ? Number($('tl-poll').value) : null;
  const redraw = kind !== item.component;
  item.component = kind;
  changedSince();
  if (redraw) draw(); else { moved(ed.selected, false); }
  if (redraw) details();
}

// ---------------------------------------------------------------- loading and saving

/** The server's timeline as the editor's items (in the order they start, as the server numbers them). */
function load(ev) {
  ed.ev = ev;
  const got = ((ev.options || {}).timeline || []).map((i) => {
    const item = {};
    for (const k of KEPT) item[k] = i[k] ?? null;
    item.ref = item.ref || '';
    return item;
  });
  got.sort((a, b) => a.start - b.start || a.duration - b.duration);
  ed.items = got;
  ed.dirty = false;
  ed.selected = -1;
  ed.bad.clear();
}

/** What PATCH /api/v1/events/{id} gets: the event's other options as they were, and the timeline. */
function body() {
  const options = {};
  for (const k of OPTIONS) if ((ed.ev.options || {})[k] !== undefined) options[k] = ed.ev.options[k];
  const items = [...ed.items].sort((a, b) => a.start - b.start || a.duration - b.duration);
  options.timeline = items.map((i) => {
    const out = {};
    for (const k of KEPT) if (i[k] !== null && i[k] !== '' && i[k] !== undefined) out[k] = i[k];
    return out;
  });
  return { options };
}

async function save() {
  $('tl-error').textContent = ''; $('tl-note').textContent = '';
  let ev;
  try { ev = await api('PATCH', `/events/${ed.ev.id}`, body()); } catch (e) {
    // the items the server names ("timeline item 2", "timeline items 2 ('offer') and 3") are marked
    const sorted = [...ed.items].sort((a, b) => a.start - b.start || a.duration - b.duration);
    ed.bad.clear();
    const named = /timeline items? (\d+)(?: \([^)]*\))?(?: and (\d+))?/.exec(e.message || '');
    if (named) for (const m of [named[1], named[2]]) if (m && sorted[m - 1]) ed.bad.add(ed.items.indexOf(sorted[m - 1]));
    draw();
    $('tl-error').textContent = t('tl.refused', { message: e.message });
    return;
  }
  const keep = ed.selected >= 0 ? ed.items[ed.selected] : null;
  const order = [...ed.items].sort((a, b) => a.start - b.start || a.duration - b.duration);
  load(ev);
  ed.selected = keep ? order.indexOf(keep) : -1;
  draw();
  $('tl-note').textContent = t('tl.saved', { n: ed.items.length, length: clock(total()) });
}

/** Every file of the account's library (pages of 100). */
async function libraryFiles() {
  const files = [];
  for (let offset = 0; ;) {
    const page = await api('GET', `/files?limit=100&offset=${offset}`);
    files.push(...page.items);
    offset += page.items.length;
    if (!page.items.length || offset >= page.total) return files;
  }
}

async function choose(id) {
  $('tl-error').textContent = ''; $('tl-note').textContent = '';
  if (!id) { $('tl-editor').hidden = true; return; }
  localStorage.setItem('tl.event', String(id));
  if (ed.dirty && ed.ev && String(ed.ev.id) === String(id)) {   // back to it, or the language changed: kept
    $('tl-editor').hidden = false;
    draw();
    return;
  }
  const [ev, files, polls] = await Promise.all([api('GET', `/events/${id}`), libraryFiles(), api('GET', `/events/${id}/polls`)]);
  ed.files = files; ed.polls = polls.items;
  load(ev);
  $('tl-editor').hidden = false;
  $('tl-room').href = ev.url;
  draw();
}

/** Show the section (the router's entry): the automated events to choose from, the chosen one's timeline. */
export async function showTimeline(id) {
  const events = (await api('GET', '/events?limit=100')).items.filter((e) => e.kind === 'automated');
  const pick = $('tl-event'); pick.textContent = '';
  pick.append(el('option', { value: '', textContent: t('tl.pick') }));
  for (const e of events) pick.append(el('option', { value: String(e.id), textContent: e.name }));
  $('tl-none').hidden = events.length > 0;
  const want = String(id || localStorage.getItem('tl.event') || (events.length === 1 ? events[0].id : ''));
  pick.value = events.some((e) => String(e.id) === want) ? want : '';
  await choose(pick.value);
}

let pending = null;
/** The Timeline action of an automated event's row. */
export function openTimeline(ev) {
  pending = ev.id;
  localStorage.setItem('tl.event', String(ev.id));
  if (location.hash === '#timeline') showTimeline(pending); else location.hash = 'timeline';
}

/** Wire the editor (once). */
export function setupTimeline() {
  const kinds = $('tl-add-kind'), kind = $('tl-kind');
  for (const k of KINDS) {
    kinds.append(el('option', { value: k, 'data-i18n': `tl.k_${k}`, textContent: kindName(k) }));
    kind.append(el('option', { value: k, 'data-i18n': `tl.k_${k}`, textContent: kindName(k) }));
  }
  $('tl-event').onchange = () => choose($('tl-event').value).catch((e) => { $('tl-error').textContent = e.message; });
  $('tl-add').onclick = () => {
    const k = $('tl-add-kind').value;
    const item = { component: k, start: ed.at, duration: k === 'call_to_action' || k === 'poll' ? 30 : 60, ref: '',
                   fileId: null, text: null, url: null, buttonText: null, pollId: null };
    ed.items.push(item);
    ed.selected = ed.items.length - 1;
    changedSince();
    draw();
    focusItem(ed.selected);
    $('tl-live').textContent = label(item);
  };
  for (const id of ['tl-kind', 'tl-start', 'tl-duration', 'tl-ref', 'tl-file', 'tl-text', 'tl-url', 'tl-button', 'tl-poll']) {
    $(id).addEventListener($(id).tagName === 'SELECT' ? 'change' : 'input', edited);
  }
  $('tl-remove').onclick = () => {
    ed.items.splice(ed.selected, 1);
    ed.selected = -1;
    changedSince();
    draw();
    $('tl-add').focus();
  };
  $('tl-at').addEventListener('input', () => scrub(Number($('tl-at').value)));
  const zoom = (by) => {
    ed.zoom = Math.max(1, Math.min(16, ed.zoom * by));
    $('tl-zoom-out').disabled = ed.zoom === 1; $('tl-zoom-in').disabled = ed.zoom === 16;
    draw();
    $('tl-scroll').scrollLeft = Math.max(0, ed.at * ed.scale - $('tl-scroll').clientWidth / 2);   // the scrub line in view
  };
  $('tl-zoom-in').onclick = () => zoom(2);
  $('tl-zoom-out').onclick = () => zoom(0.5);
  $('tl-zoom-out').disabled = true;
  $('tl-ruler').addEventListener('pointerdown', (e) => {
    scrub((e.clientX - $('tl-ruler').getBoundingClientRect().left) / ed.scale);
  });
  $('tl-form').onsubmit = (e) => { e.preventDefault(); save(); };
  window.addEventListener('resize', () => { if (ed.ev && !$('tl-editor').hidden && !ed.drag) draw(); });
}

/** The route's entry when the section is shown without a row's action. */
export function timelineSection() {
  const id = pending; pending = null;
  return showTimeline(id);
}
