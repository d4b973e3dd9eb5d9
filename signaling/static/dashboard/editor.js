// The event editor (issue 20 item 2; R-ROOM-4, -6, -8..-12, R-AUTO-2, R-BILL-10): one form that plans an
// event (POST /api/v1/events) and edits one (an event's Edit action loads it; PATCH /api/v1/events/{id}) with
// every setting the API takes: kind, room type, start in the event's time zone, duration, language, access
// (password, personal tokens, paid tickets with price and currency), agenda, lobby message, thank-you page,
// the video of an on-demand event, phone dial-in, the options, the registration form builder and the
// event's own branding with a live preview (branding-editor.js). The server's validation errors are shown
// next to the form in words, naming the field.
import { addStrings, errorText } from '/static/i18n.js';
import { $, api, el, t } from './core.js';
import { brandingControls, merged, preview } from './branding-editor.js';

addStrings({
  en: {
    'ev.basics': 'The event',
    'ev.roomType': 'Room',
    'ev.webinar': 'Webinar (presenters and an audience)',
    'ev.meeting': 'Meeting (everyone may speak)',
    'ev.language': 'Language of its pages and e-mails',
    'ev.startsAt': 'Starts at (in the time zone below; scheduled and automated events)',
    'ev.timezone': 'Time zone',
    'ev.duration': 'Duration (minutes)',
    'ev.accessPaid': 'Paid ticket',
    'ev.price': 'Ticket price',
    'ev.currency': 'Currency (ISO code, e.g. EUR)',
    'ev.noteOpen': 'Anyone with the link or the room ID joins.',
    'ev.notePassword': 'People type the password to join.',
    'ev.notePasswordKeep': 'People type the password to join. Leave the field empty to keep the current password.',
    'ev.noteToken': 'Each invitee gets a personal token in the invitation; nobody else joins. Not with phone dial-in.',
    'ev.notePaid': 'People buy a ticket on the room page (a payment provider must be linked; not on the trial).',
    'ev.pages': 'Pages and content',
    'ev.agenda': 'Agenda (shown in the lobby and the invitation)',
    'ev.lobbyMessage': 'Lobby message (shown to people waiting for the start)',
    'ev.thankYouUrl': 'Thank-you page after the event (a URL; empty: ours, with the rating form)',
    'ev.video': 'The video it plays (a finished video of your files)',
    'ev.noVideo': '(none yet)',
    'ev.noVideos': 'No finished video in your files yet: upload one, then choose it here.',
    'ev.dialIn': 'Phone dial-in (the numbers and PIN go in the invitation)',
    'ev.dialInNumbers': 'Dial-in numbers of this server: {numbers}',
    'ev.options': 'Options',
    'ev.optChat': 'Chat in the room',
    'ev.optSeek': 'Viewers may seek in the video',
    'ev.optMessages': 'Viewers may leave a message for you',
    'ev.optLeads': 'Viewers\' addresses go to a contact group (lead capture)',
    'ev.registration': 'Registration form',
    'ev.regOn': 'People register before they join',
    'ev.regRedirect': 'After registering, go to (a URL; optional)',
    'ev.regBuiltIn': 'Always asked, and required: first name, last name, e-mail. Your own fields follow in this order:',
    'ev.regAdd': 'Add a field',
    'ev.regField': 'Field {n}',
    'ev.regLabel': 'Question shown (field {n})',
    'ev.regName': 'Key in the data (field {n}; letters, digits, _)',
    'ev.regType': 'Type (field {n})',
    'ev.regRequired': 'Required (field {n})',
    'ev.regOptions': 'Choices, one per line (field {n})',
    'ev.regUp': 'Move field {n} up',
    'ev.regDown': 'Move field {n} down',
    'ev.regRemove': 'Remove field {n}',
    'ev.type_text': 'Short text',
    'ev.type_textarea': 'Long text',
    'ev.type_email': 'E-mail',
    'ev.type_phone': 'Phone',
    'ev.type_select': 'Choice from a list',
    'ev.type_checkbox': 'Checkbox (yes or no)',
    'ev.branding': 'Branding of this event, with a preview',
    'ev.mailPreview': 'Preview the invitation e-mail',
    'ev.mailPreviewNew': 'Save the event first: the e-mail preview shows its link and room ID.',
    'ev.mailFrame': 'The invitation e-mail',
    'ev.mailSubject': 'Subject: {subject}',
    'ev.editTitle': 'Edit: {name}',
    'ev.edit': 'Edit',
    'ev.saved': 'Saved.',
    'ev.created': 'The event “{name}” is planned.',
    'ev.reminder': 'The settings changed: {n} invitee(s) hold the old invitation. We also e-mailed you this reminder; re-send the invitations from Invite.',
    'ev.changeWarn': 'Invitations were sent for this event: after you save a change, you get an e-mail reminder to re-send them, and Invite shows who has the old one.',
    'ev.badField': 'Check “{field}”: {message}',
    'ev.check': 'Check the form: {message}',
    'ev.err_token_dial_in_conflict': 'Personal tokens and phone dial-in do not go together: turn dial-in off or choose another access.',
    'ev.err_plan_required': 'Paid tickets are not available on the free trial.',
    'ev.err_payment_provider_required': 'Link a payment provider before selling tickets.',
  },
  ru: {
    'ev.basics': 'Мероприятие',
    'ev.roomType': 'Комната',
    'ev.webinar': 'Вебинар (ведущие и зрители)',
    'ev.meeting': 'Встреча (говорить могут все)',
    'ev.language': 'Язык страниц и писем',
    'ev.startsAt': 'Начало (в часовом поясе ниже; для запланированных и автоматических)',
    'ev.timezone': 'Часовой пояс',
    'ev.duration': 'Длительность (минут)',
    'ev.accessPaid': 'Платный билет',
    'ev.price': 'Цена билета',
    'ev.currency': 'Валюта (код ISO, например EUR)',
    'ev.noteOpen': 'Войти может любой, у кого есть ссылка или ID комнаты.',
    'ev.notePassword': 'Для входа нужно ввести пароль.',
    'ev.notePasswordKeep': 'Для входа нужно ввести пароль. Оставьте поле пустым, чтобы сохранить текущий пароль.',
    'ev.noteToken': 'Каждый приглашённый получает личный токен в приглашении; другие не войдут. Несовместимо с дозвоном по телефону.',
    'ev.notePaid': 'Билет покупают на странице комнаты (нужен подключённый платёжный провайдер; не на пробном периоде).',
    'ev.pages': 'Страницы и содержание',
    'ev.agenda': 'Программа (в зале ожидания и в приглашении)',
    'ev.lobbyMessage': 'Сообщение в зале ожидания (для тех, кто ждёт начала)',
    'ev.thankYouUrl': 'Страница благодарности после мероприятия (адрес; пусто: наша, с формой оценки)',
    'ev.video': 'Видео для показа (готовое видео из ваших файлов)',
    'ev.noVideo': '(пока нет)',
    'ev.noVideos': 'В ваших файлах пока нет готового видео: загрузите его и выберите здесь.',
    'ev.dialIn': 'Дозвон по телефону (номера и PIN будут в приглашении)',
    'ev.dialInNumbers': 'Номера для дозвона этого сервера: {numbers}',
    'ev.options': 'Параметры',
    'ev.optChat': 'Чат в комнате',
    'ev.optSeek': 'Зрители могут перематывать видео',
    'ev.optMessages': 'Зрители могут оставить вам сообщение',
    'ev.optLeads': 'Адреса зрителей попадают в группу контактов (сбор лидов)',
    'ev.registration': 'Форма регистрации',
    'ev.regOn': 'Перед входом нужно зарегистрироваться',
    'ev.regRedirect': 'После регистрации перейти на (адрес; необязательно)',
    'ev.regBuiltIn': 'Всегда спрашиваются и обязательны: имя, фамилия, e-mail. Ваши поля идут далее в этом порядке:',
    'ev.regAdd': 'Добавить поле',
    'ev.regField': 'Поле {n}',
    'ev.regLabel': 'Вопрос (поле {n})',
    'ev.regName': 'Ключ в данных (поле {n}; буквы, цифры, _)',
    'ev.regType': 'Тип (поле {n})',
    'ev.regRequired': 'Обязательное (поле {n})',
    'ev.regOptions': 'Варианты, по одному в строке (поле {n})',
    'ev.regUp': 'Переместить поле {n} выше',
    'ev.regDown': 'Переместить поле {n} ниже',
    'ev.regRemove': 'Удалить поле {n}',
    'ev.type_text': 'Короткий текст',
    'ev.type_textarea': 'Длинный текст',
    'ev.type_email': 'E-mail',
    'ev.type_phone': 'Телефон',
    'ev.type_select': 'Выбор из списка',
    'ev.type_checkbox': 'Флажок (да или нет)',
    'ev.branding': 'Фирменный стиль мероприятия с предпросмотром',
    'ev.mailPreview': 'Показать письмо-приглашение',
    'ev.mailPreviewNew': 'Сначала сохраните мероприятие: в предпросмотре письма будут его ссылка и ID комнаты.',
    'ev.mailFrame': 'Письмо-приглашение',
    'ev.mailSubject': 'Тема: {subject}',
    'ev.editTitle': 'Изменить: {name}',
    'ev.edit': 'Изменить',
    'ev.saved': 'Сохранено.',
    'ev.created': 'Мероприятие «{name}» запланировано.',
    'ev.reminder': 'Настройки изменились: у {n} приглашённых старое приглашение. Мы также отправили вам это напоминание по e-mail; отправьте приглашения повторно в разделе «Пригласить».',
    'ev.changeWarn': 'Для этого мероприятия уже отправлены приглашения: после сохранения изменений вы получите напоминание по e-mail, чтобы отправить их повторно.',
    'ev.badField': 'Проверьте «{field}»: {message}',
    'ev.check': 'Проверьте форму: {message}',
    'ev.err_token_dial_in_conflict': 'Личные токены и дозвон по телефону несовместимы: отключите дозвон или выберите другой доступ.',
    'ev.err_plan_required': 'Платные билеты недоступны на пробном периоде.',
    'ev.err_payment_provider_required': 'Подключите платёжного провайдера, прежде чем продавать билеты.',
  },
});

