// Branding controls and their live preview (issue 20 item 1, R-ROOM-11): the logo, the four colours, a
// background image per screen, the invitation e-mail's block layout and signature, as `branding` in
// PATCH /api/v1/account/settings (the account's) and in POST/PATCH /api/v1/events (one event's, over the
// account's key by key). The preview is a small render of the room's join screen, lobby and thank-you screen
// with room.css's own classes and the very CSS variables branding.js sets on the room page
// (brandingVariables), so what it shows is what the room shows; it follows every keystroke, before saving.
import { addStrings } from '/static/i18n.js';
import { brandingVariables, imageUrl, setVariables } from '/static/branding.js';
import { $, api, el, t } from './core.js';

addStrings({
  en: {
    'brand.title': 'Branding',
    'brand.lead': 'Your logo, colours and background images on the room, registration, lobby and thank-you pages, and the layout of the invitation e-mail.',
    'brand.eventLead': 'This event\'s own branding: what you set here replaces the account\'s, colour by colour and image by image; what you leave unset is the account\'s.',
    'brand.logo': 'Logo (an image URL, http or https)',
    'brand.colors': 'Colours',
    'brand.own': 'Set',
    'brand.color_primary': 'Buttons and highlights',
    'brand.color_accent': 'Links and the header\'s line',
    'brand.color_background': 'Page background',
    'brand.color_text': 'Text',
    'brand.backgrounds': 'Background images (URLs)',
    'brand.bg_room': 'Join screen and room',
    'brand.bg_registration': 'Registration form',
    'brand.bg_lobby': 'Lobby and waiting room',
    'brand.bg_thankYou': 'Thank-you screen',
    'brand.email': 'Invitation e-mail',
    'brand.emailLead': 'The blocks of the invitation e-mail, top to bottom. With no blocks the e-mail has the standard layout.',
    'brand.block': 'Block {n}',
    'brand.blockValue': 'Content of block {n}',
    'brand.addBlock': 'Add a block',
    'brand.standard': 'Back to the standard layout',
    'brand.up': 'Move block {n} up',
    'brand.down': 'Move block {n} down',
    'brand.remove': 'Remove block {n}',
    'brand.block_logo': 'Logo',
    'brand.block_link': 'Join link',
    'brand.block_room_id': 'Room ID',
    'brand.block_token': 'Personal token',
    'brand.block_dial_in': 'Dial-in numbers',
    'brand.block_agenda': 'Agenda',
    'brand.block_presenter': 'Presenter',
    'brand.block_buttons': 'Buttons: accept, decline, add to calendar',
    'brand.block_text': 'Text',
    'brand.block_image': 'Image (URL)',
    'brand.block_url': 'Link (URL)',
    'brand.signature': 'Signature under the invitation (empty: the account\'s signature)',
    'brand.preview': 'Live preview of the room (saved only when you save)',
    'brand.pvJoin': 'Join the room',
    'brand.pvName': 'Display name',
    'brand.pvButton': 'Join',
    'brand.pvLink': 'A link',
    'brand.pvLobby': 'Lobby',
    'brand.pvRegistration': 'Registration',
    'brand.pvRegister': 'Register and join',
    'brand.pvNotStarted': 'The event has not started yet.',
    'brand.pvThanks': 'Thank you for taking part',
    'brand.pvThanksText': 'The host has closed this room.',
    'brand.pvThanksUrl': 'Attendees then go to {url}',
    'brand.pvEvent': 'Your event',
    'brand.save': 'Save the branding',
    'brand.saved': 'The branding is saved.',
  },
  ru: {
    'brand.title': 'Фирменный стиль',
    'brand.lead': 'Ваш логотип, цвета и фоновые изображения на страницах комнаты, регистрации, зала ожидания и благодарности, а также вид письма-приглашения.',
    'brand.eventLead': 'Собственный стиль этого мероприятия: заданное здесь заменяет стиль аккаунта по каждому цвету и изображению; незаданное берётся из аккаунта.',
    'brand.logo': 'Логотип (адрес изображения, http или https)',
    'brand.colors': 'Цвета',
    'brand.own': 'Задать',
    'brand.color_primary': 'Кнопки и выделение',
    'brand.color_accent': 'Ссылки и линия шапки',
    'brand.color_background': 'Фон страницы',
    'brand.color_text': 'Текст',
    'brand.backgrounds': 'Фоновые изображения (адреса)',
    'brand.bg_room': 'Вход и комната',
    'brand.bg_registration': 'Форма регистрации',
    'brand.bg_lobby': 'Зал ожидания',
    'brand.bg_thankYou': 'Экран благодарности',
    'brand.email': 'Письмо-приглашение',
    'brand.emailLead': 'Блоки письма-приглашения сверху вниз. Без блоков письмо выглядит стандартно.',
    'brand.block': 'Блок {n}',
    'brand.blockValue': 'Содержимое блока {n}',
    'brand.addBlock': 'Добавить блок',
    'brand.standard': 'Вернуть стандартный вид',
    'brand.up': 'Переместить блок {n} выше',
    'brand.down': 'Переместить блок {n} ниже',
    'brand.remove': 'Удалить блок {n}',
    'brand.block_logo': 'Логотип',
    'brand.block_link': 'Ссылка для входа',
    'brand.block_room_id': 'ID комнаты',
    'brand.block_token': 'Личный токен',
    'brand.block_dial_in': 'Номера для дозвона',
    'brand.block_agenda': 'Программа',
    'brand.block_presenter': 'Ведущий',
    'brand.block_buttons': 'Кнопки: принять, отклонить, добавить в календарь',
    'brand.block_text': 'Текст',
    'brand.block_image': 'Изображение (адрес)',
    'brand.block_url': 'Ссылка (адрес)',
    'brand.signature': 'Подпись под приглашением (пусто: подпись аккаунта)',
    'brand.preview': 'Предпросмотр комнаты (сохраняется только по кнопке «Сохранить»)',
    'brand.pvJoin': 'Вход в комнату',
    'brand.pvName': 'Отображаемое имя',
    'brand.pvButton': 'Войти',
    'brand.pvLink': 'Ссылка',
    'brand.pvLobby': 'Зал ожидания',
    'brand.pvRegistration': 'Регистрация',
    'brand.pvRegister': 'Зарегистрироваться и войти',
    'brand.pvNotStarted': 'Мероприятие ещё не началось.',
    'brand.pvThanks': 'Спасибо за участие',
    'brand.pvThanksText': 'Организатор закрыл комнату.',
    'brand.pvThanksUrl': 'Затем участники переходят на {url}',
    'brand.pvEvent': 'Ваше мероприятие',
    'brand.save': 'Сохранить стиль',
    'brand.saved': 'Стиль сохранён.',
  },
});

