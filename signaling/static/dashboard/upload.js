// A resumable upload into the file library through /api/v1/uploads (tus 1.0, R-FILE-1..4; docs/api.md "Files and
// resumable uploads"): POST makes the upload, then PATCHes send the file in chunks, each from the offset the
// server has. When a chunk fails (the network dropped, the server went away) nothing is sent again from the
// start: the upload asks the server (HEAD) how many bytes reached its disk and goes on from there, by itself a
// few times with a growing pause, then when the person presses Resume. The upload's address is kept in the
// browser (localStorage), so the same file chosen again after a reload goes on where it stopped too.

const TUS = { 'Tus-Resumable': '1.0.0' };
const CHUNK = 4 * 1024 * 1024;
const RETRIES = [1000, 2000, 4000, 8000];   // the pauses before each automatic resume
const KEPT = 'lib.upload';                    // localStorage: the unfinished upload of a file

/** An error the server answered with (its code and message), or a dropped connection (code 'network'). */
class UploadError extends Error {
  constructor(code, message, status) { super(message); this.code = code; this.status = status; }
}

async function failure(resp) {
  const data = await resp.json().catch(() => null);
  const e = data && data.error;
  return new UploadError(e ? e.code : 'http', e ? e.message : `HTTP ${resp.status}`, resp.status);
}

/** The file name as tus metadata: base64 of its UTF-8. */
function meta(name) {
  const bytes = new TextEncoder().encode(name);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return 'filename ' + btoa(bin);
}

const sameFile = (kept, file) => kept && kept.name === file.name && kept.size === file.size
  && kept.lastModified === file.lastModified;

/**
 * One file's upload. ``on`` has callbacks: progress(sent, total), state(name, details) with name among
 * 'starting', 'uploading', 'interrupted' ({at, retryIn}), 'resumed' ({from}), 'stalled' (waiting for Resume),
 * 'done', 'failed' ({error}), 'cancelled'.
 */
export class ResumableUpload {
  constructor(file, on) {
    this.file = file; this.on = on; this.url = null; this.offset = 0;
    this.xhr = null; this.stopped = false; this.running = false;
  }

  /** Make the upload on the server (or find this file's unfinished one) and send it. */
  async start() {
    this.on.state('starting', {});
    const kept = JSON.parse(localStorage.getItem(KEPT) || 'null');
    if (sameFile(kept, this.file)) {
      try {
        this.url = kept.url;
        await this.head();
        this.on.state('resumed', { from: this.offset });
        return await this.send();
      } catch (e) {
        if (e.code === 'network') { this.url = kept.url; return this.interrupted(e, 0); }
        this.url = null; localStorage.removeItem(KEPT);   // swept or finished meanwhile: a new upload
      }
    }
    const resp = await fetch('/api/v1/uploads', {
      method: 'POST', credentials: 'same-origin',
      headers: { ...TUS, 'Upload-Length': String(this.file.size), 'Upload-Metadata': meta(this.file.name) },
    }).catch(() => { throw new UploadError('network', 'network'); });
    if (resp.status !== 201) throw await failure(resp);
    this.url = new URL(resp.headers.get('Location'), location.href).pathname;   // same origin, whatever host
    this.offset = 0;
    localStorage.setItem(KEPT, JSON.stringify({
      url: this.url, name: this.file.name, size: this.file.size, lastModified: this.file.lastModified,
    }));
    return this.send();
  }

  /** The server's offset of this upload. */
  async head() {
    const resp = await fetch(this.url, { method: 'HEAD', credentials: 'same-origin', headers: TUS, cache: 'no-store' })
      .catch(() => { throw new UploadError('network', 'network'); });
    if (resp.status !== 200) {
      // HEAD has no body: name the usual answers
      const code = resp.status === 410 ? 'upload_expired' : resp.status === 404 ? 'not_found' : 'http';
      throw new UploadError(code, `HTTP ${resp.status}`, resp.status);
    }
    this.offset = Number(resp.headers.get('Upload-Offset'));
    this.on.progress(this.offset, this.file.size);
  }

