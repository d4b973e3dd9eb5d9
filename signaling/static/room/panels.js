// The side panels (people, chat and the other interaction tabs, host, my data, devices): opening, closing, and
// copying a field to the clipboard.
import { t } from '/static/i18n.js';
import { fillDevices } from './devices.js';
import { listDocuments } from './docview.js';
import { $, $$, el, show, toast } from './dom.js';
import { renderAll } from './render.js';
import { page } from './state.js';

const PANEL_TITLES = { people: 'tool.people', interact: 'tool.chat', present: 'tool.present', host: 'tool.host', mydata: 'tool.mydata', devices: 'tool.devices' };

export function togglePanel(name) {
  if (page.openPanel === name) { closePanel(); return; }
  page.openPanel = name;
  for (const p of Object.keys(PANEL_TITLES)) show($(`#panel-${p}`), p === name);
  $('#side-title').dataset.i18n = PANEL_TITLES[name];
  $('#side-title').textContent = t(PANEL_TITLES[name]);
  $('#side').dataset.panel = name;
  show($('#side'), true);
  document.body.classList.add('panel-open');
  if (name === 'devices') fillDevices();
  if (name === 'present') listDocuments();
  renderAll();
}

export function closePanel() {
  page.openPanel = null;
  show($('#side'), false);
  document.body.classList.remove('panel-open');
  for (const b of $$('.toolbar [data-panel]')) b.classList.remove('active');
}

export async function copy(sel) {
  const node = $(sel);
  const text = node.value !== undefined && node.tagName === 'TEXTAREA' ? node.value : node.textContent;
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const ta = el('textarea', {}, text);
    document.body.append(ta);
    ta.select();
    document.execCommand('copy');
    ta.remove();
  }
  toast(t('common.copied'));
}
