// The whiteboard on the room page (issue 17, R-INT-5): a canvas over the SDK's Whiteboard (sdk/board.js, a Yjs
// document kept in step by the server). Tools: pen, line, rectangle, ellipse, arrow, text, sticky note, eraser,
// colours, stroke width, undo/redo (this person's own changes), pages; the host clears; the host or a presenter
// turns collaboration on, and then attendees draw too. A phone or tablet gets no tools (the server refuses it
// anyway). window.roomState.board tells the tests what shows; window.roomBoard is the SDK's Whiteboard.
import { BOARD_HEIGHT, BOARD_WIDTH, COLORS, Whiteboard } from '/sdk/board.js';
import { t } from '/static/i18n.js';
import { drawPage, hit } from './boarddraw.js';
import { $, $$, el, show, toast } from './dom.js';
import { page, S } from './state.js';

const B = { board: null, open: false, page: 0, tool: 'pen', color: COLORS[1], width: 4, drag: null, frame: 0 };
S.board = { open: false, page: 0, pages: 1, canDraw: false, tool: 'pen', collaboration: false, refused: 0 };

function board() {
  if (!B.board && page.client && page.client.participant) {
    B.board = window.roomBoard = new Whiteboard(page.client);
    B.board.addEventListener('change', () => schedule());
    B.board.addEventListener('collaboration', (e) => {
      toast(t(e.detail.on ? 'board.collabOn' : 'board.collabOff'));
      renderBoard();
    });
    B.page = B.board.page;
    B.board.addEventListener('page', (e) => { B.page = e.detail.page; schedule(); });
    B.board.addEventListener('refused', (e) => {
      S.board.refused += 1;
      toast(e.detail.error.message || t('board.refused'), 'error');
    });
  }
  return B.board;
}

/** A new client (a new join): the next opening makes a new board. */
export function wireBoard(c) {
  if (B.board && B.board.client !== c) B.board = window.roomBoard = null;
}

function canvas() { return $('#board-canvas'); }

function schedule() {
  if (!B.open || B.frame) return;
  B.frame = requestAnimationFrame(() => { B.frame = 0; paint(); });
}

function paint() {
  const b = board();
  if (!b) return;
  B.page = Math.min(B.page, b.pageCount() - 1);
  drawPage(canvas().getContext('2d'), b.shapes(B.page), B.drag && B.drag.preview);
  $('#board-page').textContent = t('board.page', { n: B.page + 1, of: b.pageCount() });
  Object.assign(S.board, { page: B.page, pages: b.pageCount(), shapes: b.shapes(B.page).length });
}

/** The toolbar as this person may use it now. */
export function renderBoard() {
  const b = board();
  const may = !!b && b.canDraw() && !S.mobile;
  const staff = S.role === 'host' || S.role === 'presenter';
  show($('#board'), B.open);
  $('#btn-board').classList.toggle('on', B.open);
  show($('#board-tools'), may);
  show($('#board-collab'), staff && !S.mobile);
  show($('#board-clear'), S.role === 'host');
  show($('#board-add-page'), may);
  if (b) $('#board-collab-on').checked = b.collaboration;
  for (const btn of $$('#board-tools [data-tool], #board-tools [data-color]')) {
    const on = btn.dataset.tool ? btn.dataset.tool === B.tool : btn.dataset.color === B.color;
    btn.classList.toggle('on', on);
    btn.setAttribute('aria-pressed', String(on));
  }
  Object.assign(S.board, { open: B.open, canDraw: may, tool: B.tool, collaboration: !!b && b.collaboration });
  canvas().classList.toggle('drawing', may);
  schedule();
}

/** Open or close the board on this page (the Present panel's "Whiteboard" opens it for everyone: 'boardShown'). */
export function openBoard(on = !B.open) {
  B.open = on && !!board();
  renderBoard();
}

function at(e) {
  const r = canvas().getBoundingClientRect();
  return [Math.round(((e.clientX - r.left) / r.width) * BOARD_WIDTH), Math.round(((e.clientY - r.top) / r.height) * BOARD_HEIGHT)];
}

function style() { return { color: B.color, width: B.width }; }