const FIELD_TYPES = ['text', 'textarea', 'email', 'phone', 'select', 'checkbox'];
// the form's control of each API field, for naming the field of a validation error and marking it
const CONTROLS = {
  name: 'event-name', kind: 'event-kind', roomType: 'event-room-type', language: 'event-language',
  startsAt: 'event-start', timezone: 'event-timezone', durationMinutes: 'event-duration', access: 'event-access',
  password: 'event-password', ticketPrice: 'event-price', ticketCurrency: 'event-currency',
  agenda: 'event-agenda', lobbyMessage: 'event-lobby', thankYouUrl: 'event-thanks', videoFileId: 'event-video',
  dialIn: 'event-dialin', registration: 'event-reg-on', branding: 'event-brand-box',
};

let editing = null;      // the event being edited (null: a new one)
let refresh = async () => {};
let brand = null;        // the branding controls
let accountBranding = {};
let regFields = [];

// ---------------------------------------------------------------- time in the event's zone

/** Minutes the zone is ahead of UTC at the instant ms. */
function offset(ms, tz) {
  const p = Object.fromEntries(new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric',
    month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })
    .formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return (Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second) - ms) / 60000;
}

/** 'YYYY-MM-DDTHH:MM' on the wall clock of tz as an ISO instant. */
export function zonedToIso(local, tz) {
  const [d, tm] = local.split('T');
  const [y, mo, da] = d.split('-').map(Number); const [h, mi] = tm.split(':').map(Number);
  const wall = Date.UTC(y, mo - 1, da, h, mi);
  let ms = wall - offset(wall, tz) * 60000;
  ms = wall - offset(ms, tz) * 60000;   // once more, across a change of the zone's offset
  return new Date(ms).toISOString();
}

