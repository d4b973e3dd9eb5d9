// Sending media: camera and microphone (with fallbacks), mute toggles, screen sharing and the toolbar's buttons.
import { MediaserverClient } from '/sdk/mediaserver.js';
import { errorText, t } from '/static/i18n.js';
import { $, $$, fail, show, toast } from './dom.js';
import { renderAll } from './render.js';
import { page, S, syncState } from './state.js';

async function openLocal(want) {
  const audioDeviceId = $('#dev-mic').value || undefined;
  const videoDeviceId = $('#dev-camera').value || undefined;
  const quality = $('#dev-quality').value || 'sd';
  const tries = [want, { audio: want.audio, video: false }, { audio: false, video: want.video }];
  let last = null;
  for (const w of tries) {
    if (!w.audio && !w.video) continue;
    try { return await MediaserverClient.openMedia({ ...w, quality, audioDeviceId, videoDeviceId }); } catch (e) { last = e; }
  }
  throw last || new Error('no devices');
}

// Open and send the camera and/or microphone. Adding a kind while already sending the other works too
// (the SDK puts everything on one connection).
// Issue 14 finding 16: a room embedded in another site (an iframe, R-ROOM-12) opens the camera and microphone
// only on a click of its own ("Join with camera"): the partner's page loading the room is not the person
// agreeing to be seen and heard. Outside an iframe the room page is the person's own choice and sends at once.
export const embedded = (() => { try { return window.self !== window.top; } catch { return true; } })();
S.embedded = embedded;

export async function publishWhenAllowed(opts) {
  if (!embedded) { await startPublishing(opts); return; }
  S.cameraOffer = true;
  show($('#embed-media'), true);
  $('#embed-camera').onclick = async () => { withdrawCameraOffer(); await startPublishing(opts); };
}

export function withdrawCameraOffer() {
  S.cameraOffer = false;
  show($('#embed-media'), false);
}

export async function startPublishing({ audio = true, video = true } = {}) {
  if (!page.client) return;
  const want = {
    audio: audio && !page.client.localTracks('microphone').length,
    video: video && !page.client.localTracks('camera').length,
  };
  if (!want.audio && !want.video) return;
  if (!S.webrtc) { toast(errorText('webrtc_unsupported'), 'error'); return; }   // no camera opened for nothing
  let stream;
  try {
    stream = await openLocal(want);
  } catch (e) {
    toast(errorText(e.name === 'NotAllowedError' ? 'media_denied' : 'no_devices'), 'error');
    renderAll();
    return;
  }
  for (const kind of ['audio', 'video']) if (stream.getTracks().some((x) => x.kind === kind)) page.client.muted[kind] = false;
  const publishing = page.client.publications.length > 0;
  try {
    await page.client.publish(stream, { videoQuality: $('#dev-quality').value || 'sd' });
  } catch (e) {
    if (e.code === 'camera_limit' && stream.getAudioTracks().length) {
      toast(errorText('camera_limit'), 'error');
      stream.getVideoTracks().forEach((x) => { x.stop(); stream.removeTrack(x); });
      try { await page.client.publish(stream); } catch (e2) { fail(e2); stream.getTracks().forEach((x) => x.stop()); stream = null; }
    } else {
      fail(e);
      stream.getTracks().forEach((x) => x.stop());
      stream = null;
    }
  }
  if (stream) {
    if (publishing && page.localStream) stream.getTracks().forEach((x) => page.localStream.addTrack(x));
    else page.localStream = stream;
  }
  syncState();
  renderAll();
}

export function stopLocal() {
  withdrawCameraOffer();
  if (page.localStream) page.localStream.getTracks().forEach((x) => x.stop());
  page.localStream = null;
  if (page.screenStream) page.screenStream.getTracks().forEach((x) => x.stop());
  page.screenStream = null;
}

export async function toggle(kind) {
  if (!page.client || !page.client.participant) return;
  withdrawCameraOffer();                          // the person chose with the toolbar
  const sending = page.client.localTracks(kind === 'audio' ? 'microphone' : 'camera').length > 0;
  if (!sending) {
    if (!page.client.participant.canPublish) { toast(errorText('forbidden'), 'error'); return; }
    await startPublishing({ audio: kind === 'audio', video: kind === 'video' });
    return;
  }
  try {
    await page.client.mute(kind, !page.client.muted[kind]);
  } catch (e) { fail(e); }
  syncState();
  renderAll();
}

export async function toggleScreen(ev) {
  if (!page.client) return;
  if (page.client.sharingScreen) {
    await page.client.stopScreen();
    page.screenStream = null;
    syncState();
    renderAll();
    return;
  }
  const menu = $('#screen-menu');
  if (!menu.hidden) { menu.hidden = true; return; }
  const r = ev.currentTarget.getBoundingClientRect();
  menu.style.left = `${Math.max(8, Math.min(window.innerWidth - 288, r.left + r.width / 2 - 140))}px`;
  menu.hidden = false;
}

export async function shareScreen(quality) {
  $('#screen-menu').hidden = true;
  try {
    page.screenStream = await page.client.shareScreen(quality);
  } catch (e) {
    if (e.name === 'NotAllowedError' || e.name === 'AbortError') return;   // the user cancelled the picker
    fail(e);
  }
  syncState();
  renderAll();
}

export function stopPublishingLocally() {
  withdrawCameraOffer();
  if (!page.client) return;
  page.client.unpublishMedia().catch(() => {});
  page.client.stopScreen().catch(() => {});
  stopLocal();
}

export function renderToolbar() {
  const p = page.client.participant || {};
  const can = !!p.canPublish;
  const mic = page.client.localTracks('microphone').length > 0 && !page.client.muted.audio;
  const cam = page.client.localTracks('camera').length > 0 && !page.client.muted.video;
  const set = (btn, on, iconOn, iconOff, labelOn, labelOff) => {
    btn.classList.toggle('on', on);
    btn.classList.toggle('off', !on);
    btn.querySelector('use').setAttribute('href', on ? iconOn : iconOff);
    btn.title = t(on ? labelOn : labelOff);
    btn.setAttribute('aria-pressed', String(on));
    btn.disabled = !can && !on;
  };
  set($('#btn-mic'), mic, '#i-mic', '#i-mic-off', 'tool.micOn', 'tool.micOff');
  set($('#btn-cam'), cam, '#i-cam', '#i-cam-off', 'tool.camOn', 'tool.camOff');
  const screenBtn = $('#btn-screen');
  show(screenBtn, !S.mobile && MediaserverClient.canShareScreen());   // S.mobile: the server's word too
  screenBtn.classList.toggle('on', page.client.sharingScreen);
  screenBtn.disabled = !can && !page.client.sharingScreen;
  screenBtn.querySelector('span').textContent = t(page.client.sharingScreen ? 'tool.stopScreen' : 'tool.screen');
  show($('#btn-host'), S.role === 'host');
  show($('#btn-present'), S.role === 'host' || S.role === 'presenter');   // issue 17
  for (const b of $$('.toolbar [data-panel]')) b.classList.toggle('active', b.dataset.panel === page.openPanel);
}
