// The main account's plan and billing (R-ACC-4, issue 20 item 1): the plan, its period and the trial's end,
// the limits it gives (attendees, presenters, cameras, recording minutes, storage ...) and the add-ons bought,
// from GET /api/v1/billing. This server takes no payment for plans: the operator sets them (docs/api.md), so
// the page shows them and says whom to ask; it offers no button the server would refuse.
import { addStrings } from '/static/i18n.js';
import { $, api, el, t, when } from './core.js';

addStrings({
  en: {
    'bill.nav': 'Plan and billing',
    'bill.title': 'Plan and billing',
    'bill.lead': 'Plans and add-ons are set by the operator of this server, who takes no payment here: ask them to change yours.',
    'bill.forbidden': 'The plan and billing are the main account\'s.',
    'bill.plan': 'Plan',
    'bill.period': 'Payment period',
    'bill.trialEnds': 'Trial ends',
    'bill.limitsTitle': 'What the plan gives',
    'bill.addonsTitle': 'Add-ons',
    'bill.noAddons': 'No add-ons.',
    'bill.limit': 'Limit',
    'bill.value': 'Value',
    'bill.addon': 'Add-on',
    'bill.quantity': 'Quantity',
    'bill.yes': 'yes',
    'bill.no': 'no',
    'bill.plan_trial': 'Free trial',
    'bill.plan_mywebinars': 'MyWebinars',
    'bill.plan_mywebinars_pro': 'MyWebinars Pro',
    'bill.plan_live': 'Live',
    'bill.plan_automated': 'Automated',
    'bill.period_monthly': 'monthly',
    'bill.period_annual': 'annual',
    'bill.l_attendees': 'Attendees in a webinar',
    'bill.l_meeting_max': 'People in a meeting',
    'bill.l_presenters': 'Presenters',
    'bill.l_cameras': 'Cameras at once',
    'bill.l_recording_minutes': 'Recording minutes',
    'bill.l_storage_mb': 'File storage',
    'bill.l_paid_webinars': 'Paid webinars',
    'bill.l_toll_free': 'Toll-free dial-in',
    'bill.l_additional_users': 'Additional users',
    'bill.l_hd': 'HD video',
    'bill.l_invitations_per_hour': 'Invitations an hour',
    'bill.a_parallel_sessions': 'Parallel sessions',
    'bill.a_sub_accounts': 'Sub-accounts',
    'bill.a_extra_users': 'Extra users',
    'bill.a_extra_storage_mb': 'Extra storage',
    'bill.a_extra_recording_minutes': 'Extra recording minutes',
    'bill.a_extra_cameras': 'Extra cameras',
    'bill.mb': '{n} MB',
    'bill.gb': '{n} GB',
  },
  ru: {
    'bill.nav': 'Тариф и оплата',
    'bill.title': 'Тариф и оплата',
    'bill.lead': 'Тарифы и дополнения назначает оператор этого сервера, оплата здесь не принимается: чтобы сменить тариф, обратитесь к нему.',
    'bill.forbidden': 'Тариф и оплата доступны только основному аккаунту.',
    'bill.plan': 'Тариф',
    'bill.period': 'Период оплаты',
    'bill.trialEnds': 'Пробный период до',
    'bill.limitsTitle': 'Что даёт тариф',
    'bill.addonsTitle': 'Дополнения',
    'bill.noAddons': 'Дополнений нет.',
    'bill.limit': 'Ограничение',
    'bill.value': 'Значение',
    'bill.addon': 'Дополнение',
    'bill.quantity': 'Количество',
    'bill.yes': 'да',
    'bill.no': 'нет',
    'bill.plan_trial': 'Пробный период',
    'bill.plan_mywebinars': 'MyWebinars',
    'bill.plan_mywebinars_pro': 'MyWebinars Pro',
    'bill.plan_live': 'Live',
    'bill.plan_automated': 'Automated',
    'bill.period_monthly': 'помесячно',
    'bill.period_annual': 'за год',
    'bill.l_attendees': 'Участников вебинара',
    'bill.l_meeting_max': 'Участников встречи',
    'bill.l_presenters': 'Ведущих',
    'bill.l_cameras': 'Камер одновременно',
    'bill.l_recording_minutes': 'Минут записи',
    'bill.l_storage_mb': 'Хранилище файлов',
    'bill.l_paid_webinars': 'Платные вебинары',
    'bill.l_toll_free': 'Бесплатный номер для дозвона',
    'bill.l_additional_users': 'Дополнительные пользователи',
    'bill.l_hd': 'Видео HD',
    'bill.l_invitations_per_hour': 'Приглашений в час',
    'bill.a_parallel_sessions': 'Параллельные сессии',
    'bill.a_sub_accounts': 'Субаккаунты',
    'bill.a_extra_users': 'Дополнительные пользователи',
    'bill.a_extra_storage_mb': 'Дополнительное хранилище',
    'bill.a_extra_recording_minutes': 'Дополнительные минуты записи',
    'bill.a_extra_cameras': 'Дополнительные камеры',
    'bill.mb': '{n} МБ',
    'bill.gb': '{n} ГБ',
  },
});