/** An ISO instant as 'YYYY-MM-DDTHH:MM' on the wall clock of tz. */
export function isoToZoned(iso, tz) {
  const ms = Date.parse(iso);
  return new Date(ms + offset(ms, tz) * 60000).toISOString().slice(0, 16);
}

function zones() {
  const own = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  const all = (Intl.supportedValuesOf ? Intl.supportedValuesOf('timeZone') : [own]).slice();
  for (const z of ['UTC', own]) if (!all.includes(z)) all.unshift(z);
  $('event-timezone').replaceChildren(...all.map((z) => el('option', { value: z, textContent: z.replace(/_/g, ' ') })));
  return own;
}

// ---------------------------------------------------------------- the form's parts

/** Show what the chosen kind and access use. */
function adapt() {
  const kind = $('event-kind').value; const access = $('event-access').value;
  $('event-password-box').hidden = access !== 'password';
  $('event-price-box').hidden = $('event-currency-box').hidden = access !== 'paid';
  $('event-password').required = access === 'password' && !(editing && editing.access === 'password');
  $('event-price').required = $('event-currency').required = access === 'paid';
  const keep = editing && editing.access === 'password';
  $('event-access-note').textContent = t({ open: 'ev.noteOpen', password: keep ? 'ev.notePasswordKeep' : 'ev.notePassword',
    token: 'ev.noteToken', paid: 'ev.notePaid' }[access]);
  $('event-start').required = kind === 'scheduled' || kind === 'automated';
  $('event-video-box').hidden = kind !== 'on_demand';
  for (const e of document.querySelectorAll('#event-form .od-only')) e.hidden = kind !== 'on_demand';
  if (kind === 'on_demand') loadVideos();
}

