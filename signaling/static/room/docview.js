// The document on the stage (issue 17, R-MEDIA-8): the Present panel's Document part for the host and presenters
// (the room's documents, an upload into the room, "Show"), and the viewer everyone sees: /static/pdfview.js
// (pdf.js) draws the page the presenter chose, fitted to the stage and scaled by their zoom; the presenter's bar turns pages, zooms, lets attendees browse on their own, and stops. The PDF
// is read with the person's join token, in ranges (a large file shows its first page before the rest arrives).
import { errorText, t } from '/static/i18n.js';
import { PdfView } from '/static/pdfview.js';
import { openBoard } from './board.js';
import { $, el, show, toast } from './dom.js';
import { page, S } from './state.js';

S.doc = { shown: false, name: null, page: null, pages: null, zoom: 1, free: false, own: false, rendered: 0, error: null };

let view = null;         // the PdfView of the stage (made on first use)
let ownPage = null;      // an attendee browsing on their own while `free` is on
let boardShown = false;  // the staff's board on the stage, as this page last followed it
let relist = null;       // the Present panel's next look at documents still converting
let drawn = '';          // what was drawn last (renderAll runs often: a page is drawn again only when it changed)

const staff = () => S.role === 'host' || S.role === 'presenter';
const current = () => (page.client ? page.client.interaction.doc : null);
const client = () => page.client;

/** Draw page `n` of the document at `zoom` (1: the page fits the stage). */
async function draw(d, n, zoom) {
  view = view || new PdfView($('#doc-canvas'), $('#doc-view'), () => ({ Authorization: `Bearer ${S.joinToken}` }));
  try {
    const pageNo = await view.show(d.file.url, n, zoom);
    if (pageNo === null) return;
    Object.assign(S.doc, { page: pageNo, pages: view.pages, error: null });
    S.doc.rendered += 1;
    $('#doc-page').textContent = t('doc.pageOf', { n: pageNo, of: view.pages });
  } catch (e) {
    drawn = '';
    S.doc.error = String((e && e.name) || e);
    $('#doc-page').textContent = t('doc.cannotShow');
  }
}

/** The board on everyone's stage (issue 17): opened (or closed) on this page when the staff show (or take off)
 *  the board; in between, each person may open or close it for themselves (the toolbar's Whiteboard). */
function followBoard() {
  const b = page.client ? page.client.interaction.board : null;
  const shown = !!(b && b.shown);
  show($('#present-board'), !shown);
  show($('#present-board-off'), shown);
  if (shown !== boardShown) {
    boardShown = shown;
    openBoard(shown);
  }
}

/** The document's part of renderAll and of each 'doc' event. */
export function renderDoc() {
  followBoard();
  const d = current();
  S.doc.shown = !!d;
  document.body.classList.toggle('presenting-doc', !!d);
  show($('#doc-view'), !!d);
  if (!d) {
    drawn = '';
    if (view) view.close();
    ownPage = null;
    Object.assign(S.doc, { name: null, page: null, pages: null, free: false, own: false });
    return;
  }
  if (!d.free) ownPage = null;
  Object.assign(S.doc, { name: d.file.name, zoom: d.zoom, free: d.free, own: ownPage !== null });
  const lead = staff();
  show($('#doc-staff'), lead);
  show($('#doc-browse'), !lead && d.free);
  show($('#doc-follow'), !lead && ownPage !== null);
  const free = $('#doc-free');
  free.checked = !!d.free;
  $('#doc-name').textContent = String(d.file.name || '');
  const box = $('#doc-view');
  const key = [d.file.url, ownPage ?? d.page, d.zoom, box.clientWidth, box.clientHeight].join('|');
  if (key === drawn) return;
  drawn = key;
  draw(d, ownPage ?? d.page, d.zoom);
}

function pages() { return S.doc.pages || (current() && current().file.pages) || 1; }

async function act(fn) {
  try { await fn(); } catch (e) { toast(errorText(e.code, e.message), 'error'); }
}

function turn(step) {
  const d = current();
  if (!d) return;
  if (staff()) {
    const n = Math.max(1, Math.min(pages(), d.page + step));
    if (n !== d.page) act(() => client().documentPage(n));
  } else if (d.free) {   // an attendee's own browsing: nothing is sent
    ownPage = Math.max(1, Math.min(pages(), (ownPage ?? d.page) + step));
    renderDoc();
  }
}

function zoomBy(factor) {
  const d = current();
  if (d && staff()) act(() => client().documentZoom(Math.max(0.25, Math.min(4, Math.round(d.zoom * factor * 100) / 100))));
}

// ---- the Present panel's documents (the host and presenters) ----

async function request(url, options = {}) {
  const r = await fetch(url, { ...options, headers: { Authorization: `Bearer ${S.joinToken}`, ...(options.headers || {}) } });
  if (!r.ok) {
    let body = {};
    try { body = await r.json(); } catch { /* not JSON */ }
    const err = new Error((body.error && body.error.message) || r.statusText);
    err.code = body.error && body.error.code;
    throw err;
  }
  return r;
}
const roomUrl = (path) => `/api/v1/rooms/${encodeURIComponent(S.roomId)}${path}`;

