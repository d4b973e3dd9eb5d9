// R-STAT-1, R-STAT-3: the attendee's rating of the event (1 to 5 and a comment), on the room page's thank-you
// screen (the join's ratingToken) and on the /rate page (the thank-you e-mail's link). The server checks
// everything again (POST /api/v1/public/ratings); a second rating replaces the first.
import { applyI18n, errorText, t } from '/static/i18n.js';

const COMMENT_MAX = 2000;

function el(tag, attrs = {}, children = []) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'i18n') e.dataset.i18n = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

/** Draw the rating form into ``box`` for ``token``; nothing without a token. */
export function mountRating(box, token) {
  box.replaceChildren();
  box.hidden = !token;
  if (!token) return null;
  const id = box.id || 'rating';
  const stars = el('div', { class: 'row wrap rating-stars' });
  for (let n = 1; n <= 5; n += 1) {
    const input = el('input', { type: 'radio', name: `${id}-stars`, value: String(n), id: `${id}-star-${n}` });
    const label = el('label', { for: input.id, class: 'rating-star', title: t('rating.star', { n }) }, [`${n} ★`]);
    label.setAttribute('aria-label', t('rating.star', { n }));
    stars.append(el('span', {}, [input, label]));
  }
  const comment = el('textarea', { id: `${id}-comment`, maxlength: String(COMMENT_MAX), rows: '3' });
  const status = el('p', { class: 'rating-status', role: 'status', 'aria-live': 'polite' });
  const send = el('button', { type: 'submit', class: 'primary', i18n: 'rating.send' });
  const form = el('form', { class: 'rating-form', novalidate: '' }, [
    el('fieldset', {}, [el('legend', { i18n: 'rating.question' }), stars]),
    el('label', { for: comment.id, i18n: 'rating.comment' }),
    comment,
    el('div', { class: 'row' }, [send]),
    status,
  ]);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const chosen = form.querySelector('input[type=radio]:checked');
    if (!chosen) {
      status.textContent = t('rating.pick');
      form.querySelector('input[type=radio]').focus();
      return;
    }
    send.disabled = true;
    try {
      const r = await fetch('/api/v1/public/ratings', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ token, stars: Number(chosen.value), comment: comment.value }),
      });
      const body = await r.json().catch(() => ({}));
      if (r.ok) {
        form.replaceChildren(el('p', { class: 'notice rating-done', role: 'status', i18n: 'rating.thanks' }));
        applyI18n(form);
        return;
      }
      const code = body.error && body.error.code;
      status.textContent = code === 'bad_token' ? t('rating.badLink')
        : code === 'too_many_requests' ? t('rating.tooMany')
          : errorText(code, body.error && body.error.message);
    } catch (err) {
      status.textContent = errorText('network', String(err));
    } finally {
      send.disabled = false;
    }
  });
  box.append(form);
  applyI18n(box);
  return form;
}