  /** Send the rest in chunks; a dropped chunk leads to interrupted(). */
  async send() {
    this.running = true;
    try {
      while (this.offset < this.file.size && !this.stopped) {
        try {
          this.on.state('uploading', {});
          this.offset = await this.patch(this.offset);
          this.failures = 0; this.conflicts = 0;
        } catch (e) {
          if (this.stopped) return;
          if (e.code === 'network') return this.interrupted(e);
          if ((e.code === 'offset_mismatch' || e.code === 'upload_busy') && (this.conflicts = (this.conflicts || 0) + 1) <= 40) {
            // the server holds another offset (a cut-off chunk kept part of its bytes) or still winds the cut
            // request up: ask it, then go on from its offset (not forever: 40 times, about 20 s)
            await new Promise((r) => setTimeout(r, this.conflicts > 1 ? 500 : 0));
            try { await this.head(); } catch (h) { if (h.code === 'network') return this.interrupted(h); throw h; }
            continue;
          }
          throw e;
        }
      }
      if (!this.stopped) {
        localStorage.removeItem(KEPT);
        this.on.progress(this.file.size, this.file.size);
        this.on.state('done', {});
      }
    } catch (e) {
      if (e.code === 'upload_expired' || e.code === 'not_found') localStorage.removeItem(KEPT);
      this.on.state('failed', { error: e });
    } finally { this.running = false; }
  }

  /** One PATCH of the chunk from ``offset`` (XHR for the progress within it); the server's new offset. */
  patch(offset) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      this.xhr = xhr;
      xhr.open('PATCH', this.url);
      xhr.setRequestHeader('Tus-Resumable', '1.0.0');
      xhr.setRequestHeader('Upload-Offset', String(offset));
      xhr.setRequestHeader('Content-Type', 'application/offset+octet-stream');
      xhr.upload.onprogress = (ev) => this.on.progress(offset + ev.loaded, this.file.size);
      xhr.onerror = () => reject(new UploadError('network', 'network'));
      xhr.onabort = () => reject(new UploadError('aborted', 'aborted'));
      xhr.onload = () => {
        this.xhr = null;
        if (xhr.status === 204) { resolve(Number(xhr.getResponseHeader('Upload-Offset'))); return; }
        let e = null;
        try { e = JSON.parse(xhr.responseText).error; } catch (err) { /* not JSON */ }
        reject(new UploadError(e ? e.code : 'http', e ? e.message : `HTTP ${xhr.status}`, xhr.status));
      };
      xhr.send(this.file.slice(offset, Math.min(offset + CHUNK, this.file.size)));
    });
  }

  /** The connection dropped: ask the server where it stands and go on from there, a few times by itself. */
  async interrupted(error, attempt = (this.failures || 0)) {
    this.running = false;
    this.failures = attempt + 1;
    if (attempt >= RETRIES.length) { this.on.state('stalled', { at: this.offset }); return; }
    this.on.state('interrupted', { at: this.offset, retryIn: RETRIES[attempt] });
    await new Promise((r) => { this.timer = setTimeout(r, RETRIES[attempt]); });
    if (this.stopped) return;
    await this.resume(attempt + 1);
  }

  /** Go on from the server's offset (after an interruption; also the Resume button). */
  async resume(attempt = 0) {
    if (this.running || this.stopped) return;
    clearTimeout(this.timer);
    this.failures = attempt;
    try {
      await this.head();
    } catch (e) {
      if (e.code === 'network') return this.interrupted(e, attempt);
      if (e.code === 'upload_expired' || e.code === 'not_found') localStorage.removeItem(KEPT);
      this.on.state('failed', { error: e });
      return;
    }
    this.on.state('resumed', { from: this.offset });
    return this.send();
  }

  /** Stop and give the reserved space back (DELETE: tus termination). */
  async cancel() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.xhr) this.xhr.abort();
    localStorage.removeItem(KEPT);
    if (this.url) {
      // the aborted request may still hold the upload for a moment (409 upload_busy)
      for (let i = 0; i < 10; i++) {
        const resp = await fetch(this.url, { method: 'DELETE', credentials: 'same-origin', headers: TUS }).catch(() => null);
        if (!resp || resp.status !== 409) break;
        await new Promise((r) => setTimeout(r, 300));
      }
    }
    this.on.state('cancelled', {});
  }
}
