// The /rate page (R-STAT-1, R-STAT-3): the rating token comes after '#' in the thank-you e-mail's link (so it
// stays out of servers' logs); the language is ?lang= or the browser's.
import { applyI18n, detectLanguage, setLanguage } from '/static/i18n.js';
import { mountRating } from '/static/rating.js';

const lang = new URLSearchParams(location.search).get('lang');
setLanguage(['en', 'ru'].includes(lang) ? lang : detectLanguage());
const token = decodeURIComponent(location.hash.replace(/^#/, ''));
document.getElementById('rate-missing').hidden = Boolean(token);
mountRating(document.getElementById('rate-form'), token || null);
applyI18n(document);
document.title = document.querySelector('h1').textContent;
