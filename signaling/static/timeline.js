// R-ROOM-4 "automated", R-AUTO-1: an automated event's timeline, played in the room page of an admitted person.
// POST /api/v1/public/events/{roomId}/timeline (with the room join token) gives the session's start, the server's
// time and the components with signed /play URLs of their files. Everyone is at the same position, now minus the
// session's start (the browser's clock corrected by the server's): whoever comes late comes in mid-way, as into a
// live webinar, and nobody seeks or pauses (the player has no controls and goes back to the common position when
// it drifts). A video or recording plays on the stage, a presentation shows its slide (an image) or PDF; a poll's
// question, a slide's text or a call to action without a link shows over it (one with a link is the room's own
// call to action, shown by the server). When the timeline has played, onEnd() is called (the
// room page then shows the thank-you screen and redirect, R-STAT-3).

import { PdfView } from '/static/pdfview.js';

const TICK_MS = 250;
const REFRESH_MS = 5 * 60 * 1000;       // new signed URLs well before the old ones expire
const DRIFT = 1.0;                      // seconds off the common position before jumping back to it

function node(tag, cls, attrs = {}) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.hidden = true;
  return e;
}

export class TimelinePlayer {
  constructor({ box, roomId, token, text = (k) => k, onEnd = () => {}, onChange = () => {} }) {
    Object.assign(this, { box, roomId, token, text, onEnd, onChange });
    this.data = null;
    this.offset = 0;
    this.startedAt = 0;
    this.current = null;          // key of the media item on the stage
    this.stopped = false;
    this.ended = false;
    this.state = { status: 'loading', position: null, length: null, component: null, currentTime: null,
      muted: false, cta: null, text: null, error: null, corrections: 0, page: null };
  }

  async start() {
    this.build();
    this.box.hidden = false;
    document.body.classList.add('automated');
    await this.refresh();
    if (this.stopped) return;
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.refresher = setInterval(() => this.refresh(), REFRESH_MS);
  }

  build() {
    const b = this.box;
    b.replaceChildren();
    this.video = node('video', 'auto-video', { playsinline: '' });
    this.video.controls = false;
    this.slide = node('img', 'auto-slide', { alt: '' });
    // a PDF presentation: drawn by pdf.js (/static/pdfview.js, as the room's documents), page 1 first; the
    // viewer turns its pages on their own (◀ ▶)
    this.doc = node('div', 'auto-doc');
    const canvas = document.createElement('canvas');
    const bar = document.createElement('div');
    bar.className = 'auto-doc-bar';
    this.docPrev = Object.assign(document.createElement('button'), { type: 'button', textContent: '◀', className: 'small' });
    this.docNext = Object.assign(document.createElement('button'), { type: 'button', textContent: '▶', className: 'small' });
    this.docPage = document.createElement('span');
    bar.append(this.docPrev, this.docNext, this.docPage);
    this.doc.append(canvas, bar);
    this.pdf = new PdfView(canvas, this.doc);
    this.docPrev.addEventListener('click', () => this.turn(-1));
    this.docNext.addEventListener('click', () => this.turn(1));
    this.caption = node('div', 'auto-text prewrap');
    this.cta = node('div', 'auto-cta');
    this.ctaText = document.createElement('p');
    this.cta.append(this.ctaText);
    this.unmute = node('button', 'auto-unmute primary', { type: 'button' });
    this.unmute.textContent = this.text('auto.unmute');
    this.unmute.addEventListener('click', () => { this.video.muted = false; this.unmute.hidden = true; });
    this.clock = node('div', 'auto-clock badge');
    this.clock.hidden = false;
    b.append(this.video, this.slide, this.doc, this.caption, this.cta, this.unmute, this.clock);
    // no pausing: a pause that is not the end of the video is undone at once
    this.video.addEventListener('pause', () => {
      if (!this.stopped && !this.video.ended && this.current && !this.video.hidden) this.play();
    });
    // a signed URL that ran out (or a network error): ask for new ones and carry on at the common position
    this.video.addEventListener('error', () => {
      if (this.stopped) return;
      this.current = null;
      this.refresh();
    });
    this.video.addEventListener('loadedmetadata', () => this.tick());
  }

