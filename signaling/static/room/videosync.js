// The shared player's engine (issue 17 item 2): two adapters with one interface over a <video> of a library
// file and over YouTube's IFrame API (YT.Player), and the Follower, which keeps an adapter where the room's
// player state says the video is on the server's clock: more than `seekOver` seconds off (1 s; YouTube 0.25 s)
// it seeks, ahead by a lead learnt from where its seeks land; below that it plays a little faster or slower (up
// to ±10 %, the <video> only: YouTube plays a few fixed rates) until it is within 0.1 s again; paused, it stands
// on the state's position. A browser that refuses to play with
// sound before a click plays muted and says so (onBlocked), for the page's "Turn the sound on".

const FINE = 0.1;          // seconds: within this, nothing is corrected
const SETTLED = 0.03;      // a rate correction runs until this close
const MAX_ADJUST = 0.1;    // the most a rate correction changes the rate (10 %)
const PLAY_RETRY_MS = 1500;

/** A library video in a <video> element (streamed from its signed /play URL with Range requests). */
export class HtmlVideo {
  constructor(video, url) {
    this.kind = 'file';
    this.v = video;
    this.fineRate = true;
    this.seekOver = 1.0;
    video.preload = 'auto';
    video.playsInline = true;
    video.src = url;
  }
  ready() { return this.v.readyState >= 1; }
  currentTime() { return this.v.currentTime; }
  duration() { return this.v.duration; }
  paused() { return this.v.paused; }
  seeking() { return this.v.seeking; }
  play() { return this.v.play(); }
  pause() { this.v.pause(); }
  seek(t) { this.v.currentTime = t; }
  rate() { return this.v.playbackRate; }
  setRate(r) { this.v.playbackRate = r; }
  muted() { return this.v.muted; }
  setMuted(m) { this.v.muted = m; }
  destroy() { this.v.pause(); this.v.removeAttribute('src'); this.v.load(); }
}

let ytLoading = null;

/** YouTube's IFrame API from `url` (the server's youtube_api setting), loaded once; resolves window.YT. */
export function loadYouTubeApi(url) {
  if (window.YT && window.YT.Player) return Promise.resolve(window.YT);
  if (!ytLoading) {
    ytLoading = new Promise((resolve, reject) => {
      const before = window.onYouTubeIframeAPIReady;
      window.onYouTubeIframeAPIReady = () => { if (typeof before === 'function') before(); resolve(window.YT); };
      const s = document.createElement('script');
      s.src = url;
      s.async = true;
      s.onerror = () => { ytLoading = null; reject(Object.assign(new Error('the YouTube API did not load'), { code: 'youtube_api' })); };
      document.head.append(s);
    });
  }
  return ytLoading;
}

/** A YouTube video through YT.Player: loadVideoById/cueVideoById, playVideo, pauseVideo, seekTo,
 * getCurrentTime, getDuration, getPlayerState, setPlaybackRate, mute, unMute, isMuted, destroy. */
export class YouTubeVideo {
  constructor(YT, box, id) {
    this.kind = 'youtube';
    this.fineRate = false;     // YouTube plays 0.25, 0.5 ... 2 only: drift is corrected by seeking
    this.seekOver = 0.25;   // with the lead learnt from each landing, a seek lands within a few hundredths
    this.isReady = false;
    this.buffering = false;
    const el = document.createElement('div');
    box.append(el);
    this.p = new YT.Player(el, {
      width: '100%', height: '100%', videoId: id,
      playerVars: { controls: 0, disablekb: 1, playsinline: 1, rel: 0, modestbranding: 1, autoplay: 0 },
      events: {
        onReady: () => { this.isReady = true; },
        onStateChange: (e) => { this.buffering = e.data === 3; },
      },
    });
  }
  ready() { return this.isReady; }
  currentTime() { return this.p.getCurrentTime(); }
  duration() { return this.p.getDuration() || NaN; }
  paused() { const s = this.p.getPlayerState(); return s !== 1 && s !== 3; }   // PLAYING, BUFFERING
  seeking() { return this.buffering; }
  play() { this.p.playVideo(); return Promise.resolve(); }
  pause() { this.p.pauseVideo(); }
  seek(t) { this.p.seekTo(t, true); }
  rate() { return this.p.getPlaybackRate(); }
  setRate(r) { this.p.setPlaybackRate(r); }
  muted() { return this.p.isMuted(); }
  setMuted(m) { if (m) this.p.mute(); else this.p.unMute(); }
  destroy() { try { this.p.destroy(); } catch { /* gone */ } }
}