let videosFor = null;
async function loadVideos() {
  if (videosFor === editing) return;
  videosFor = editing;
  // R-FILE-4's video extensions (mediaserver/library/files.py VIDEO_TYPES); the server checks again
  const video = /\.(asf|avi|mkv|mov|qt|mpeg|mpg|mp4|mp4v|m4v|m4e|ogm|ogv|webm|wmv)$/i;
  const files = await api('GET', '/files?limit=100').catch(() => ({ items: [] }));
  const usable = files.items.filter((f) => video.test(f.name) && f.status === 'complete'
    || editing && f.id === editing.videoFileId);
  const sel = $('event-video');
  sel.replaceChildren(el('option', { value: '', textContent: t('ev.noVideo') }),
    ...usable.map((f) => el('option', { value: String(f.id), textContent: f.name })));
  sel.value = editing && editing.videoFileId ? String(editing.videoFileId) : '';
  $('event-video-note').textContent = usable.length ? '' : t('ev.noVideos');
}

/** The registration builder: the custom fields with their name, label, type, required flag and choices. */
function drawFields() {
  const list = $('event-reg-fields'); list.textContent = '';
  regFields.forEach((f, i) => {
    const n = i + 1; const id = (what) => `event-reg-${what}-${i}`;
    const input = (what, props, labelKey) => {
      const c = el(props.tag || 'input', { id: id(what), className: `reg-${what}`, ...props.attrs });
      return [el('label', { htmlFor: c.id, textContent: t(labelKey, { n }) }), c];
    };
    const [ll, label] = input('label', { attrs: { value: f.label, maxLength: 100, required: true } }, 'ev.regLabel');
    label.oninput = () => {
      // the key follows the label until the organiser changes it
      if (!f.nameTouched && !f.saved) { f.name = keyOf(label.value, i); name.value = f.name; }
      f.label = label.value; changed();
    };
    const [nl, name] = input('name', { attrs: { value: f.name, maxLength: 40, required: true, pattern: '[a-zA-Z][a-zA-Z0-9_]{0,39}' } }, 'ev.regName');
    name.oninput = () => { f.name = name.value; f.nameTouched = true; };
    const [tl, type] = input('type', { tag: 'select' }, 'ev.regType');
    type.append(...FIELD_TYPES.map((k) => el('option', { value: k, textContent: t(`ev.type_${k}`), selected: k === f.type })));
    type.onchange = () => { f.type = type.value; drawFields(); };
    const req = el('input', { type: 'checkbox', id: id('required'), className: 'reg-required', checked: !!f.required });
    req.onchange = () => { f.required = req.checked; changed(); };
    const li = el('li', { className: 'reg-field' },
      el('div', { className: 'grid-form' }, el('div', {}, ll, label), el('div', {}, nl, name), el('div', {}, tl, type)),
      el('label', { className: 'check', htmlFor: req.id }, req, el('span', { textContent: t('ev.regRequired', { n }) })));
    if (f.type === 'select') {
      const [ol, opts] = input('options', { tag: 'textarea', attrs: { rows: 3, value: (f.options || []).join('\n'), required: true } }, 'ev.regOptions');
      opts.oninput = () => { f.options = opts.value.split('\n').map((x) => x.trim()).filter(Boolean); };
      li.append(ol, opts);
    }
    const move = (d) => { const j = i + d; [regFields[i], regFields[j]] = [regFields[j], regFields[i]]; drawFields(); };
    const tools = el('div', { className: 'row wrap reg-tools' });
    if (i > 0) tools.append(el('button', { type: 'button', className: 'reg-up', textContent: '↑', 'aria-label': t('ev.regUp', { n }), onclick: () => move(-1) }));
    if (i < regFields.length - 1) tools.append(el('button', { type: 'button', className: 'reg-down', textContent: '↓', 'aria-label': t('ev.regDown', { n }), onclick: () => move(1) }));
    tools.append(el('button', { type: 'button', className: 'reg-remove', textContent: '✕', 'aria-label': t('ev.regRemove', { n }),
      onclick: () => { regFields.splice(i, 1); drawFields(); } }));
    li.append(tools);
    list.append(li);
  });
  $('event-reg-box').hidden = !$('event-reg-on').checked;
  changed();
}