function down(e) {
  const b = board();
  if (!b || !S.board.canDraw || e.button > 0) return;
  e.preventDefault();
  canvas().setPointerCapture(e.pointerId);
  b.undoManager.stopCapturing();   // each stroke its own undo step
  const [x, y] = at(e);
  if (B.tool === 'eraser') { erase(x, y); B.drag = { erasing: true }; return; }
  if (B.tool === 'text' || B.tool === 'note') {
    const text = $('#board-text').value.trim();
    if (!text) { toast(t('board.typeFirst')); $('#board-text').focus(); return; }
    const pts = B.tool === 'note' ? [x, y, x + 220, y + 160] : [x, y];
    b.add(B.page, { type: B.tool, ...style(), points: pts, text });
    return;
  }
  if (B.tool === 'pen') {
    B.drag = { id: b.add(B.page, { type: 'pen', ...style(), points: [x, y] }), last: [x, y] };
    return;
  }
  B.drag = { start: [x, y], preview: { type: B.tool, ...style(), points: [x, y, x, y] } };
}

function move(e) {
  const b = board();
  if (!B.drag || !b) return;
  const [x, y] = at(e);
  if (B.drag.erasing) { erase(x, y); return; }
  if (B.drag.id) {
    const [lx, ly] = B.drag.last;
    if (Math.abs(x - lx) + Math.abs(y - ly) < 3) return;
    B.drag.last = [x, y];
    b.extend(B.page, B.drag.id, [x, y]);
    return;
  }
  B.drag.preview.points = [...B.drag.start, x, y];
  schedule();
}

function up(e) {
  const b = board();
  const d = B.drag;
  B.drag = null;
  if (!d || !b) return;
  if (d.preview) {
    const [x, y] = at(e);
    const [x0, y0] = d.start;
    if (Math.abs(x - x0) + Math.abs(y - y0) >= 4) b.add(B.page, { ...d.preview, points: [x0, y0, x, y] });
    schedule();
  }
  b.flush();
}

function erase(x, y) {
  const b = board();
  const mine = (s) => S.role === 'host' || s.by === b.selfId;   // the server lets others erase their own only
  const target = hit(b.shapes(B.page).filter(mine), x, y);
  if (target) b.erase(B.page, target.id);
}

function turn(n) {
  B.page = n;
  schedule();
  if (S.role === 'host' || S.role === 'presenter') {
    board().showPage(n).catch((err) => toast(err.message, 'error'));
  }
}

// The toolbar's icons: inline SVG drawn with the text's colour (an emoji shows as an empty box where there is no
// emoji font: the CI machine and many Linux desktops).
const ICONS = {
  pen: '<path d="M4 20l1.2-4.6L16 4.6a2 2 0 0 1 2.8 0l.6.6a2 2 0 0 1 0 2.8L8.6 18.8z"/><path d="M14.5 6l3.5 3.5"/>',
  line: '<path d="M5 19L19 5"/>',
  rect: '<rect x="4" y="6" width="16" height="12" rx="1"/>',
  ellipse: '<ellipse cx="12" cy="12" rx="8.5" ry="6"/>',
  arrow: '<path d="M5 19L19 5M10 5h9v9"/>',
  text: '<path d="M5 7V4.5h14V7M12 4.5V19.5M9 19.5h6"/>',
  note: '<path d="M4 4h16v10.5L14.5 20H4z"/><path d="M14.5 20v-5.5H20"/>',
  eraser: '<path d="M7.5 19.5L3.8 15.8a1.5 1.5 0 0 1 0-2.1l9.4-9.4a1.5 1.5 0 0 1 2.1 0l4.9 4.9a1.5 1.5 0 0 1 0 2.1l-8 8z"/><path d="M9 9.5l5.5 5.5M7.5 19.5H20"/>',
  undo: '<path d="M9 14L4 9l5-5"/><path d="M4 9h10.5a5.5 5.5 0 0 1 0 11H11"/>',
  redo: '<path d="M15 14l5-5-5-5"/><path d="M20 9H9.5a5.5 5.5 0 0 0 0 11H13"/>',
  prev: '<path d="M15 5l-7 7 7 7"/>',
  next: '<path d="M9 5l7 7-7 7"/>',
  add: '<path d="M12 5v14M5 12h14"/>',
};