/** Keeps `adapter` at `want()` seconds (null: nothing) under `state()` ({playing, rate}). */
export class Follower {
  constructor(adapter, { state, want, onBlocked = () => {} }) {
    Object.assign(this, { a: adapter, state, want, onBlocked });
    this.adjusting = false;
    this.seekLead = 0.1;       // seconds a seek while playing lands ahead (learnt from where seeks land)
    this.seekAt = null;        // performance.now() of the seek under way
    this.landing = false;      // a seek just finished: the next playing tick sees where it landed
    this.playAt = 0;
    this.tries = 0;
    this.corrections = 0;
    this.blocked = false;
    this.diff = null;
  }

  setRate(r) { if (Math.abs(this.a.rate() - r) > 1e-3) this.a.setRate(r); }

  play() {
    const now = performance.now();
    if (now - this.playAt < PLAY_RETRY_MS) return;
    this.playAt = now;
    this.tries += 1;
    // YouTube says nothing when it refuses to play with sound: a second attempt that did not play is a refusal
    if (this.a.kind === 'youtube' && this.tries >= 2 && !this.a.muted()) { this.mute(); return; }
    this.a.play().catch((e) => {
      if (e && e.name === 'NotAllowedError' && !this.a.muted()) this.mute();
    });
  }

  mute() {
    this.a.setMuted(true);
    this.blocked = true;
    this.playAt = 0;
    this.onBlocked(true);
    this.a.play().catch(() => {});
  }

  /** The person clicked "Turn the sound on": a click lets the page play with sound. */
  unmute() {
    this.a.setMuted(false);
    this.blocked = false;
    this.onBlocked(false);
    if (this.state().playing) this.a.play().catch(() => {});
  }

  tick() {
    const a = this.a;
    const st = this.state();
    let target = this.want();
    if (!st || target === null || !a.ready()) return;
    if (a.seeking()) return;
    if (this.seekAt !== null) { this.seekAt = null; this.landing = true; }   // the seek is done
    const dur = a.duration();
    const end = Number.isFinite(dur) && dur > 0 ? Math.max(0, dur - 0.05) : Infinity;
    target = Math.min(target, end);
    const diff = a.currentTime() - target;
    this.diff = diff;
    if (!st.playing || target >= end) {
      if (!a.paused()) a.pause();
      this.setRate(st.rate);
      this.adjusting = false;
      this.playAt = 0;
      this.tries = 0;
      this.landing = false;
      if (Math.abs(diff) > 0.04) { a.seek(target); this.seekAt = null; }
      return;
    }
    if (a.paused()) {
      // starting is the moment to be exact: from where it will be once it plays (not only beyond seekOver)
      if (Math.abs(diff) > FINE && this.playAt === 0) {
        a.seek(Math.min(end, target + this.seekLead * st.rate));
        this.seekAt = performance.now();
      }
      this.play();
      return;
    }
    this.playAt = 0;
    this.tries = 0;
    if (this.landing) {   // playing again after a seek: how far off it landed corrects the next seek's lead
      this.landing = false;
      this.seekLead = Math.max(0, Math.min(0.5, this.seekLead - diff));
    }
    if (Math.abs(diff) > a.seekOver) {
      this.adjusting = false;
      this.setRate(st.rate);
      a.seek(Math.min(end, target + this.seekLead * st.rate));
      this.seekAt = performance.now();
      this.corrections += 1;
    } else if (a.fineRate && (Math.abs(diff) > FINE || (this.adjusting && Math.abs(diff) > SETTLED))) {
      this.adjusting = true;
      const k = Math.max(-MAX_ADJUST, Math.min(MAX_ADJUST, -diff * 0.5));
      this.setRate(st.rate * (1 + k));
    } else if (this.adjusting || Math.abs(a.rate() - st.rate) > 1e-3) {
      this.adjusting = false;
      this.setRate(st.rate);
    }
  }

  destroy() { this.a.destroy(); }
}
