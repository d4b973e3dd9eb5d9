// The host's controls: lock, end, recording (R-REC-1), live stream (R-REC-6), start, audio
// mode, capacity, language and the people panel's actions.
import { errorText, language, t } from '/static/i18n.js';
import { $, $$, fail, show, toast } from './dom.js';
import { renderAll } from './render.js';
import { page, S, syncState } from './state.js';

async function hostAction(action, params = {}, confirmKey) {
  if (!page.client) return;
  if (confirmKey && !window.confirm(t(confirmKey))) return;
  try {
    await page.client.host(action, params);
  } catch (e) { fail(e); }
  syncState();
  renderAll();
}

export function renderHostPanel() {
  if (S.role !== 'host') return;
  const r = S.room || {};
  for (const radio of $$('input[name="audio-mode"]')) radio.checked = radio.value === r.audioMode;
  const cap = $('#host-capacity');
  if (document.activeElement !== cap) cap.value = r.capacity || '';
  cap.max = r.type === 'meeting' ? 25 : 5000;
  $('#host-language').value = r.language || language();
  show($('#host-start-box'), r.state === 'lobby');
  for (const b of $$('.lock-btn')) b.textContent = t(r.locked ? 'host.unlock' : 'host.lock');
  $('#host-rec').textContent = t(r.recording ? 'host.recStop' : 'host.recStart');
  $('#host-rec').classList.toggle('danger', !!r.recording);
  $('#host-stream').textContent = t(r.streaming ? 'host.streamStop' : 'host.streamStart');
  $('#host-stream').classList.toggle('danger', !!r.streaming);
  $('#host-stream-url').disabled = $('#host-stream-key').disabled = !!r.streaming;
}

export function bindHost() {
  for (const b of $$('.lock-btn')) b.addEventListener('click', () => hostAction((S.room || {}).locked ? 'unlock' : 'lock'));
  for (const b of $$('.end-btn')) b.addEventListener('click', () => hostAction('end', {}, 'host.endConfirm'));
  $('#host-rec').addEventListener('click', () => hostAction((S.room || {}).recording ? 'stopRecording' : 'startRecording'));
  $('#host-stream').addEventListener('click', () => {
    if ((S.room || {}).streaming) { hostAction('stopStream'); return; }
    const key = $('#host-stream-key').value.trim();
    hostAction('startStream', { url: $('#host-stream-url').value.trim(), key: key || undefined });
  });
  $('#host-start').addEventListener('click', () => hostAction('start'));
  for (const r of $$('input[name="audio-mode"]')) {
    r.addEventListener('change', () => { if (r.checked) hostAction('setAudioMode', { mode: r.value }); });
  }
  $('#host-capacity-set').addEventListener('click', () => {
    const n = Number($('#host-capacity').value);
    if (!Number.isInteger(n) || n < 1) { toast(errorText('bad_capacity'), 'error'); return; }
    hostAction('setCapacity', { capacity: n });
  });
  $('#host-language').addEventListener('change', (e) => hostAction('setLanguage', { language: e.target.value }));
  $('#people-list').addEventListener('click', (e) => {
    const b = e.target.closest('button[data-act]');
    if (!b) return;
    const params = { participant: b.dataset.id, ...(b.dataset.role ? { role: b.dataset.role } : {}) };
    hostAction(b.dataset.act, params, b.dataset.act === 'remove' ? 'people.removeConfirm' : undefined);
  });
}
