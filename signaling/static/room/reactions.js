// Reactions (issue 16): the toolbar's React button opens a row of the server's emoji; what the room sent comes
// once a tick as counts per emoji, and floats briefly over the stage: at most PER_EMOJI bubbles per emoji and
// event, the count written on the first, and never more than MAX_LIVE on the page, so 5,000 claps are a few
// elements, not 5,000.
import { REACTIONS } from '/sdk/mediaserver.js';
import { t } from '/static/i18n.js';
import { $, el, fail, show, toast } from './dom.js';
import { page, S } from './state.js';

const PER_EMOJI = 3;
const KINDS = 6;                     // emoji per event drawn at most
const MAX_LIVE = 24;
const LIFE_MS = 2600;

S.reactions = { events: 0, counts: {}, bubbles: 0, live: 0, sent: 0 };

function drop(node) {
  if (!node.isConnected) return;
  node.remove();
  S.reactions.live = $('#reactions-float').childElementCount;
}

/** One 'reactions' event ({counts: {emoji: n}}): float a few bubbles per emoji. */
export function floatReactions(counts) {
  if (!counts || typeof counts !== 'object') return;
  S.reactions.events += 1;
  const layer = $('#reactions-float');
  const kinds = Object.entries(counts).filter(([e, n]) => typeof e === 'string' && e.length <= 16 && Number(n) > 0)
    .sort((a, b) => b[1] - a[1]).slice(0, KINDS);
  for (const [emoji, n] of kinds) {
    S.reactions.counts[emoji] = (S.reactions.counts[emoji] || 0) + Number(n);
    for (let i = 0; i < Math.min(Number(n), PER_EMOJI); i += 1) {
      if (layer.childElementCount >= MAX_LIVE) break;
      const bubble = el('span', { class: 'float-emoji', style: `left:${8 + Math.random() * 80}%;animation-delay:${i * 180}ms` },
        emoji, i === 0 && n > 1 ? el('small', {}, `×${n}`) : null);
      bubble.addEventListener('animationend', () => drop(bubble));
      setTimeout(() => drop(bubble), LIFE_MS + i * 180 + 200);   // no animation (reduced motion) ends too
      layer.append(bubble);
      S.reactions.bubbles += 1;
    }
  }
  S.reactions.live = layer.childElementCount;
}

function closeMenu() { show($('#react-menu'), false); }

function openMenu(ev) {
  const menu = $('#react-menu');
  if (!menu.hidden) { closeMenu(); return; }
  const set = (page.client && page.client.interaction.reactionSet) || REACTIONS;
  menu.replaceChildren(...set.map((e) => el('button', { type: 'button', class: 'react', dataset: { emoji: e },
    title: e }, e)));
  const r = ev.currentTarget.getBoundingClientRect();
  menu.style.left = `${Math.max(8, Math.min(window.innerWidth - 8 - Math.min(320, window.innerWidth - 16), r.left + r.width / 2 - 160))}px`;
  show(menu, true);
}

async function react(emoji) {
  if (!page.client) return;
  try {
    await page.client.react(emoji);
    S.reactions.sent += 1;
  } catch (e) {
    if (e.code === 'rate_limited') toast(t('react.error.rate_limited'), 'error');
    else fail(e);
  }
}

export function bindReactions() {
  $('#btn-react').addEventListener('click', openMenu);
  $('#react-menu').addEventListener('click', (e) => {
    const b = e.target.closest('button[data-emoji]');
    if (b) react(b.dataset.emoji);
  });
  document.addEventListener('click', (e) => {
    const menu = $('#react-menu');
    if (!menu.hidden && !menu.contains(e.target) && !e.target.closest('#btn-react')) closeMenu();
  });
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape') closeMenu(); });
}
