// The devices panel: camera, microphone and quality choices, switching devices live, and the avatar.
import { MediaserverClient } from '/sdk/mediaserver.js';
import { t } from '/static/i18n.js';
import { $, el, fail, hue, initials, show, toast } from './dom.js';
import { renderAll } from './render.js';
import { page, syncState } from './state.js';

export async function fillDevices() {
  const devs = await MediaserverClient.devices().catch(() => ({ audioinput: [], videoinput: [] }));
  const current = (kind) => {
    const tr = page.localStream && (kind === 'audioinput' ? page.localStream.getAudioTracks()[0] : page.localStream.getVideoTracks()[0]);
    return tr && tr.getSettings ? tr.getSettings().deviceId : undefined;
  };
  for (const [sel, kind, label] of [['#dev-camera', 'videoinput', 'devices.cameraN'], ['#dev-mic', 'audioinput', 'devices.micN']]) {
    const box = $(sel);
    const chosen = box.value || current(kind);
    box.replaceChildren(...devs[kind].map((d, i) => el('option', { value: d.deviceId }, d.label || t(label, { n: i + 1 }))));
    if (!devs[kind].length) box.append(el('option', { value: '' }, t('devices.none')));
    if (chosen && devs[kind].some((d) => d.deviceId === chosen)) box.value = chosen;
  }
}

async function changeDevice(kind) {
  if (!page.client || !page.localStream) return;
  const source = kind === 'audio' ? 'microphone' : 'camera';
  const old = kind === 'audio' ? page.localStream.getAudioTracks()[0] : page.localStream.getVideoTracks()[0];
  if (!old) return;
  try {
    const s = await MediaserverClient.openMedia({
      audio: kind === 'audio', video: kind === 'video', quality: $('#dev-quality').value,
      audioDeviceId: $('#dev-mic').value || undefined, videoDeviceId: $('#dev-camera').value || undefined,
    });
    const fresh = s.getTracks()[0];
    if (await page.client.replaceTrack(source, fresh)) {
      page.localStream.removeTrack(old);
      old.stop();
      page.localStream.addTrack(fresh);
      toast(t('devices.changed'));
    } else fresh.stop();
  } catch (e) { fail(e); }
  renderAll();
}

export function renderAvatarControl() {
  const me = page.client.participant || {};
  const box = $('#dev-avatar-preview');
  box.style.setProperty('--hue', hue(me.id || me.name || ''));
  box.style.backgroundImage = me.avatar ? `url("${String(me.avatar).replace(/"/g, '%22')}")` : '';
  box.style.backgroundSize = 'cover';
  box.textContent = me.avatar ? '' : initials(me.name);
  show($('#dev-avatar-clear'), !!me.avatar);
}

export function bindDevices() {
  $('#dev-camera').addEventListener('change', () => changeDevice('video'));
  $('#dev-mic').addEventListener('change', () => changeDevice('audio'));
  $('#dev-quality').addEventListener('change', async (e) => {
    if (!page.client) return;
    await page.client.setVideoQuality(e.target.value).catch((err) => fail(err));
    await changeDevice('video');
  });
  $('#dev-avatar').addEventListener('change', async (e) => {
    const file = e.target.files && e.target.files[0];
    if (!file || !page.client) return;
    try {
      await page.client.setAvatar(await MediaserverClient.avatarDataUrl(file));
      toast(t('devices.avatarSet'));
    } catch (err) { fail(err); }
    e.target.value = '';
    syncState();
    renderAll();
  });
  $('#dev-avatar-clear').addEventListener('click', async () => {
    try { await page.client.setAvatar(null); } catch (err) { fail(err); }
    syncState();
    renderAll();
  });
}