function icon(name) {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  for (const [k, v] of Object.entries({
    viewBox: '0 0 24 24', width: 20, height: 20, fill: 'none', stroke: 'currentColor', 'stroke-width': 2,
    'stroke-linecap': 'round', 'stroke-linejoin': 'round', 'aria-hidden': 'true', focusable: 'false',
  })) svg.setAttribute(k, v);
  svg.innerHTML = ICONS[name];
  return svg;
}

function pick(name) {
  B.tool = name;
  renderBoard();
  // the text tools place what is typed in the field: it gets the focus when still empty
  if ((name === 'text' || name === 'note') && !$('#board-text').value.trim()) $('#board-text').focus();
}

export function bindBoard() {
  const toolNames = ['pen', 'line', 'rect', 'ellipse', 'arrow', 'text', 'note', 'eraser'];
  // data-i18n-title: the names follow a later change of language (the room's own, known after joining)
  $('#board-shapes').append(...toolNames.map((name) => el('button', {
    type: 'button', class: 'board-tool', dataset: { tool: name, i18nTitle: `board.tool.${name}` },
    title: t(`board.tool.${name}`), 'aria-label': t(`board.tool.${name}`), 'aria-pressed': 'false',
    onclick: () => pick(name),
  }, icon(name))));
  $('#board-colors').prepend(...COLORS.map((c, i) => el('button', {
    type: 'button', class: 'board-color', dataset: { color: c, i18nTitle: `board.colour.${i}` },
    style: `background:${c}`, title: t(`board.colour.${i}`), 'aria-label': t(`board.colour.${i}`),
    'aria-pressed': 'false', onclick: () => { B.color = c; renderBoard(); },
  })));
  for (const b of $$('#board [data-icon]')) b.prepend(icon(b.dataset.icon));
  $('#board-width').addEventListener('change', (e) => { B.width = Number(e.target.value) || 4; });
  $('#board-undo').addEventListener('click', () => board() && board().undo());
  $('#board-redo').addEventListener('click', () => board() && board().redo());
  // the staff turn everyone's page; an attendee browses on their own until the staff turn it again
  $('#board-prev').addEventListener('click', () => turn(Math.max(0, B.page - 1)));
  $('#board-next').addEventListener('click', () => turn(Math.min(board().pageCount() - 1, B.page + 1)));
  $('#board-add-page').addEventListener('click', async () => {
    const n = board().addPage();
    await board().flush();
    turn(n);
  });
  $('#board-clear').addEventListener('click', async () => {
    if (!window.confirm(t('board.clearConfirm'))) return;
    try { await board().clear(B.page); } catch (err) { toast(err.message, 'error'); }
  });
  $('#board-collab-on').addEventListener('change', async (e) => {
    try { await board().setCollaboration(e.target.checked); } catch (err) { toast(err.message, 'error'); }
    renderBoard();
  });
  $('#btn-board').addEventListener('click', () => openBoard());
  // the canvas keeps the board's 16:9 inside whatever room the stage leaves it
  new ResizeObserver(([entry]) => {
    const { width, height } = entry.contentRect;
    const w = Math.min(width, (height * BOARD_WIDTH) / BOARD_HEIGHT);
    Object.assign(canvas().style, { width: `${Math.floor(w)}px`, height: `${Math.floor((w * BOARD_HEIGHT) / BOARD_WIDTH)}px` });
  }).observe($('#board-fit'));
  const c = canvas();
  c.addEventListener('pointerdown', down);
  c.addEventListener('pointermove', move);
  c.addEventListener('pointerup', up);
  c.addEventListener('pointercancel', up);
  document.addEventListener('keydown', (e) => {
    if (!B.open || !board() || !S.board.canDraw || !(e.ctrlKey || e.metaKey) || e.target.matches('input, textarea')) return;
    if (e.key === 'z') { e.preventDefault(); board().undo(); }
    if (e.key === 'y' || (e.key === 'Z' && e.shiftKey)) { e.preventDefault(); board().redo(); }
  });
}
