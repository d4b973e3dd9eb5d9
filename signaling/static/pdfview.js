// One PDF drawn on a canvas a page at a time with pdf.js (vendored under /static/vendor/pdfjs, loaded on first
// use; the file is read in ranges, so a large one shows its first page before the rest has arrived). The room's
// document on the stage (room/docview.js) and an automated timeline's presentation (timeline.js) both use it.
const PDFJS = '/static/vendor/pdfjs/pdf.min.mjs';
const WORKER = '/static/vendor/pdfjs/pdf.worker.min.mjs';
const BAR = 48;   // px of the box kept for a bar under the page

let pdfjs = null;
async function library() {
  if (!pdfjs) {
    pdfjs = await import(PDFJS);
    pdfjs.GlobalWorkerOptions.workerSrc = WORKER;
  }
  return pdfjs;
}

export class PdfView {
  /** `canvas`: where pages are drawn; `box`: what they fit in; `headers`: sent with the file's requests. */
  constructor(canvas, box, headers = () => ({})) {
    Object.assign(this, { canvas, box, headers });
    this.loaded = null;   // {url, task: pdf.js's loading task, doc}
    this.drawing = 0;     // the newest draw: older ones stop when they see it changed
    this.pages = null;
  }

  async open(url) {
    if (this.loaded && this.loaded.url === url) return this.loaded.doc;
    const lib = await library();
    const task = lib.getDocument({ url, httpHeaders: this.headers(), isEvalSupported: false,
      disableAutoFetch: true, rangeChunkSize: 65536 });
    const doc = await task.promise;
    if (this.loaded) this.loaded.task.destroy();
    this.loaded = { url, task, doc };
    return doc;
  }

  /** Draw page `n` (clamped to the document) at `zoom` (1: the page fits the box); resolves the page drawn,
   *  or null when a newer draw took over. */
  async show(url, n, zoom = 1) {
    const mine = ++this.drawing;
    const doc = await this.open(url);
    if (mine !== this.drawing) return null;
    this.pages = doc.numPages;
    const pageNo = Math.max(1, Math.min(n, doc.numPages));
    const pg = await doc.getPage(pageNo);
    if (mine !== this.drawing) return null;
    const base = pg.getViewport({ scale: 1 });
    const fit = Math.min((this.box.clientWidth || 640) / base.width, ((this.box.clientHeight || 480) - BAR) / base.height);
    const dpr = window.devicePixelRatio || 1;
    const vp = pg.getViewport({ scale: Math.max(0.05, fit * zoom) * dpr });
    const c = this.canvas;
    c.width = Math.ceil(vp.width);
    c.height = Math.ceil(vp.height);
    c.style.width = `${Math.ceil(vp.width / dpr)}px`;
    c.style.height = `${Math.ceil(vp.height / dpr)}px`;
    await pg.render({ canvasContext: c.getContext('2d'), viewport: vp }).promise;
    return mine === this.drawing ? pageNo : null;
  }

  close() {
    this.drawing += 1;
    if (this.loaded) { this.loaded.task.destroy(); this.loaded = null; }
    this.pages = null;
  }
}
