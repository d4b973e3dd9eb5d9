// The shared video player on the room page (issue 17 item 2, R-MEDIA-8): the state comes from the room's
// interaction ('player' events, the snapshot on joining); a library video plays in a <video> from its signed
// URL, a YouTube video through YouTube's IFrame API (the script the server names, youtube_api). Everyone's page
// follows the state on the server's clock (client.syncClock(): the offset to the server, re-estimated every
// 30 s) with videosync.js's Follower. The host and presenters get the controls (play/pause, the seek bar, stop)
// and the host panel's "Shared video" form (a video uploaded into the event's room, or a YouTube link).
// window.roomState.player and window.roomPlayer.measure() say where the video is against where it should be.
import { t } from '/static/i18n.js';
import { $, el, fail, show } from './dom.js';
import { page, S } from './state.js';
import { Follower, HtmlVideo, loadYouTubeApi, YouTubeVideo } from './videosync.js';

const TICK_MS = 200;
const RESYNC_MS = 30000;

S.player = null;   // {kind, playing, position, rate, currentTime, expected, diff, muted, blocked, corrections, clock}
let follower = null;
let sourceKey = null;
let timer = null;
let resync = null;
let building = 0;
let endSent = null;   // the state (its `at`) this page paused at the end

const staff = () => S.role === 'host' || S.role === 'presenter';
const current = () => (page.client ? page.client.interaction.player.state : null);
const expected = () => {
  const st = current();
  return st && st.source && page.client ? page.client.videoPosition(st) : null;
};
const keyOf = (src) => (src ? (src.kind === 'youtube' ? `yt:${src.id}` : `file:${src.file}`) : null);
const fmt = (s) => (Number.isFinite(s) ? `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}` : '–:––');

// one "Turn the sound on" at a time: issue 15's (received audio) turns this sound on too, so ours shows only
// when that one does not
function soundBlocked(on) {
  show($('#player-sound'), on && $('#sound-on').hidden);
  if (S.player) S.player.blocked = on;
}

async function build(src) {
  const ticket = ++building;
  if (follower) { follower.destroy(); follower = null; }
  const box = $('#player-box');
  box.replaceChildren();
  soundBlocked(false);
  if (!src) return;
  let adapter;
  if (src.kind === 'youtube') {
    const api = page.client.interaction.player.youtubeApi;
    try {
      const YT = await loadYouTubeApi(api);
      if (ticket !== building) return;
      adapter = new YouTubeVideo(YT, box, src.id);
    } catch (e) {
      if (ticket === building) { S.player.error = e.code || 'youtube_api'; $('#player-error').textContent = t('player.noYoutube'); show($('#player-error'), true); }
      return;
    }
  } else {
    const video = el('video', { class: 'player-video' });
    box.append(video);
    adapter = new HtmlVideo(video, src.url);
    video.addEventListener('error', () => { if (S.player) S.player.error = 'video'; });
  }
  follower = new Follower(adapter, { state: current, want: expected, onBlocked: soundBlocked });
}

function sync() {
  if (!page.client || !current() || !current().source) return;
  page.client.syncClock(5).then((c) => { if (S.player) S.player.clock = { ...c }; }, () => {});
}

function tick() {
  if (!follower || !page.client || !page.client.clock) return;   // not before the server's clock is known
  follower.tick();
  const a = follower.a;
  const st = current();
  const want = expected();
  if (!st || want === null) return;
  soundBlocked(follower.blocked);
  const ready = a.ready();
  Object.assign(S.player, {
    playing: st.playing, position: st.position, rate: st.rate, expected: want, ready,
    currentTime: ready ? a.currentTime() : null, diff: follower.diff, corrections: follower.corrections,
    muted: ready ? a.muted() : null, playbackRate: ready ? a.rate() : null,
  });
  const dur = ready ? a.duration() : NaN;
  // at the end, the page of whoever started it pauses the shared state there (once): late joiners see the end,
  // and the state does not run on
  const me = page.client.participant && page.client.participant.id;
  if (st.playing && Number.isFinite(dur) && want >= dur && st.by && st.by.id === me && endSent !== st.at) {
    endSent = st.at;
    page.client.pauseVideo(Math.floor(dur * 1000) / 1000).catch(() => { endSent = null; });
  }
  if (staff()) {
    const bar = $('#player-seek');
    if (Number.isFinite(dur) && dur > 0) bar.max = String(dur);
    const at = Number.isFinite(dur) ? Math.min(want, dur) : want;   // the state runs on past the end
    if (!bar.matches(':active')) bar.value = String(at);
    $('#player-time').textContent = `${fmt(at)} / ${fmt(dur)}`;
    $('#player-toggle').textContent = t(st.playing ? 'player.pause' : 'player.play');
  }
}

