// The interaction side panel's tabs (issue 16): Chat for everyone, Raised hands for the staff. A feature adds its
// tab with registerTab({key, order, label(), visible(), shown()}) and a <div id="tab-KEY" class="tab-pane"> in
// #panel-interact; a tab shows only where visible() says its feature exists, so nobody sees an empty tab.
import { t } from '/static/i18n.js';
import { $, el, show } from './dom.js';
import { togglePanel } from './panels.js';
import { renderAll } from './render.js';
import { page, S } from './state.js';

const TABS = [];
S.tab = null;                                   // the interaction panel's tab, when it is open

export function registerTab(tab) {
  TABS.push(tab);
  TABS.sort((a, b) => (a.order ?? 50) - (b.order ?? 50));
}

function visibleTabs() { return TABS.filter((x) => !x.visible || x.visible()); }

/** The tab the panel shows now (null when the panel is closed). */
export function openTab() { return page.openPanel === 'interact' ? S.tab : null; }

/** Open the interaction panel on tab `key` (or switch to it). */
export function showTab(key) {
  S.tab = key;
  if (page.openPanel !== 'interact') togglePanel('interact');   // renderAll, then renderTabs calls its shown()
  else renderAll();
}

function focusTab() {
  const tab = TABS.find((x) => x.key === S.tab);
  if (tab && tab.shown) tab.shown();
}

let shownKey = null;
/** Draw the tab strip (hidden while only one tab exists) and show the current pane. */
export function renderTabs() {
  const tabs = visibleTabs();
  if (!tabs.some((x) => x.key === S.tab)) S.tab = tabs.length ? tabs[0].key : null;
  const strip = $('#interact-tabs');
  strip.replaceChildren(...tabs.map((x) => el('button', {
    type: 'button', role: 'tab', class: x.key === S.tab ? 'tab active' : 'tab', 'aria-selected': String(x.key === S.tab),
    dataset: { tab: x.key },
  }, x.label())));
  show(strip, tabs.length > 1);
  if (page.openPanel === 'interact') {           // one tab: its name; several: the strip names them
    const title = $('#side-title');
    title.dataset.i18n = tabs.length > 1 ? 'panel.interact' : 'tool.chat';
    title.textContent = t(title.dataset.i18n);
  }
  for (const x of TABS) show($(`#tab-${x.key}`), x.key === S.tab && tabs.includes(x));
  const now = openTab();
  if (now && now !== shownKey) { shownKey = now; focusTab(); }
  if (!now) shownKey = null;
}

export function bindTabs() {
  // the toolbar's Chat button opens the Chat tab (capture: before the panel opens on whatever tab was last)
  $('#btn-chat').addEventListener('click', () => { if (page.openPanel !== 'interact') S.tab = 'chat'; }, true);
  $('#interact-tabs').addEventListener('click', (e) => {
    const b = e.target.closest('button[data-tab]');
    if (b) showTab(b.dataset.tab);
  });
}
