// A published recording's watch page (recording.html; issue 17 item 4, R-REC-4): the WebM, and beside it what
// was on the room's stage at each moment of it, from /r/{token}/track: the stage's changes [{t, stage}] and the
// whiteboard's steps [{t, update}] (t: seconds from the recording's start). It follows the video, when it
// plays, pauses or is seeked: the document is drawn at its page and zoom (pdfview.js), the shared video is kept
// where it was on the server's clock (videosync.js's Follower, as in the room), and the board is the Yjs
// document made of the steps up to that moment (drawn by room/boarddraw.js, as in the room).
import { applyI18n, detectLanguage, setLanguage, t } from '/static/i18n.js';
import { PdfView } from '/static/pdfview.js';
import { drawPage } from '/static/room/boarddraw.js';
import { Follower, HtmlVideo, loadYouTubeApi, YouTubeVideo } from '/static/room/videosync.js';
import { fromBase64, Y } from '/sdk/board.js';

const TICK_MS = 100;
const $ = (id) => document.getElementById(id);
const token = location.pathname.split('/').filter(Boolean)[1] || '';
const rec = $('rec');
/** What the page shows, for tests and for the curious: the item on the stage and its details. */
const R = window.replay = { ready: false, error: null, item: null, doc: null, board: null, shared: null };

/** The index of the last item of `list` (sorted by t) at or before `time`; -1 when none is. */
export function lastAt(list, time) {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid].t <= time) lo = mid + 1; else hi = mid;
  }
  return lo - 1;
}

/** The board at a moment: the steps up to it applied to a Yjs document (from the start again on a seek back). */
class BoardReplay {
  constructor(steps) { this.steps = steps; this.reset(); }
  reset() { this.doc = new Y.Doc(); this.applied = 0; }
  /** Move to `time`; true when the board changed. */
  to(time) {
    const n = lastAt(this.steps, time) + 1;
    if (n === this.applied) return false;
    if (n < this.applied) this.reset();
    for (; this.applied < n; this.applied += 1) Y.applyUpdate(this.doc, fromBase64(this.steps[this.applied].update));
    return true;
  }
  pageCount() { return this.doc.getArray('pages').length; }
  shapes(page) {
    const p = this.doc.getArray('pages').get(page);
    return p ? p.toJSON() : [];
  }
}

/** The shared video as it played in the room, kept at the recording's moment by the room's Follower. */
class SharedVideo {
  constructor(startMs, youtubeApi) {
    Object.assign(this, { startMs, youtubeApi, key: '', state: null, follower: null, building: 0 });
  }
  /** Where the video was at the recording's current moment (the room's state: position at `at`, rate). */
  want() {
    const st = this.state;
    if (!st) return null;
    if (!st.playing) return st.position;
    const wall = this.startMs + rec.currentTime * 1000;
    return st.position + Math.max(0, wall - st.at) / 1000 * st.rate;
  }
  async show(player) {
    this.state = player;
    const src = player.source;
    const key = src.kind === 'youtube' ? `y:${src.id}` : `f:${src.file}`;
    if (key === this.key) return;
    this.hide();
    this.key = key;
    const ticket = ++this.building;
    let adapter;
    if (src.kind === 'youtube') {
      $('shared').hidden = true;
      $('yt-box').hidden = false;
      try {
        const YT = await loadYouTubeApi(this.youtubeApi);
        if (ticket !== this.building) return;
        adapter = new YouTubeVideo(YT, $('yt-box'), src.id);
      } catch (e) {
        R.error = e.code || 'youtube_api';
        return;
      }
    } else {
      $('yt-box').hidden = true;
      $('shared').hidden = false;
      adapter = new HtmlVideo($('shared'), src.url);
    }
    this.follower = new Follower(adapter, {
      // the recording paused or seeking: so is the shared video; its rate follows the recording's too
      state: () => this.state && { playing: this.state.playing && !rec.paused && !rec.seeking,
        rate: this.state.rate * (rec.playbackRate || 1) },
      want: () => this.want(),
      onBlocked: (blocked) => { $('sound').hidden = !blocked; },
    });
  }
  tick() { if (this.follower) this.follower.tick(); }
  hide() {
    this.building += 1;
    if (this.follower) this.follower.destroy();
    this.follower = null;
    this.key = '';
    $('yt-box').replaceChildren();
    $('sound').hidden = true;
  }
}

