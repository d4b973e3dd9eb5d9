// The room's whiteboard (issue 17, R-INT-5) over a MediaserverClient: a Yjs document kept in step with the
// server's (pycrdt). Local changes are sent as Yjs updates (base64, merged, at most every SEND_MS); the
// server sends everyone's accepted updates once a tick ('board' events); an update the server refuses makes
// this copy start again from the server's state ('refused' then 'reset'). Schema (docs/signaling.md, "The
// whiteboard"): the root Y.Array 'pages', each page a Y.Array of shapes, each shape a Y.Map {id, type, color,
// width, points: Y.Array of numbers x0, y0, x1, y1 ... in BOARD_WIDTH x BOARD_HEIGHT units, text, by}.
//
//   import { Whiteboard } from '/sdk/board.js';
//   const board = new Whiteboard(client);          // right after join; board.doc is the Y.Doc
//   board.addEventListener('change', () => draw(board.shapes(0)));
//   const id = board.add(0, { type: 'pen', color: '#d03030', width: 4, points: [10, 10] });
//   board.extend(0, id, [20, 25, 30, 40]); board.undo();
import * as Y from '/static/vendor/yjs/yjs.js';

export { Y };
export const BOARD_WIDTH = 1600;
export const BOARD_HEIGHT = 900;
export const SHAPES = ['pen', 'line', 'rect', 'ellipse', 'arrow', 'text', 'note'];
export const COLORS = ['#1f1f1f', '#d03030', '#2b6cd4', '#2f9e44', '#f08c00', '#7048e8', '#ffffff'];
const SEND_MS = 40;
const REMOTE = 'remote';          // the origin of what the server sent (never sent back, never undone)