/** An element's text that follows the page's language (applyI18n re-labels data-i18n). */
const L = (key) => ({ textContent: t(key), 'data-i18n': key });

const COLORS = ['primary', 'accent', 'background', 'text'];
const BACKGROUNDS = ['room', 'registration', 'lobby', 'thankYou'];
// the API's e-mail blocks (signaling/api/accounts.py EmailBlock); text, image and url carry a value
export const BLOCKS = ['logo', 'link', 'room_id', 'token', 'dial_in', 'agenda', 'presenter', 'buttons', 'text',
  'image', 'url'];
const VALUED = new Set(['text', 'image', 'url']);
const STANDARD = ['logo', 'link', 'room_id', 'token', 'dial_in', 'agenda', 'presenter', 'buttons'];
const DEFAULT_COLORS = { primary: '#3d7eff', accent: '#8fb4ff', background: '#0f1115', text: '#e8eaf0' };

/** The branding controls in `root` (ids prefixed with `p`); `changed()` runs on every edit. Returns
 * {get, set}: get() is the API's `branding` object (unset keys left out), set(b) shows one. */
export function brandingControls(root, p, changed) {
  root.textContent = '';
  const logo = el('input', { id: `${p}-logo`, type: 'url', maxLength: 2000, className: 'brand-logo-url' });
  root.append(el('label', { htmlFor: logo.id, ...L('brand.logo') }), logo);
  const colors = el('fieldset', { className: 'checks brand-colors' }, el('legend', { ...L('brand.colors') }));
  const colorInputs = {};
  for (const c of COLORS) {
    const own = el('input', { type: 'checkbox', id: `${p}-own-${c}` });
    const pick = el('input', { type: 'color', id: `${p}-color-${c}`, value: DEFAULT_COLORS[c], className: 'brand-color' });
    own.setAttribute('aria-label', `${t('brand.own')}: ${t(`brand.color_${c}`)}`);
    pick.oninput = () => { own.checked = true; changed(); };
    own.onchange = changed;
    colorInputs[c] = { own, pick };
    colors.append(el('div', { className: 'brand-color-row' }, own,
      el('label', { htmlFor: pick.id, ...L(`brand.color_${c}`) }), pick));
  }
  root.append(colors);
  const bgs = el('fieldset', { className: 'brand-bgs' }, el('legend', { ...L('brand.backgrounds') }));
  const bgInputs = {};
  for (const b of BACKGROUNDS) {
    const input = el('input', { id: `${p}-bg-${b}`, type: 'url', maxLength: 2000 });
    bgInputs[b] = input;
    bgs.append(el('label', { htmlFor: input.id, ...L(`brand.bg_${b}`) }), input);
  }
  root.append(bgs);
  // the invitation e-mail's layout (R-ROOM-11): blocks in order, then the signature
  const mail = el('fieldset', { className: 'brand-email' }, el('legend', { ...L('brand.email') }),
    el('p', { className: 'muted', ...L('brand.emailLead') }));
  const list = el('ol', { className: 'brand-blocks', id: `${p}-blocks` });
  let blocks = [];
  const drawBlocks = () => {
    list.textContent = '';
    standard.hidden = !blocks.length;
    blocks.forEach((b, i) => {
      const n = i + 1;
      const type = el('select', { id: `${p}-block-${i}`, className: 'block-type' },
        ...BLOCKS.map((k) => el('option', { value: k, textContent: t(`brand.block_${k}`), selected: k === b.type })));
      type.onchange = () => { b.type = type.value; drawBlocks(); changed(); };
      const li = el('li', { className: 'brand-block' },
        el('label', { htmlFor: type.id, textContent: t('brand.block', { n }) }), type);
      if (VALUED.has(b.type)) {
        const value = el(b.type === 'text' ? 'textarea' : 'input', { id: `${p}-block-value-${i}`, className: 'block-value',
          maxLength: 2000, value: b.value || '', rows: 2 });
        if (b.type !== 'text') value.type = 'url';
        value.setAttribute('aria-label', t('brand.blockValue', { n }));
        value.oninput = () => { b.value = value.value; changed(); };
        li.append(value);
      }
      const move = (d) => { const j = i + d; [blocks[i], blocks[j]] = [blocks[j], blocks[i]]; drawBlocks(); changed(); };
      const tools = el('span', { className: 'row wrap block-tools' });
      if (i > 0) tools.append(el('button', { type: 'button', textContent: '↑', onclick: () => move(-1), 'aria-label': t('brand.up', { n }) }));
      if (i < blocks.length - 1) tools.append(el('button', { type: 'button', textContent: '↓', onclick: () => move(1), 'aria-label': t('brand.down', { n }) }));
      tools.append(el('button', { type: 'button', textContent: '✕', className: 'block-remove', 'aria-label': t('brand.remove', { n }),
        onclick: () => { blocks.splice(i, 1); drawBlocks(); changed(); } }));
      li.append(tools);
      list.append(li);
    });
  };
  const signature = el('textarea', { id: `${p}-signature`, rows: 2, maxLength: 2000 });
  // the first block added starts from the standard layout (the mail's DEFAULT_BLOCKS), so that the join
  // link and the room ID stay in unless the organiser takes them out
  const add = el('button', { type: 'button', id: `${p}-add-block`, ...L('brand.addBlock'), onclick: () => {
    if (!blocks.length) blocks = STANDARD.map((type) => ({ type }));
    blocks.push({ type: 'text', value: '' }); drawBlocks(); changed();
    list.querySelector('li:last-child .block-value').focus();
  } });
  const standard = el('button', { type: 'button', id: `${p}-standard`, ...L('brand.standard'),
    onclick: () => { blocks = []; drawBlocks(); changed(); } });
  mail.append(list, el('div', { className: 'row wrap' }, add, standard),
  el('label', { htmlFor: signature.id, ...L('brand.signature') }), signature);
  root.append(mail);
  for (const i of [logo, signature, ...Object.values(bgInputs)]) i.oninput = changed;

  const ownLabels = () => {
    for (const c of COLORS) colorInputs[c].own.setAttribute('aria-label', `${t('brand.own')}: ${t(`brand.color_${c}`)}`);
  };
  return {
    /** The labels in the page's language again (after a change of language). */
    relabel() { ownLabels(); drawBlocks(); },
    get() {
      const b = {};
      if (logo.value.trim()) b.logo = logo.value.trim();
      const cs = {};
      for (const c of COLORS) if (colorInputs[c].own.checked) cs[c] = colorInputs[c].pick.value;
      if (Object.keys(cs).length) b.colors = cs;
      const bs = {};
      for (const k of BACKGROUNDS) if (bgInputs[k].value.trim()) bs[k] = bgInputs[k].value.trim();
      if (Object.keys(bs).length) b.backgrounds = bs;
      if (blocks.length) {
        b.emailBlocks = blocks.map((x) => (VALUED.has(x.type) ? { type: x.type, value: x.value || '' } : { type: x.type }));
      }
      if (signature.value.trim()) b.signature = signature.value;
      return b;
    },
    set(b) {
      b = b || {};
      logo.value = b.logo || '';
      for (const c of COLORS) {
        const v = (b.colors || {})[c];
        colorInputs[c].own.checked = !!v;
        colorInputs[c].pick.value = v || DEFAULT_COLORS[c];
      }
      for (const k of BACKGROUNDS) bgInputs[k].value = (b.backgrounds || {})[k] || '';
      blocks = (b.emailBlocks || []).map((x) => ({ ...x }));
      signature.value = b.signature || '';
      drawBlocks();
    },
  };
}

