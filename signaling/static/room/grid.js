// The media grid: which tiles to show (tileModel), each tile's video or avatar, the stage or grid layout, the
// active speaker's ring and the <audio> elements of received audio.
import { t } from '/static/i18n.js';
import { $, el, hue, initials, show } from './dom.js';
import { page, remote, S } from './state.js';

const tiles = new Map();         // tile key -> element

// Which tiles to show: meetings show everyone (an avatar for those without a camera); webinars show the
// host, presenters and whoever sends media. Screen shares get their own tile.
function tileModel() {
  const me = page.client.participant && page.client.participant.id;
  const meeting = (S.room && S.room.type) === 'meeting';
  const list = [];
  const cams = new Map();
  const screens = [];
  for (const tr of page.client.tracks.values()) {
    if (tr.source === 'screen') screens.push(tr);
    else if (tr.kind === 'video') cams.set(tr.participant, tr);
  }
  for (const p of page.client.participants.values()) {
    if (p.status && p.status !== 'joined') continue;
    const sends = [...page.client.tracks.values()].some((x) => x.participant === p.id);
    if (!meeting && p.role === 'attendee' && !sends && !(p.id === me && page.client.publications.length)) continue;
    list.push({ key: p.id, participant: p, camera: cams.get(p.id), self: p.id === me });
  }
  const screenTiles = screens.map((tr) => ({ key: `${tr.participant}:screen`, participant: page.client.participants.get(tr.participant) || { id: tr.participant, name: '' }, screen: tr, self: tr.participant === me }));
  return { list, screenTiles, meeting };
}

function makeTile(key) {
  const tile = el('div', { class: 'tile', dataset: { key } });
  tile.innerHTML = '<video autoplay playsinline></video><div class="avatar"><span class="initials"></span></div>'
    + '<div class="label"><svg class="mic-off" viewBox="0 0 24 24"><use href="#i-mic-off"/></svg><span class="name"></span></div>';
  tile.querySelector('video').muted = true;
  tiles.set(key, tile);
  return tile;
}

function attach(video, stream, mirror) {
  if (video.srcObject !== stream) {
    video.srcObject = stream;
    video.play().catch(() => {});
  }
  video.classList.toggle('mirror', !!mirror);
}

function fillTile(tile, m) {
  const p = m.participant || {};
  const video = tile.querySelector('video');
  let stream = null;
  let live = false;
  if (m.screen) {
    if (m.self) {
      const tr = page.client.localTracks('screen')[0];
      stream = tr ? new MediaStream([tr]) : null;
    } else {
      const r = remote.get(m.screen.id);
      stream = r ? r.stream : null;
      if (r) stream = tile._stream && tile._stream.getTracks()[0] === r.track ? tile._stream : new MediaStream([r.track]);
    }
    live = !!stream;
  } else if (m.self) {
    const tr = page.client.localTracks('camera')[0];
    live = !!tr && !page.client.muted.video && tr.readyState === 'live';
    stream = tr ? (tile._stream && tile._stream.getTracks()[0] === tr ? tile._stream : new MediaStream([tr])) : null;
  } else if (m.camera) {
    const r = remote.get(m.camera.id);
    live = !!r && !m.camera.muted;
    stream = r ? (tile._stream && tile._stream.getTracks()[0] === r.track ? tile._stream : new MediaStream([r.track])) : null;
  }
  tile._stream = stream;
  if (stream) attach(video, stream, m.self && !m.screen);
  else if (video.srcObject) video.srcObject = null;
  tile.classList.toggle('has-video', live);
  tile.classList.toggle('screen', !!m.screen);
  tile.classList.toggle('self', !!m.self);
  tile.dataset.participant = p.id || '';
  const name = m.screen ? t('tile.screenOf', { name: p.name || '' }) : `${p.name || ''}${m.self ? ` (${t('tile.you')})` : ''}`;
  tile.querySelector('.name').textContent = name;
  const av = tile.querySelector('.avatar');
  av.style.setProperty('--hue', hue(p.id || p.name || ''));
  av.classList.toggle('image', !!p.avatar);
  av.querySelector('.initials').style.backgroundImage = p.avatar ? `url("${String(p.avatar).replace(/"/g, '%22')}")` : '';
  tile.querySelector('.initials').textContent = p.avatar ? '' : initials(p.name);
  const audio = [...page.client.tracks.values()].find((x) => x.participant === p.id && x.kind === 'audio');
  const micOff = m.self ? page.client.muted.audio || !page.client.localTracks('microphone').length : !audio || audio.muted;
  tile.classList.toggle('muted', !m.screen && micOff);
  tile.classList.toggle('speaking', !m.screen && S.activeSpeaker === p.id);
}