// each file of the room's list says its kind (the server's: pdf, document, video, image, other)
const isDocument = (f) => f.kind === 'pdf' || f.kind === 'document';

/** The room's documents in the Present panel, each with "Show". */
export async function listDocuments() {
  const ul = $('#present-files');
  try {
    const list = await (await request(roomUrl('/files?limit=100'))).json();
    const docs = list.items.filter(isDocument);
    // each with its conversion's state (R-FILE-4's office files are converted to PDF when uploaded)
    const states = await Promise.all(docs.map((f) => request(roomUrl(`/files/${f.id}/document`))
      .then((r) => r.json()).catch((e) => ({ status: 'failed', error: { message: e.message } }))));
    ul.replaceChildren(...docs.map((f, i) => {
      const st = states[i];
      const ready = st.status === 'ready' || (st.status === 'converting' && st.pages > 0);
      const note = st.status === 'failed' ? String((st.error && st.error.message) || t('doc.cannotShow'))
        : ready ? '' : t('doc.converting');
      return el('li', { dataset: { id: f.id, status: st.status } },
        el('span', { class: 'pname' }, String(f.name)), note ? el('small', { class: 'muted' }, note) : null,
        el('button', { type: 'button', class: 'small primary', disabled: !ready, dataset: { showDoc: f.id } }, t('doc.show')));
    }));
    show($('#present-none'), docs.length === 0);
    clearTimeout(relist);   // while one converts and the panel is open, look again in a moment
    if (states.some((st) => st.status === 'converting') && page.openPanel === 'present') relist = setTimeout(listDocuments, 1500);
  } catch (e) {
    presentError(e);
  }
}

/** The account's library documents and videos, each with "Bring into the room" (issue 17). */
async function listLibrary() {
  try {
    const list = await (await request(roomUrl('/library?limit=100'))).json();
    $('#present-library-files').replaceChildren(...list.items.map((f) => el('li', { dataset: { id: f.id } },
      el('span', { class: 'pname' }, String(f.name)),
      el('button', { type: 'button', class: 'small', dataset: { attach: f.id } }, t('present.bring')))));
  } catch (e) {
    presentError(e);
  }
}

function presentError(e) {
  const p = $('#present-error');
  p.textContent = e ? errorText(e.code, e.message) : '';
  show(p, !!e);
}

/** A file chosen by the presenter goes into the room (tus: create, then the bytes in one PATCH). */
async function uploadDocument(file) {
  presentError(null);
  try {
    const meta = `filename ${btoa(String.fromCharCode(...new TextEncoder().encode(file.name)))}`;
    const created = await request(roomUrl('/uploads'), { method: 'POST', headers: {
      'Tus-Resumable': '1.0.0', 'Upload-Length': String(file.size), 'Upload-Metadata': meta } });
    await request(new URL(created.headers.get('Location'), location.href).href, { method: 'PATCH', body: file,
      headers: { 'Tus-Resumable': '1.0.0', 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' } });
    await listDocuments();
  } catch (e) { presentError(e); }
}

export function bindDocuments() {
  $('#present-files').addEventListener('click', (e) => {
    const b = e.target.closest('button[data-show-doc]');
    if (b) act(async () => { presentError(null); await client().showDocument(Number(b.dataset.showDoc)); });
  });
  $('#present-library').addEventListener('toggle', () => { if ($('#present-library').open) listLibrary(); });
  $('#present-library-files').addEventListener('click', (e) => {
    const b = e.target.closest('button[data-attach]');
    if (!b) return;
    act(async () => {
      presentError(null);
      try {
        await request(roomUrl('/files'), { method: 'POST', headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ fileId: Number(b.dataset.attach) }) });
      } catch (err) {
        if (err.code !== 'already_in_room') throw err;   // brought in meanwhile (another presenter, a double click)
      }
      await Promise.all([listDocuments(), listLibrary()]);
    });
  });
  $('#present-upload').addEventListener('change', (e) => {
    const f = e.target.files && e.target.files[0];
    if (f) uploadDocument(f);
    e.target.value = '';
  });
  $('#doc-prev').addEventListener('click', () => turn(-1));
  $('#doc-next').addEventListener('click', () => turn(1));
  $('#doc-own-prev').addEventListener('click', () => turn(-1));
  $('#doc-own-next').addEventListener('click', () => turn(1));
  $('#doc-zoom-in').addEventListener('click', () => zoomBy(1.25));
  $('#doc-zoom-out').addEventListener('click', () => zoomBy(0.8));
  $('#doc-free').addEventListener('change', (e) => act(() => client().documentFree(e.target.checked)));
  $('#doc-stop').addEventListener('click', () => act(() => client().stopDocument()));
  $('#present-board').addEventListener('click', () => act(() => client().showBoard(true)));
  $('#present-board-off').addEventListener('click', () => act(() => client().showBoard(false)));
  $('#doc-follow').addEventListener('click', () => { ownPage = null; renderDoc(); });
  window.addEventListener('resize', () => { if (current()) renderDoc(); });
}
