// Interface strings in English and Russian (R-ROOM-14: the room's language, overridable by ?lang=).
// Elements carry data-i18n (text), data-i18n-placeholder and data-i18n-title; applyI18n() fills them.

export const LANGUAGES = { en: 'English', ru: 'Русский' };

const en = {
  'app.room': 'Room',
  'nav.home': 'Start page',
  'type.meeting': 'Meeting',
  'type.webinar': 'Webinar',
  'room.count': '{n} / {cap}',
  'room.lockedBadge': 'Locked',
  'room.empty': 'Waiting for the presenters to turn on a camera or microphone…',
  'room.presentersOnly': 'The host has switched to “presenters only”: the presenters are talking among themselves. Please wait.',

  'join.title': 'Join the room',
  'join.roomId': 'Room ID (9 digits)',
  'join.name': 'Display name',
  'join.email': 'E-mail',
  'join.submit': 'Join',
  'join.asHost': 'You are joining as the host.',
  'join.asPresenter': 'You are joining as a presenter.',
  'join.left': 'You left the room. You can join again.',
  'join.leftHost': 'You left the room; it stays open for the participants. You can join again.',

  'lobby.eyebrow': 'Lobby',
  'lobby.notStarted': 'The event has not started yet.',
  'lobby.agenda': 'Agenda',
  'lobby.auto': 'You will be let in automatically when the host starts.',
  'waiting.title': 'All seats are taken',
  'waiting.text': 'You are in the waiting room. You will be let in as soon as a seat is free.',

  'common.leave': 'Leave',
  'common.close': 'Close',
  'common.copy': 'Copy',
  'common.copied': 'Copied to the clipboard',
  'common.home': 'Back to the start page',
  'common.rejoin': 'Join again',

  'tool.mic': 'Microphone',
  'tool.cam': 'Camera',
  'tool.micOn': 'Turn the microphone off',
  'tool.micOff': 'Turn the microphone on',
  'tool.camOn': 'Turn the camera off',
  'tool.camOff': 'Turn the camera on',
  'tool.screen': 'Share screen',
  'tool.stopScreen': 'Stop sharing',
  'tool.people': 'People',
  'tool.host': 'Host',
  'tool.devices': 'Devices',
  'tool.mydata': 'My data',
  'tool.leave': 'Leave',

  'screen.choose': 'Share your screen, a window or a tab in:',
  'screen.high': 'Sharp text and smooth motion (up to 5 Mbit/s)',
  'screen.lite': 'For slow connections (up to 2 Mbit/s)',

  'host.lobbyNote': 'The event has not started: participants wait in the lobby.',
  'host.start': 'Start the event',
  'host.audioMode': 'Audio mode',
  'host.capacity': 'Capacity (seats)',
  'host.set': 'Set',
  'host.language': 'Room language',
  'host.lock': 'Lock the room',
  'host.unlock': 'Unlock the room',
  'host.end': 'End the session',
  'host.endConfirm': 'End the session for everyone? The room closes and nobody can join again.',
  'mode.presenters': 'Presenters only',
  'mode.presenters.help': 'Presenters hear and see each other; attendees get nothing. Not recorded.',
  'mode.listen': 'Listen only',
  'mode.listen.help': 'Presenters speak, attendees listen.',
  'mode.discussion': 'Discussion',
  'mode.discussion.help': 'Everyone may speak (at most 25 participants).',

  'people.grant': 'Give the floor',
  'people.revoke': 'Take the floor back',
  'people.remove': 'Remove',
  'people.removeConfirm': 'Remove this participant from the room?',
  'people.hasFloor': 'has the floor',
  'people.webinarNote': 'Attendees of a webinar do not see each other.',
  'role.host': 'Host',
  'role.presenter': 'Presenter',
  'role.attendee': 'Attendee',
  'status.lobby': 'in the lobby',
  'status.waiting': 'waiting for a seat',
  'tile.you': 'you',
  'tile.screenOf': 'Screen of {name}',

  'mydata.now': 'Date and time',
  'mydata.started': 'Room created',
  'mydata.link': 'Room link',
  'mydata.id': 'Room ID',
  'mydata.pin': 'PIN (mobile and phone access)',
  'mydata.hostLink': 'Host link (keep it private)',
  'mydata.embed': 'Embed this room in a web page',

  'devices.camera': 'Camera',
  'devices.mic': 'Microphone',
  'devices.quality': 'Video quality',
  'devices.sd': 'Standard (SD)',
  'devices.hd': 'High (HD)',
  'devices.note': 'Changes apply at once to what you send.',
  'devices.cameraN': 'Camera {n}',
  'devices.micN': 'Microphone {n}',
  'devices.none': 'None found',
  'devices.changed': 'Device switched',
  'devices.avatar': 'Picture shown instead of your camera',
  'devices.avatarClear': 'Remove the picture',
  'devices.avatarSet': 'Your picture is set',

  'notice.admitted': 'You are in. Welcome!',
  'notice.byHost': 'the host',
  'notice.byMode': 'the change of audio mode',
  'notice.micOff': 'Your microphone was turned off by {who}. Turn it on again when you want to speak.',
  'notice.camOff': 'Your camera was turned off by {who}.',
  'notice.floorGranted': 'The host gave you the floor: your microphone and camera are on.',
  'notice.floorRevoked': 'The host took the floor back: you are listening again.',

  'ended.title': 'The session has ended',
  'ended.text': 'The host has closed this room. Thank you for taking part.',
  'removed.byHost': 'You were removed from the room',
  'removed.byHostText': 'The host removed you from this session.',
  'removed.lost': 'You were disconnected',
  'removed.lostText': 'The connection to the room was lost. Join again to continue.',
  'error.title': 'Something went wrong',

  'error.not_found': 'There is no room with this ID. Check the 9 digits.',
  'error.invalid_id': 'A room ID has exactly 9 digits.',
  'error.invalid_name': 'Enter a display name of 1 to 64 characters (it need not be your real name).',
  'error.invalid_email': 'Enter a valid e-mail address.',
  'error.bad_request': 'Check your display name (1 to 64 characters) and e-mail address.',
  'error.locked': 'The host has locked this room: nobody can join now.',
  'error.ended': 'This session has ended.',
  'error.bad_key': 'This host or presenter link is not valid for this room.',
  'error.forbidden': 'You may not do that now: ask the host for the floor.',
  'error.camera_limit': 'The room’s limit of cameras on at once is reached: you can be heard, not seen.',
  'error.not_on_mobile': 'Screen sharing is not available on mobile devices.',
  'error.not_supported': 'This browser cannot share the screen.',
  'error.too_many_for_discussion': 'Discussion mode needs at most 25 participants.',
  'error.bad_capacity': 'That capacity is out of range for this room.',
  'error.network': 'Cannot reach the server. Check your connection and try again.',
  'error.closed': 'The connection to the server was lost.',
  'error.connection_lost': 'The connection to the room was lost.',
  'error.unauthorized': 'Your invitation has expired. Join again.',
  'error.not_admitted': 'Wait until you are let in.',
  'error.not_joined': 'You are no longer in the room. Join again.',
  'error.media_denied': 'Access to the camera and microphone was refused. Allow it in the browser to be seen and heard.',
  'error.no_devices': 'No camera or microphone could be opened. Others see your initials instead.',
  'error.no_camera': 'No camera is available.',
  'error.no_microphone': 'No microphone is available.',
  'error.ice_failed': 'The media connection failed. Check your network or firewall.',
  'error.conflict': 'That is already in progress.',
  'error.generic': 'Something went wrong: {message}',

  'landing.title': 'Webinars and meetings in the browser',
  'landing.lead': 'No installation: open a link, enter a name and an e-mail, and you are in.',
  'landing.create': 'Create an instant room',
  'landing.type': 'Room type',
  'landing.webinar': 'Webinar (up to 5000 attendees)',
  'landing.meeting': 'Meeting (up to 25 people)',
  'landing.name': 'Room name',
  'landing.namePh': 'e.g. Weekly product review',
  'landing.language': 'Room language',
  'landing.createBtn': 'Create the room',
  'landing.created': 'Your room is ready',
  'landing.roomId': 'Room ID',
  'landing.attendeeLink': 'Link for participants',
  'landing.hostLink': 'Host link (keep it private: it opens the host controls)',
  'landing.pin': 'PIN',
  'landing.joinHost': 'Join as host',
  'landing.joinTitle': 'Join by room ID',
  'landing.joinId': 'Room ID (9 digits)',
  'landing.joinBtn': 'Go to the room',
  'landing.another': 'Create another room',
};