  async refresh() {
    try {
      const t0 = Date.now();
      const r = await fetch(`/api/v1/public/events/${encodeURIComponent(this.roomId)}/timeline`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token: this.token }) });
      const t1 = Date.now();
      const data = await r.json();
      if (!r.ok) throw Object.assign(new Error(data.error ? data.error.message : `HTTP ${r.status}`), { code: data.error && data.error.code });
      this.offset = Date.parse(data.serverTime) - (t0 + t1) / 2;
      this.data = data;
      this.state.status = data.status;
      this.state.length = data.length;
      if (data.status === 'done' || data.status === 'failed') { this.finish(); return; }
      if (data.status !== 'live') {              // not started yet (the lobby opens with the start): ask again soon
        clearTimeout(this.retry);
        this.retry = setTimeout(() => this.refresh(), 2000);
        return;
      }
      this.startedAt = Date.parse(data.startedAt);
      this.tick();
    } catch (e) {
      this.state.error = e.code || e.message;
      console.warn('timeline:', e.code, e.message);
      clearTimeout(this.retry);
      if (!this.stopped) this.retry = setTimeout(() => this.refresh(), 3000);
    }
  }

  position() { return (Date.now() + this.offset - this.startedAt) / 1000; }

  play() {
    this.video.play().catch((e) => {
      if (e && e.name === 'NotAllowedError' && !this.video.muted) {
        // the browser allows only silent autoplay until the person clicks: play silently, offer the sound
        this.video.muted = true;
        this.unmute.hidden = false;
        this.video.play().catch(() => {});
      }
    });
  }

  tick() {
    if (this.stopped || !this.data || this.data.status !== 'live') return;
    const p = this.position();
    if (p >= this.data.length) { this.finish(); return; }
    const active = this.data.items.filter((i) => i.start <= p && p < i.start + i.duration);
    const media = [...active].reverse().find((i) => i.media);
    this.stage(media, p);
    // a call to action with a link is shown by the server through the room's call to action (its clicks are
    // counted, R-INT-4: mediaserver.events.clock); one without a link is only its text, shown here
    const cta = [...active].reverse().find((i) => i.component === 'call_to_action' && !/^https?:\/\//i.test(i.url || ''));
    this.cta.hidden = !cta;
    if (cta) this.ctaText.textContent = cta.text || '';
    const said = [...active].reverse().find((i) => (i.component === 'poll' || i.component === 'presentation') && i.text);
    this.caption.hidden = !said;
    if (said && this.caption.textContent !== said.text) this.caption.textContent = said.text;
    const fmt = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
    this.clock.textContent = `${this.text('auto.live')} · ${fmt(p)} / ${fmt(this.data.length)}`;
    Object.assign(this.state, { position: p, component: media ? media.component : null,
      currentTime: this.video.hidden ? null : this.video.currentTime, muted: this.video.muted,
      cta: cta ? cta.text || '' : null, text: said ? said.text : null });
    this.onChange(this.state);
  }

  stage(item, p) {
    const key = item ? `${item.component}:${item.start}:${item.media.name}` : null;
    const kind = item ? item.media.contentType : '';
    const isVideo = !!item && kind.startsWith('video/');
    if (key !== this.current) {
      this.current = key;
      this.video.hidden = !isVideo;
      this.slide.hidden = !(item && kind.startsWith('image/'));
      this.doc.hidden = !(item && kind === 'application/pdf');
      if (isVideo) {
        this.video.src = item.media.url;
        this.play();
      } else {
        this.video.pause();
        this.video.removeAttribute('src');
        this.video.load();
      }
      if (!this.slide.hidden) this.slide.src = item.media.url;
      if (!this.doc.hidden) this.showPage(item.media.url, 1);
      else this.pdf.close();
    }
    if (!isVideo || this.video.readyState < 1) return;
    const want = p - item.start;
    if (Number.isFinite(this.video.duration) && want >= this.video.duration) return;   // shorter than its slot
    if (!this.video.seeking && Math.abs(this.video.currentTime - want) > DRIFT) {
      this.video.currentTime = want;
      this.state.corrections += 1;
    }
    if (this.video.paused && !this.video.ended) this.play();
  }

  async showPage(url, n) {
    this.docUrl = url;
    try {
      const got = await this.pdf.show(url, n);
      if (got === null) return;
      this.state.page = got;
      this.docPage.textContent = this.text('doc.pageOf', { n: got, of: this.pdf.pages });
    } catch (e) {
      this.docPage.textContent = this.text('doc.cannotShow');
    }
  }

  turn(step) {
    if (!this.docUrl || !this.pdf.pages) return;
    const n = Math.max(1, Math.min(this.pdf.pages, (this.state.page || 1) + step));
    if (n !== this.state.page) this.showPage(this.docUrl, n);
  }

  finish() {
    if (this.ended) return;
    this.ended = true;
    this.state.status = 'done';
    this.onChange(this.state);
    this.stop();
    this.onEnd(this.data);
  }

  stop() {
    this.stopped = true;
    clearInterval(this.timer);
    clearInterval(this.refresher);
    clearTimeout(this.retry);
    if (this.video) { this.video.pause(); this.video.removeAttribute('src'); }
    if (this.pdf) this.pdf.close();
    this.box.hidden = true;
    document.body.classList.remove('automated');
  }
}