export function toBase64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function fromBase64(text) {
  const s = atob(text || '');
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

let counter = 0;
function newId() {
  counter += 1;
  return `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}${counter}`;
}

export class Whiteboard extends EventTarget {
  /** `client`: a joined MediaserverClient. Events: 'change' {local} (the document changed), 'refused'
   * {error} (the server refused this page's change; the board starts again from the server's), 'reset',
   * 'collaboration' {on}, 'page' {page} (the staff turned everyone's board to this page). */
  constructor(client) {
    super();
    this.client = client;
    this.local = { local: true };   // the origin of this page's own changes (the undo manager tracks it)
    this._pending = [];
    this._timer = null;
    this._sending = Promise.resolve();
    this._load(client.interaction.board || {});
    Object.assign(client.interaction.board, { keep: false, updates: [] });   // this copy takes them from now on
    client.addEventListener('board', (e) => {
      Y.applyUpdate(this.doc, fromBase64(e.detail.update), REMOTE);
    });
    client.addEventListener('boardPage', (e) => {
      this.dispatchEvent(new CustomEvent('page', { detail: { page: e.detail.page } }));
    });
    client.addEventListener('boardCollaboration', (e) => {
      this.dispatchEvent(new CustomEvent('collaboration', { detail: { on: !!e.detail.on } }));
    });
    // a new snapshot (admitted from the waiting room, reconnected): start again from it
    for (const name of ['admitted', 'reconnected']) {
      client.addEventListener(name, () => {
        this._load(client.interaction.board || {});
        Object.assign(client.interaction.board, { keep: false, updates: [] });
      });
    }
  }

  _load(snapshot) {
    if (this.doc) this.doc.destroy();
    this._pending = [];
    this.doc = new Y.Doc();
    if (snapshot.update) Y.applyUpdate(this.doc, fromBase64(snapshot.update), REMOTE);
    for (const u of snapshot.updates || []) Y.applyUpdate(this.doc, fromBase64(u), REMOTE);
    this.pages = this.doc.getArray('pages');
    this.undoManager = new Y.UndoManager(this.pages, { trackedOrigins: new Set([this.local]), captureTimeout: 300 });
    this.doc.on('update', (update, origin) => {
      if (origin !== REMOTE) this._queue(update);
      this.dispatchEvent(new CustomEvent('change', { detail: { local: origin !== REMOTE } }));
    });
    this.dispatchEvent(new CustomEvent('reset'));
    this.dispatchEvent(new CustomEvent('change', { detail: { local: false } }));
  }

  /** Whether this participant may draw now (the server decides anyway): the host and presenters; attendees
   * while collaboration is on; never from a phone or tablet (R-INT-5). */
  canDraw() {
    const self = this.client.participant || {};
    if (self.device === 'mobile' || this.client.device === 'mobile') return false;
    return self.role === 'host' || self.role === 'presenter' || this.collaboration;
  }

  get collaboration() { return !!(this.client.interaction.board || {}).collaboration; }

  get selfId() { return (this.client.participant || {}).id || ''; }

  /** The shapes of page `page` as plain objects, in drawing order. */
  shapes(page) {
    const p = this.pages.get(page);
    return p ? p.toJSON() : [];
  }

  pageCount() { return this.pages.length; }

  _page(page) {
    const p = this.pages.get(page);
    if (!p) throw new RangeError(`no page ${page}`);
    return p;
  }

  /** Add a shape {type, color, width, points, text?} to page `page`; returns its id. */
  add(page, shape) {
    const id = newId();
    this.doc.transact(() => {
      const m = new Y.Map();
      m.set('id', id);
      m.set('type', shape.type);
      m.set('color', shape.color || '#1f1f1f');
      m.set('width', shape.width || 4);
      m.set('by', this.selfId);
      if (shape.text !== undefined) m.set('text', String(shape.text));
      const pts = new Y.Array();
      pts.push((shape.points || []).map(Number));
      m.set('points', pts);
      this._page(page).push([m]);
    }, this.local);
    return id;
  }

  _find(page, id) {
    const p = this._page(page);
    for (let i = 0; i < p.length; i++) if (p.get(i).get('id') === id) return [p, i];
    return [p, -1];
  }

  /** Add points to a pen stroke as it is drawn. */
  extend(page, id, points) {
    const [p, i] = this._find(page, id);
    if (i >= 0) this.doc.transact(() => p.get(i).get('points').push(points.map(Number)), this.local);
  }

  /** Erase a shape (the host: any; the others: their own, as the server enforces). */
  erase(page, id) {
    const [p, i] = this._find(page, id);
    if (i >= 0) this.doc.transact(() => p.delete(i, 1), this.local);
  }

  /** A new empty page at the end; returns its index. */
  addPage() {
    this.doc.transact(() => this.pages.push([new Y.Array()]), this.local);
    return this.pages.length - 1;
  }

  undo() { this.undoManager.undo(); }

  redo() { this.undoManager.redo(); }

  /** The host erases page `page` (or every page). */
  clear(page) { return this.client.request('board.clear', page === undefined ? {} : { page }); }

  /** The page the staff show (everyone's board follows it). */
  get page() { return (this.client.interaction.board || {}).page || 0; }

  /** The host or a presenter turns everyone's board to page `page`. */
  showPage(page) { return this.client.request('board.page', { page }); }

  /** The host or a presenter lets attendees draw (or not). */
  setCollaboration(on) { return this.client.request('board.collaborate', { on: !!on }); }

  _queue(update) {
    this._pending.push(update);
    if (!this._timer) this._timer = setTimeout(() => { this._timer = null; this.flush(); }, SEND_MS);
  }

  /** Send what is waiting now; resolves when the server answered. */
  flush() {
    if (!this._pending.length) return this._sending;
    const merged = this._pending.length === 1 ? this._pending[0] : Y.mergeUpdates(this._pending);
    this._pending = [];
    this._sending = this._sending.then(() => this.client.request('board.update', { update: toBase64(merged) }))
      .catch((error) => this._refused(error));
    return this._sending;
  }

  async _refused(error) {
    this.dispatchEvent(new CustomEvent('refused', { detail: { error } }));
    try {
      this._load(await this.client.request('board.state'));
    } catch (e) {
      // the connection went: the reconnection's snapshot starts the board again
    }
  }
}