/** The player's part of renderAll and of the 'player' event: the source on the stage, the controls. */
export function renderPlayer() {
  const st = current();
  const src = st ? st.source : null;
  const key = keyOf(src);
  show($('#player-stage'), !!src && S.screen === 'room');
  document.body.classList.toggle('presenting-video', !!src && S.screen === 'room');   // the tiles go beside it
  $('#media').classList.toggle('with-player', !!src);
  show($('#player-controls'), !!src && staff());
  show($('#player-live'), !!src && staff());
  if (src) $('#player-live-name').textContent = src.kind === 'youtube' ? `YouTube ${src.id}` : String(src.name || '');
  if (key === sourceKey) return;
  sourceKey = key;
  show($('#player-error'), false);
  if (!src) {
    build(null);
    S.player = null;
    clearInterval(timer); clearInterval(resync);
    timer = resync = null;
    return;
  }
  S.player = { kind: src.kind, error: null, clock: page.client.clock ? { ...page.client.clock } : null };
  build(src);
  sync();
  if (!timer) timer = setInterval(tick, TICK_MS);
  if (!resync) resync = setInterval(sync, RESYNC_MS);
}

async function act(fn) {
  try { await fn(page.client); show($('#player-form-error'), false); } catch (e) {
    const p = $('#player-form-error');
    const key = `player.error.${e.code}`;
    p.textContent = t(key) !== key ? t(key) : e.message || e.code;
    show(p, true);
    fail(e, 'player:');
  }
}

/** The host panel's list of the room's videos (GET /api/v1/rooms/{id}/files with the join token). */
async function listVideos() {
  const select = $('#player-file');
  if (!S.joinToken || !S.roomId) return;
  try {
    const r = await fetch(`/api/v1/rooms/${encodeURIComponent(S.roomId)}/files?limit=100`, {
      headers: { Authorization: `Bearer ${S.joinToken}` } });
    if (!r.ok) return;
    const files = (await r.json()).items.filter((f) => f.kind === 'video');   // the server's kind of each file
    select.replaceChildren(el('option', { value: '' }, t('player.pickFile')),
      ...files.map((f) => el('option', { value: String(f.id) }, f.name)));
  } catch { /* the list stays as it was */ }
}

function start(ev) {
  ev.preventDefault();
  const file = Number($('#player-file').value);
  const youtube = $('#player-youtube').value.trim();
  if (!file && !youtube) return;
  act((c) => c.playVideo(youtube ? { youtube } : { file }));
}

export function wirePlayer(c) {
  const mine = () => { if (c === page.client) renderPlayer(); };
  for (const name of ['player', 'admitted', 'reconnected']) c.addEventListener(name, mine);
}

export function bindPlayer() {
  $('#player-form').addEventListener('submit', start);
  $('#player-file').addEventListener('focus', listVideos);
  $('#player-youtube').addEventListener('input', () => { if ($('#player-youtube').value) $('#player-file').value = ''; });
  $('#player-toggle').addEventListener('click', () => act((c) => (current().playing ? c.pauseVideo() : c.resumeVideo())));
  $('#player-seek').addEventListener('change', (e) => act((c) => c.seekVideo(Number(e.target.value))));
  for (const b of [$('#player-stop'), $('#player-stop2')]) b.addEventListener('click', () => act((c) => c.stopVideo()));
  const unmute = () => { if (follower) follower.unmute(); };
  $('#player-sound').addEventListener('click', unmute);
  $('#sound-on').addEventListener('click', unmute);   // issue 15's button turns this sound on too
  window.roomPlayer = {
    /** Where the video is against where the state says it should be, read at one moment (the tests). */
    measure() {
      const a = follower && follower.a;
      const want = expected();
      if (!a || !a.ready() || want === null) return null;
      return { currentTime: a.currentTime(), expected: want, diff: a.currentTime() - want, serverNow: page.client.serverNow(),
        paused: a.paused(), rate: a.rate(), muted: a.muted(), state: { ...current() } };
    },
    listVideos,
  };
}