function showItem(item) {
  for (const name of ['doc', 'player', 'board', 'nothing']) $(`stage-${name}`).hidden = (item || 'nothing') !== name;
}

async function main() {
  const query = new URLSearchParams(location.search);
  let r;
  try {
    r = await fetch(`/r/${token}/track`);
  } catch (e) {
    r = null;
  }
  const track = r && r.ok ? await r.json() : null;
  setLanguage(query.get('lang') || (track && track.language) || detectLanguage());
  applyI18n();
  if (!track) {
    const gone = r && r.status === 404;
    R.error = gone ? 'not_found' : 'track';
    $('fatal').textContent = gone ? t('replay.gone') : t('replay.noTrack', { message: r ? r.status : 'network' });
    $('fatal').hidden = false;
    return;
  }
  document.title = track.name;
  $('name').textContent = track.name;
  const started = new Date(track.startedAt);
  $('when').textContent = started.toLocaleString(document.documentElement.lang);
  rec.src = track.video;
  $('main').hidden = false;
  const stage = track.stage || [];
  const board = new BoardReplay(track.board || []);
  const shared = new SharedVideo(started.getTime(), track.youtubeApi || '');
  const view = new PdfView($('doc-canvas'), $('doc-box'));
  const canvas = $('board-canvas');
  const ctx = canvas.getContext('2d');
  $('sound').addEventListener('click', () => shared.follower && shared.follower.unmute());
  if (stage.length || (track.board || []).length) {
    $('main').classList.remove('no-stage');
    $('stage').hidden = false;
  }
  let docKey = '';
  let boardKey = '';

  function tick() {
    const time = rec.currentTime || 0;
    const i = lastAt(stage, time);
    const st = i >= 0 ? stage[i].stage : null;
    let item = null;
    if (st && st.board && st.board.shown) item = 'board';
    else if (st && st.player && st.player.source) item = 'player';
    else if (st && st.doc && st.doc.file) item = 'doc';
    showItem(item);
    R.item = item;
    if (item === 'doc') {
      const d = st.doc;
      const key = `${d.file.url}|${d.page}|${d.zoom}`;
      if (key !== docKey) {
        docKey = key;
        R.doc = { file: d.file.id, page: d.page, zoom: d.zoom, drawn: null };
        view.show(d.file.url, d.page, d.zoom).then((n) => {
          if (n === null || docKey !== key) return;
          R.doc.drawn = n;
          $('doc-bar').textContent = t('replay.page', { n, count: view.pages });
        }).catch((e) => { R.error = `pdf: ${e.message || e}`; });
      }
    } else {
      docKey = '';
      R.doc = null;
    }
    if (item === 'player') {
      shared.show(st.player);
      shared.tick();
      const a = shared.follower && shared.follower.a;
      R.shared = { source: st.player.source, want: shared.want(), time: a && a.ready() ? a.currentTime() : null };
    } else if (shared.key) {
      shared.hide();
      R.shared = null;
    }
    const changed = board.to(time);
    if (item === 'board') {
      const pg = Math.min(st.board.page || 0, Math.max(0, board.pageCount() - 1));
      const key = `${pg}`;
      if (changed || key !== boardKey) {
        boardKey = key;
        const shapes = board.shapes(pg);
        drawPage(ctx, shapes);
        R.board = { page: pg, shapes: shapes.length, steps: board.applied };
        $('board-bar').textContent = t('replay.board', { n: pg + 1 });
      }
    } else {
      boardKey = '';
      R.board = null;
    }
  }
  setInterval(tick, TICK_MS);
  tick();
  R.ready = true;
}

main().catch((e) => { R.error = String(e && e.message || e); });