const ru = {
  'app.room': 'Комната',
  'nav.home': 'Стартовая страница',
  'type.meeting': 'Совещание',
  'type.webinar': 'Вебинар',
  'room.count': '{n} / {cap}',
  'room.lockedBadge': 'Вход закрыт',
  'room.empty': 'Ждём, когда ведущие включат камеру или микрофон…',
  'room.presentersOnly': 'Ведущий включил режим «только ведущие»: ведущие совещаются между собой. Пожалуйста, подождите.',

  'join.title': 'Вход в комнату',
  'join.roomId': 'ID комнаты (9 цифр)',
  'join.name': 'Отображаемое имя',
  'join.email': 'Электронная почта',
  'join.submit': 'Войти',
  'join.asHost': 'Вы входите как организатор.',
  'join.asPresenter': 'Вы входите как ведущий.',
  'join.left': 'Вы вышли из комнаты. Можно войти снова.',
  'join.leftHost': 'Вы вышли из комнаты; она остаётся открытой для участников. Можно войти снова.',

  'lobby.eyebrow': 'Зал ожидания',
  'lobby.notStarted': 'Мероприятие ещё не началось.',
  'lobby.agenda': 'Программа',
  'lobby.auto': 'Вы войдёте автоматически, как только организатор начнёт.',
  'waiting.title': 'Все места заняты',
  'waiting.text': 'Вы в зале ожидания. Вы войдёте, как только освободится место.',

  'common.leave': 'Выйти',
  'common.close': 'Закрыть',
  'common.copy': 'Копировать',
  'common.copied': 'Скопировано в буфер обмена',
  'common.home': 'На стартовую страницу',
  'common.rejoin': 'Войти снова',

  'tool.mic': 'Микрофон',
  'tool.cam': 'Камера',
  'tool.micOn': 'Выключить микрофон',
  'tool.micOff': 'Включить микрофон',
  'tool.camOn': 'Выключить камеру',
  'tool.camOff': 'Включить камеру',
  'tool.screen': 'Показать экран',
  'tool.stopScreen': 'Остановить показ',
  'tool.people': 'Участники',
  'tool.host': 'Управление',
  'tool.devices': 'Устройства',
  'tool.mydata': 'Мои данные',
  'tool.leave': 'Выйти',

  'screen.choose': 'Показать экран, окно или вкладку в режиме:',
  'screen.high': 'Чёткий текст и плавное движение (до 5 Мбит/с)',
  'screen.lite': 'Для медленного соединения (до 2 Мбит/с)',

  'host.lobbyNote': 'Мероприятие не началось: участники ждут в зале ожидания.',
  'host.start': 'Начать мероприятие',
  'host.audioMode': 'Аудиорежим',
  'host.capacity': 'Вместимость (мест)',
  'host.set': 'Задать',
  'host.language': 'Язык комнаты',
  'host.lock': 'Закрыть вход',
  'host.unlock': 'Открыть вход',
  'host.end': 'Завершить сеанс',
  'host.endConfirm': 'Завершить сеанс для всех? Комната закроется, и войти в неё будет нельзя.',
  'mode.presenters': 'Только ведущие',
  'mode.presenters.help': 'Ведущие слышат и видят друг друга, зрители — ничего. Не записывается.',
  'mode.listen': 'Только слушать',
  'mode.listen.help': 'Говорят ведущие, зрители слушают.',
  'mode.discussion': 'Обсуждение',
  'mode.discussion.help': 'Говорить могут все (не более 25 участников).',

  'people.grant': 'Дать слово',
  'people.revoke': 'Забрать слово',
  'people.remove': 'Удалить',
  'people.removeConfirm': 'Удалить этого участника из комнаты?',
  'people.hasFloor': 'имеет слово',
  'people.webinarNote': 'Зрители вебинара не видят друг друга.',
  'role.host': 'Организатор',
  'role.presenter': 'Ведущий',
  'role.attendee': 'Зритель',
  'status.lobby': 'в зале ожидания',
  'status.waiting': 'ждёт места',
  'tile.you': 'вы',
  'tile.screenOf': 'Экран: {name}',

  'mydata.now': 'Дата и время',
  'mydata.started': 'Комната создана',
  'mydata.link': 'Ссылка на комнату',
  'mydata.id': 'ID комнаты',
  'mydata.pin': 'PIN (вход с мобильного и по телефону)',
  'mydata.hostLink': 'Ссылка организатора (не передавайте её)',
  'mydata.embed': 'Встроить комнату в веб-страницу',

  'devices.camera': 'Камера',
  'devices.mic': 'Микрофон',
  'devices.quality': 'Качество видео',
  'devices.sd': 'Стандартное (SD)',
  'devices.hd': 'Высокое (HD)',
  'devices.note': 'Изменения сразу применяются к тому, что вы передаёте.',
  'devices.cameraN': 'Камера {n}',
  'devices.micN': 'Микрофон {n}',
  'devices.none': 'Не найдено',
  'devices.changed': 'Устройство переключено',
  'devices.avatar': 'Картинка вместо камеры',
  'devices.avatarClear': 'Убрать картинку',
  'devices.avatarSet': 'Картинка установлена',

  'notice.admitted': 'Вы вошли. Добро пожаловать!',
  'notice.byHost': 'организатором',
  'notice.byMode': 'при смене аудиорежима',
  'notice.micOff': 'Ваш микрофон выключен {who}. Включите его снова, когда захотите говорить.',
  'notice.camOff': 'Ваша камера выключена {who}.',
  'notice.floorGranted': 'Организатор дал вам слово: микрофон и камера включены.',
  'notice.floorRevoked': 'Организатор забрал слово: вы снова слушаете.',

  'ended.title': 'Сеанс завершён',
  'ended.text': 'Организатор закрыл комнату. Спасибо за участие.',
  'removed.byHost': 'Вас удалили из комнаты',
  'removed.byHostText': 'Организатор удалил вас из этого сеанса.',
  'removed.lost': 'Соединение потеряно',
  'removed.lostText': 'Связь с комнатой прервалась. Войдите снова, чтобы продолжить.',
  'error.title': 'Что-то пошло не так',

  'error.not_found': 'Комнаты с таким ID нет. Проверьте 9 цифр.',
  'error.invalid_id': 'ID комнаты состоит ровно из 9 цифр.',
  'error.invalid_name': 'Введите отображаемое имя от 1 до 64 символов (необязательно настоящее).',
  'error.invalid_email': 'Введите правильный адрес электронной почты.',
  'error.bad_request': 'Проверьте отображаемое имя (от 1 до 64 символов) и адрес электронной почты.',
  'error.locked': 'Организатор закрыл комнату: сейчас войти нельзя.',
  'error.ended': 'Этот сеанс завершён.',
  'error.bad_key': 'Эта ссылка организатора или ведущего не подходит к этой комнате.',
  'error.forbidden': 'Сейчас это недоступно: попросите слово у организатора.',
  'error.camera_limit': 'Достигнут предел одновременно включённых камер: вас слышно, но не видно.',
  'error.not_on_mobile': 'Показ экрана недоступен на мобильных устройствах.',
  'error.not_supported': 'Этот браузер не умеет показывать экран.',
  'error.too_many_for_discussion': 'Режим обсуждения возможен только при 25 участниках и меньше.',
  'error.bad_capacity': 'Такая вместимость для этой комнаты недопустима.',
  'error.network': 'Сервер недоступен. Проверьте соединение и попробуйте снова.',
  'error.closed': 'Связь с сервером потеряна.',
  'error.connection_lost': 'Связь с комнатой прервалась.',
  'error.unauthorized': 'Срок приглашения истёк. Войдите снова.',
  'error.not_admitted': 'Подождите, пока вас впустят.',
  'error.not_joined': 'Вы больше не в комнате. Войдите снова.',
  'error.media_denied': 'Доступ к камере и микрофону запрещён. Разрешите его в браузере, чтобы вас видели и слышали.',
  'error.no_devices': 'Не удалось открыть камеру или микрофон. Вместо видео участники видят ваши инициалы.',
  'error.no_camera': 'Камера недоступна.',
  'error.no_microphone': 'Микрофон недоступен.',
  'error.ice_failed': 'Медиасоединение не установлено. Проверьте сеть или брандмауэр.',
  'error.conflict': 'Это уже выполняется.',
  'error.generic': 'Что-то пошло не так: {message}',

  'landing.title': 'Вебинары и совещания в браузере',
  'landing.lead': 'Ничего не нужно устанавливать: откройте ссылку, введите имя и почту — и вы в комнате.',
  'landing.create': 'Создать комнату сейчас',
  'landing.type': 'Тип комнаты',
  'landing.webinar': 'Вебинар (до 5000 зрителей)',
  'landing.meeting': 'Совещание (до 25 человек)',
  'landing.name': 'Название комнаты',
  'landing.namePh': 'например, Еженедельный обзор продукта',
  'landing.language': 'Язык комнаты',
  'landing.createBtn': 'Создать комнату',
  'landing.created': 'Комната готова',
  'landing.roomId': 'ID комнаты',
  'landing.attendeeLink': 'Ссылка для участников',
  'landing.hostLink': 'Ссылка организатора (не передавайте её: она открывает управление)',
  'landing.pin': 'PIN',
  'landing.joinHost': 'Войти как организатор',
  'landing.joinTitle': 'Войти по ID комнаты',
  'landing.joinId': 'ID комнаты (9 цифр)',
  'landing.joinBtn': 'Перейти в комнату',
  'landing.another': 'Создать ещё одну комнату',
};