function keyOf(label, i) {
  const words = label.normalize('NFKD').replace(/[^\w\s]/g, '').trim().split(/\s+/).filter(Boolean);
  let key = words.map((w, j) => (j ? w[0].toUpperCase() + w.slice(1).toLowerCase() : w.toLowerCase())).join('')
    .replace(/[^a-zA-Z0-9_]/g, '').slice(0, 40);
  if (!/^[a-zA-Z]/.test(key)) key = `field${i + 1}${key}`.slice(0, 40);
  return key;
}

/** Redraw the event's branding preview (the account's branding under the event's own, as the room merges). */
function changed() {
  if (!brand) return;
  preview($('event-brand-preview'), merged(accountBranding, brand.get()), {
    name: $('event-name').value, agenda: $('event-agenda').value, lobbyMessage: $('event-lobby').value,
    thankYouUrl: $('event-thanks').value, registration: $('event-reg-on').checked,
    fields: [t('reg.firstName'), t('reg.lastName'), t('reg.email')].map((label) => `${label} *`)
      .concat(regFields.filter((f) => f.label).map((f) => (f.required ? `${f.label} *` : f.label))),
  });
}

// ---------------------------------------------------------------- load, read and save

/** Fill the form: a new event (null) or one to edit. */
export async function loadEvent(ev) {
  editing = ev; videosFor = undefined;
  $('event-form').reset();
  for (const e of document.querySelectorAll('#event-form [aria-invalid]')) e.removeAttribute('aria-invalid');
  $('event-error').textContent = ''; $('event-note').textContent = ''; $('event-dialin-note').textContent = '';
  const own = zones();
  const settings = await api('GET', '/account/settings').catch(() => ({ branding: {}, language: 'en' }));
  accountBranding = settings.branding || {};
  $('plan-title').textContent = ev ? t('ev.editTitle', { name: ev.name }) : t('dash.planTitle');
  $('event-cancel').hidden = !ev;
  $('event-kind').disabled = !!ev;   // the API changes everything but the kind
  $('event-timezone').value = ev ? ev.timezone : own;
  $('event-language').value = ev ? ev.language : settings.language || 'en';
  if (ev) {
    $('event-name').value = ev.name; $('event-kind').value = ev.kind; $('event-room-type').value = ev.roomType;
    $('event-start').value = ev.startsAt ? isoToZoned(ev.startsAt, ev.timezone) : '';
    $('event-duration').value = ev.durationMinutes; $('event-access').value = ev.access;
    $('event-price').value = ev.ticketPrice || ''; $('event-currency').value = ev.ticketCurrency || '';
    $('event-agenda').value = ev.agenda; $('event-lobby').value = ev.lobbyMessage;
    $('event-thanks').value = ev.thankYouUrl || ''; $('event-dialin').checked = ev.dialIn;
    const o = ev.options || {};
    $('event-opt-chat').checked = o.chat !== false; $('event-opt-seek').checked = o.allowSeek !== false;
    $('event-opt-messages').checked = o.allowMessages !== false; $('event-opt-leads').checked = !!o.leadCapture;
    $('event-reg-on').checked = ev.registration.enabled;
    $('event-reg-redirect').value = ev.registration.redirectUrl || '';
    regFields = ev.registration.fields.slice(3).map((f) => ({ ...f, options: f.options || [], saved: true }));
    if (ev.invitationsOutdated === 0 && ev.status !== 'done') {
      const sent = await api('GET', `/events/${ev.id}/invitations?limit=1`).then((r) => r.total, () => 0);
      if (sent) $('event-note').textContent = t('ev.changeWarn');
    }
  } else {
    regFields = [];
  }
  brand.set(ev ? ev.branding : {});
  $('event-mail-preview').hidden = !ev; $('event-mail-note').hidden = !!ev;
  $('event-mail-frame').hidden = true; $('event-mail-frame').removeAttribute('srcdoc');
  $('event-mail-subject').textContent = '';
  drawFields(); adapt(); changed();
}