export function renderMedia() {
  const { list, screenTiles, meeting } = tileModel();
  const media = $('#media');
  // Stage layout: a webinar always (presenter or screen big, others small); a meeting while someone shares.
  const stage = !meeting || screenTiles.length > 0;
  media.classList.toggle('stage', stage);
  media.classList.toggle('grid', !stage);
  const all = [...screenTiles, ...list];
  const keep = new Set(all.map((m) => m.key));
  for (const [key, tile] of tiles) if (!keep.has(key)) { tile.remove(); tiles.delete(key); }
  let main = null;
  if (stage) {
    main = screenTiles[0]
      || list.find((m) => m.participant.id === S.activeSpeaker && (m.camera || m.self))
      || list.find((m) => m.camera && !m.camera.muted && m.participant.role !== 'attendee')
      || list.find((m) => m.participant.role === 'host')
      || list[0] || null;
  }
  const stageBox = $('#stage-main');
  const strip = $('#tiles');
  for (const m of all) {
    const tile = tiles.get(m.key) || makeTile(m.key);
    fillTile(tile, m);
    const parent = m === main ? stageBox : strip;
    if (tile.parentNode !== parent) {
      parent.append(tile);
      const v = tile.querySelector('video');
      if (v.srcObject) v.play().catch(() => {});
    }
  }
  // Order the strip as the model says.
  for (const m of all) if (m !== main) strip.append(tiles.get(m.key));
  const n = all.length - (main ? 1 : 0);
  const narrow = S.mobile || window.innerWidth < 700;
  const portrait = window.innerHeight > window.innerWidth;
  let cols;
  if (stage) cols = Math.min(Math.max(n, 1), narrow ? 3 : 6);
  else if (narrow && portrait) cols = n <= 2 ? 1 : n <= 8 ? 2 : 3;
  else cols = n <= 1 ? 1 : n <= 4 ? 2 : n <= 9 ? 3 : n <= 16 ? 4 : 5;
  media.style.setProperty('--cols', String(cols));
  media.style.setProperty('--rows', String(Math.ceil(Math.max(n, 1) / cols)));
  const empty = $('#media-empty');
  const blocked = S.audioMode === 'presenters' && S.role === 'attendee' && !(page.client.participant || {}).floor;
  empty.textContent = t(!S.webrtc ? 'room.noWebRTC' : blocked ? 'room.presentersOnly' : 'room.empty');
  media.classList.toggle('blocked', blocked);
  show(empty, all.length === 0 || blocked || !S.webrtc);
  show(stageBox, stage && !!main);
  // Remote audio: one <audio> per received audio track.
  const sink = $('#audio-sink');
  const wanted = new Set();
  for (const [id, r] of remote) {
    if (r.track.kind !== 'audio') continue;
    wanted.add(id);
    let a = sink.querySelector(`audio[data-track="${CSS.escape(id)}"]`);
    if (!a) {
      a = el('audio', { autoplay: true, dataset: { track: id } });
      a.srcObject = new MediaStream([r.track]);
      sink.append(a);
      a.play().catch(soundBlocked);
    }
  }
  for (const a of sink.querySelectorAll('audio')) if (!wanted.has(a.dataset.track)) a.remove();
  if (!sink.querySelector('audio')) S.soundBlocked = false;
  show($('#sound-on'), S.soundBlocked);
}

// Safari plays received audio only after a click on the page, unless the page captures the camera or microphone
// (issue 15): a receive-only attendee there, or anyone who joined without a click (autojoin), would hear nothing.
// The browser refuses play() with NotAllowedError; the page then offers "Turn the sound on", whose click plays.
function soundBlocked(e) {
  if (!e || e.name !== 'NotAllowedError') return;
  S.soundBlocked = true;
  show($('#sound-on'), true);
}

export async function turnSoundOn() {
  const played = await Promise.allSettled([...$('#audio-sink').querySelectorAll('audio')].map((a) => a.play()));
  S.soundBlocked = played.some((r) => r.status === 'rejected' && r.reason && r.reason.name === 'NotAllowedError');
  show($('#sound-on'), S.soundBlocked);
}

export function renderSpeaker() {
  for (const tile of tiles.values()) {
    tile.classList.toggle('speaking', !tile.classList.contains('screen') && tile.dataset.participant === S.activeSpeaker);
  }
  if (S.screen === 'room' && page.client && (S.room || {}).type !== 'meeting') renderMedia();
}