/** The branding the pages show: the event's own over the account's, colour by colour and background by
 * background (as mediaserver.events.listings.public_branding merges them). */
export function merged(account, own) {
  const a = account || {}; const o = own || {};
  const out = {};
  const logo = o.logo || a.logo; if (logo) out.logo = logo;
  for (const k of ['colors', 'backgrounds']) {
    const m = { ...(a[k] || {}), ...(o[k] || {}) };
    if (Object.keys(m).length) out[k] = m;
  }
  return out;
}

/** Draw the preview into `box`: the join screen, the lobby (with the lobby message and agenda) and the
 * thank-you screen of the room, with the branding's variables set on the box as branding.js sets them on
 * the room page. */
export function preview(box, branding, info = {}) {
  setVariables(box.style, brandingVariables(branding));
  box.textContent = '';
  const logoUrl = imageUrl((branding || {}).logo);
  const header = () => {
    const bar = el('div', { className: 'topbar bp-bar' });
    if (logoUrl) bar.append(el('img', { className: 'brand-logo bp-logo', src: logoUrl, alt: '' }));
    bar.append(el('span', { className: 'brand', textContent: info.name || t('brand.pvEvent') }));
    return bar;
  };
  const screen = (name, ...content) => el('div', { className: `bp-screen bp-${name}` }, header(),
    el('div', { className: 'bp-body' }, el('div', { className: 'card bp-card' }, ...content)));
  const join = screen('room',
    el('p', { className: 'bp-h', ...L('brand.pvJoin') }),
    el('div', { className: 'bp-label', ...L('brand.pvName') }),
    el('div', { className: 'bp-input' }),
    el('span', { className: 'bp-button', ...L('brand.pvButton') }),
    el('span', { className: 'bp-link', ...L('brand.pvLink') }));
  const reg = [el('p', { className: 'eyebrow', ...L('brand.pvRegistration') }),
    ...(info.fields || [t('reg.firstName'), t('reg.lastName'), t('reg.email')].map((x) => `${x} *`)).flatMap((label) => [
      el('div', { className: 'bp-label bp-field', textContent: label }), el('div', { className: 'bp-input' })]),
    el('span', { className: 'bp-button', ...L('brand.pvRegister') })];
  const registration = info.registration === false ? null : screen('registration', ...reg);
  const lobbyParts = [el('p', { className: 'eyebrow', ...L('brand.pvLobby') }),
    el('p', { className: 'bp-h', textContent: info.name || t('brand.pvEvent') }),
    el('p', { ...L('brand.pvNotStarted') })];
  if (info.agenda) lobbyParts.push(el('div', { className: 'prewrap bp-agenda', textContent: info.agenda }));
  if (info.lobbyMessage) lobbyParts.push(el('div', { className: 'notice prewrap bp-lobby-message', textContent: info.lobbyMessage }));
  const lobby = screen('lobby', ...lobbyParts);
  const thanks = [el('p', { className: 'bp-h', ...L('brand.pvThanks') }),
    el('p', { ...L('brand.pvThanksText') })];
  if (info.thankYouUrl) thanks.push(el('p', { className: 'notice bp-thanks-url', textContent: t('brand.pvThanksUrl', { url: info.thankYouUrl }) }));
  box.append(join, ...(registration ? [registration] : []), lobby, screen('thank-you', ...thanks));
}

/** The account's branding form in the Account section (main account only: PATCH /account/settings). */
export function setupAccountBranding() {
  const controls = brandingControls($('acct-brand-controls'), 'acct-brand', () => draw());
  const draw = () => preview($('acct-brand-preview'), merged({}, controls.get()));
  $('acct-brand-form').onsubmit = async (ev) => {
    ev.preventDefault();
    $('acct-brand-note').textContent = ''; $('acct-brand-error').textContent = '';
    try {
      const saved = await api('PATCH', '/account/settings', { branding: controls.get() });
      controls.set(saved.branding); draw();
      $('acct-brand-note').textContent = t('brand.saved');
    } catch (e) { $('acct-brand-error').textContent = e.message; }
  };
  return {
    async show(me) {
      const settings = await api('GET', '/account/settings');
      $('acct-brand-panel').hidden = me.role === 'additional';   // the main account's (R-ACC-5)
      controls.set(settings.branding || {}); draw();
      $('acct-brand-note').textContent = ''; $('acct-brand-error').textContent = '';
    },
  };
}