/** The API body of the form: for a new event everything, for an edit what PATCH takes. */
function body() {
  const v = (id) => $(id).value;
  const tz = v('event-timezone');
  const b = { name: v('event-name'), roomType: v('event-room-type'), language: v('event-language'), timezone: tz,
    durationMinutes: Number(v('event-duration')) || 60, access: v('event-access'),
    agenda: v('event-agenda'), lobbyMessage: v('event-lobby'), dialIn: $('event-dialin').checked };
  if (!editing) b.kind = v('event-kind');
  const kind = editing ? editing.kind : b.kind;
  if (v('event-start')) {
    const iso = zonedToIso(v('event-start'), tz);
    // a start left as it was is not sent again (an event that began has a start in the past)
    if (!editing || !editing.startsAt || Date.parse(editing.startsAt) !== Date.parse(iso)) b.startsAt = iso;
  }
  if (b.access === 'password' && v('event-password')) b.password = v('event-password');
  if (b.access === 'paid') { b.ticketPrice = v('event-price'); b.ticketCurrency = v('event-currency').toUpperCase(); }
  if (v('event-thanks').trim()) b.thankYouUrl = v('event-thanks').trim();
  else if (editing && editing.thankYouUrl) b.thankYouUrl = null;   // our own thank-you page again
  if (kind === 'on_demand') b.videoFileId = v('event-video') ? Number(v('event-video')) : null;
  // the options object is replaced whole: what the form does not show (the automated timeline) is kept
  b.options = { ...((editing && editing.options) || {}), chat: $('event-opt-chat').checked };
  if (kind === 'on_demand') {
    Object.assign(b.options, { allowSeek: $('event-opt-seek').checked, allowMessages: $('event-opt-messages').checked,
      leadCapture: $('event-opt-leads').checked });
  }
  const reg = { enabled: $('event-reg-on').checked,
    fields: regFields.map((f) => ({ name: f.name, label: f.label, type: f.type, required: !!f.required,
      options: f.type === 'select' ? f.options || [] : [] })) };
  if (v('event-reg-redirect').trim()) reg.redirectUrl = v('event-reg-redirect').trim();
  b.registration = reg;
  b.branding = brand.get();
  return b;
}

/** The server's refusal in words next to the form, the field named and marked. */
function refused(e) {
  const local = `ev.err_${e.code}`;
  let text;
  if (t(local) !== local) text = t(local);
  else if (e.code === 'bad_request' || e.code === 'bad_json') {
    const m = /^([a-zA-Z]+)(?:\.[\w.]+)?: (.*)$/s.exec(e.message || '');
    const id = m && CONTROLS[m[1]];
    if (id) {
      $(id).setAttribute('aria-invalid', 'true');
      const label = document.querySelector(`label[for="${id}"]`) || $(id).querySelector('.fold-toggle, legend');
      if (id === 'event-brand-box') { $('event-brand-body').hidden = false; $('event-brand-toggle').setAttribute('aria-expanded', 'true'); }
      text = t('ev.badField', { field: label ? label.textContent.trim() : m[1], message: e.message });
    } else text = t('ev.check', { message: e.message });
  } else text = errorText(e.code, e.message);
  $('event-error').textContent = text;
}