/** A translated name, or the API's word when there is none. */
function named(prefix, key) {
  const k = `bill.${prefix}_${key}`;
  const text = t(k);
  return text === k ? key : text;
}

function megabytes(n) {
  const lang = document.documentElement.lang || undefined;
  return n >= 1024 && n % 1024 === 0
    ? t('bill.gb', { n: (n / 1024).toLocaleString(lang) })
    : t('bill.mb', { n: Number(n).toLocaleString(lang) });
}

function value(key, v) {
  if (typeof v === 'boolean') return t(v ? 'bill.yes' : 'bill.no');
  if (key.endsWith('_mb')) return megabytes(v);
  return typeof v === 'number' ? v.toLocaleString(document.documentElement.lang || undefined) : String(v);
}

function rows(body, pairs) {
  body.textContent = '';
  for (const [name, text, key] of pairs) {
    body.append(el('tr', { 'data-key': key }, el('th', { scope: 'row', textContent: name }), el('td', { textContent: text })));
  }
}

/** Show the plan (the main account only: others are told whose it is). */
export async function showBilling(me) {
  const main = me.role === 'main';
  $('billing-forbidden').hidden = main;
  $('billing-panel').hidden = !main;
  if (!main) return;
  $('billing-error').textContent = '';
  $('billing-panel').setAttribute('aria-busy', 'true');
  let b;
  try { b = await api('GET', '/billing'); } catch (e) {
    $('billing-error').textContent = e.message;
    return;
  } finally { $('billing-panel').removeAttribute('aria-busy'); }
  const facts = $('billing-facts'); facts.textContent = '';
  const add = (k, v, cls) => facts.append(el('dt', { textContent: k }), el('dd', { textContent: v, className: cls }));
  add(t('bill.plan'), named('plan', b.plan), 'billing-plan');
  if (b.period) add(t('bill.period'), named('period', b.period), 'billing-period');
  if (b.plan === 'trial' && b.trialEndsAt) add(t('bill.trialEnds'), when(b.trialEndsAt), 'billing-trial');
  rows($('billing-limits'), Object.entries(b.limits).map(([k, v]) => [named('l', k), value(k, v), k]));
  const addons = Object.entries(b.addons || {}).filter(([, n]) => n);
  $('billing-no-addons').hidden = addons.length > 0;
  $('billing-addons-table').hidden = addons.length === 0;
  rows($('billing-addons'), addons.map(([k, n]) => [named('a', k), value(k, n), k]));
}

/** Hide the section's link from those who cannot see billing (additional users, sub-accounts' users). */
export function billingVisible(me) {
  return me.role === 'main';
}