export const STRINGS = { en, ru };

let current = 'en';

/** The language the interface shows now. */
export function language() { return current; }

/** Switch the interface language ('en' or 'ru'; anything else falls back to English) and re-label the page. */
export function setLanguage(lang) {
  current = STRINGS[lang] ? lang : 'en';
  if (typeof document !== 'undefined') {
    document.documentElement.lang = current;
    applyI18n(document);
  }
  return current;
}

/** A string in the current language with {name} placeholders filled. */
export function t(key, vars = {}) {
  const s = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] !== undefined ? String(vars[k]) : m));
}

/** A user-facing sentence for an error code (the server's message when there is no translation). */
export function errorText(code, message) {
  const key = `error.${code}`;
  if (STRINGS[current][key] || STRINGS.en[key]) return t(key);
  return t('error.generic', { message: message || code || '?' });
}

/** The browser's preferred language among ours. */
export function detectLanguage() {
  const langs = (typeof navigator !== 'undefined' && (navigator.languages || [navigator.language])) || [];
  for (const l of langs) {
    const base = String(l || '').slice(0, 2).toLowerCase();
    if (STRINGS[base]) return base;
  }
  return 'en';
}

/** Fill [data-i18n] (text), [data-i18n-placeholder] and [data-i18n-title] (title and aria-label) under root. */
export function applyI18n(root = document) {
  for (const e of root.querySelectorAll('[data-i18n]')) e.textContent = t(e.dataset.i18n);
  for (const e of root.querySelectorAll('[data-i18n-placeholder]')) e.placeholder = t(e.dataset.i18nPlaceholder);
  for (const e of root.querySelectorAll('[data-i18n-title]')) {
    e.title = t(e.dataset.i18nTitle);
    e.setAttribute('aria-label', e.title);
  }
}