async function save(evt) {
  evt.preventDefault();
  for (const e of document.querySelectorAll('#event-form [aria-invalid]')) e.removeAttribute('aria-invalid');
  $('event-error').textContent = ''; $('event-note').textContent = '';
  try {
    const b = body();
    if (editing) {
      const saved = await api('PATCH', `/events/${editing.id}`, b);
      await loadEvent(saved);
      $('event-note').textContent = saved.reminder ? t('ev.reminder', { n: saved.invitationsOutdated }) : t('ev.saved');
    } else {
      const made = await api('POST', '/events', b);
      await loadEvent(null);
      $('event-note').textContent = t('ev.created', { name: made.name });
    }
    await refresh();
  } catch (e) { refused(e); }
}

/** Wire the form (once); refreshList() draws the events again after a save. */
export function setupEditor(refreshList) {
  refresh = refreshList;
  brand = brandingControls($('event-brand-controls'), 'event-brand', changed);
  zones();
  $('event-kind').onchange = adapt;
  $('event-access').onchange = adapt;
  $('event-reg-on').onchange = () => { $('event-reg-box').hidden = !$('event-reg-on').checked; changed(); };
  $('event-reg-add').onclick = () => {
    regFields.push({ name: `field${regFields.length + 1}`, label: '', type: 'text', required: false, options: [] });
    drawFields();
    $(`event-reg-label-${regFields.length - 1}`).focus();
  };
  for (const id of ['event-name', 'event-agenda', 'event-lobby', 'event-thanks']) $(id).addEventListener('input', changed);
  $('event-brand-toggle').onclick = () => {
    const open = $('event-brand-body').hidden;
    $('event-brand-body').hidden = !open;
    $('event-brand-toggle').setAttribute('aria-expanded', String(open));
  };
  // R-ROOM-11: the invitation as an attendee would get it, with the blocks being edited (rendered by the
  // server, which sends it the same way; shown in a sandboxed frame)
  $('event-mail-preview').onclick = async () => {
    $('event-error').textContent = '';
    try {
      const got = await api('POST', `/events/${editing.id}/invitations/preview`, { branding: brand.get() });
      $('event-mail-subject').textContent = t('ev.mailSubject', { subject: got.subject });
      $('event-mail-frame').srcdoc = got.html;
      $('event-mail-frame').hidden = false;
    } catch (e) { refused(e); }
  };
  $('event-form').onsubmit = save;
  $('event-cancel').onclick = () => loadEvent(null);
  $('event-form').addEventListener('reset', () => setTimeout(adapt));
  $('event-timezone').value = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  brand.set({});
  $('event-mail-preview').hidden = true; $('event-mail-note').hidden = false;
  drawFields(); adapt(); changed();
}

let started = false;
/** Each time the Events section is drawn: the labels in the page's language (which may have changed) and
 * the account's branding under the event's in the preview (it may be another account's after a log-in-as);
 * the form keeps what was typed. */
export async function formReady() {
  brand.relabel(); drawFields(); adapt();
  if (editing) $('plan-title').textContent = t('ev.editTitle', { name: editing.name });
  const settings = await api('GET', '/account/settings').catch(() => ({ branding: {} }));
  accountBranding = settings.branding || {};
  if (!started && !editing && settings.language) $('event-language').value = settings.language;   // the API's default
  started = true;
  changed();
}

/** The Edit action of an event: the form shows it, scrolled into view. */
export async function editEvent(ev) {
  const fresh = await api('GET', `/events/${ev.id}`);
  await loadEvent(fresh);
  await dialInNumbers(fresh.roomId);
  $('plan-panel').scrollIntoView({ block: 'start' });
  $('event-name').focus();
}

/** Show the dial-in numbers of this server next to the checkbox (from an event's public page data). */
export async function dialInNumbers(roomId) {
  const info = await api('GET', `/public/events/${roomId}`).catch(() => null);
  $('event-dialin-note').textContent = info && info.dialInNumbers.length
    ? t('ev.dialInNumbers', { numbers: info.dialInNumbers.join(', ') }) : '';
}
