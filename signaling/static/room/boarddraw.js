// Draws the whiteboard's shapes (the schema of sdk/board.js and docs/signaling.md) on a 2D canvas of the
// board's size (1600 x 900 units); the server's PNG/PDF export (mediaserver/interaction/board_render.py) draws
// the same shapes the same way.
export const NOTE_FILL = '#ffec8c';

function arrowHead(ctx, x0, y0, x1, y1, w) {
  const a = Math.atan2(y1 - y0, x1 - x0);
  const size = 10 + 3 * w;
  ctx.beginPath();
  ctx.moveTo(x1, y1);
  ctx.lineTo(x1 - size * Math.cos(a - 0.45), y1 - size * Math.sin(a - 0.45));
  ctx.lineTo(x1 - size * Math.cos(a + 0.45), y1 - size * Math.sin(a + 0.45));
  ctx.closePath();
  ctx.fill();
}

function lines(ctx, text, x, y, size) {
  String(text || '').split('\n').forEach((line, i) => ctx.fillText(line, x, y + i * size * 1.25));
}

/** One shape {type, color, width, points, text}. */
export function drawShape(ctx, s) {
  const p = s.points || [];
  if (p.length < 2) return;
  const w = Math.max(1, Math.min(64, Number(s.width) || 2));
  ctx.strokeStyle = ctx.fillStyle = s.color || '#1f1f1f';
  ctx.lineWidth = w;
  ctx.lineCap = ctx.lineJoin = 'round';
  const [x0, y0] = p;
  const x1 = p[p.length - 2];
  const y1 = p[p.length - 1];
  const [bx, by, bw, bh] = [Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0)];
  switch (s.type) {
    case 'pen':
      ctx.beginPath();
      ctx.moveTo(x0, y0);
      if (p.length === 2) ctx.lineTo(x0 + 0.01, y0);
      for (let i = 2; i < p.length; i += 2) ctx.lineTo(p[i], p[i + 1]);
      ctx.stroke();
      break;
    case 'line':
    case 'arrow':
      ctx.beginPath();
      ctx.moveTo(x0, y0);
      ctx.lineTo(x1, y1);
      ctx.stroke();
      if (s.type === 'arrow') arrowHead(ctx, x0, y0, x1, y1, w);
      break;
    case 'rect':
      ctx.strokeRect(bx, by, bw, bh);
      break;
    case 'ellipse':
      ctx.beginPath();
      ctx.ellipse(bx + bw / 2, by + bh / 2, bw / 2, bh / 2, 0, 0, 2 * Math.PI);
      ctx.stroke();
      break;
    case 'note': {
      const [nx, ny, nw, nh] = p.length === 2 ? [x0, y0, 200, 150] : [bx, by, bw, bh];
      ctx.fillStyle = NOTE_FILL;
      ctx.fillRect(nx, ny, nw, nh);
      ctx.lineWidth = 2;
      ctx.strokeRect(nx, ny, nw, nh);
      ctx.fillStyle = '#000000';
      ctx.font = '22px sans-serif';
      ctx.textBaseline = 'top';
      lines(ctx, s.text, nx + 10, ny + 10, 22);
      break;
    }
    case 'text': {
      const size = 10 + 4 * w;
      ctx.font = `${size}px sans-serif`;
      ctx.textBaseline = 'top';
      lines(ctx, s.text, x0, y0, size);
      break;
    }
    default:
  }
}

/** A whole page, on white. */
export function drawPage(ctx, shapes, preview) {
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, ctx.canvas.width, ctx.canvas.height);
  for (const s of shapes) drawShape(ctx, s);
  if (preview) drawShape(ctx, preview);
}

/** The topmost shape of `shapes` under (x, y), within `slack` units of its outline or box. */
export function hit(shapes, x, y, slack = 12) {
  for (let i = shapes.length - 1; i >= 0; i--) {
    const p = shapes[i].points || [];
    if (p.length < 2) continue;
    let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
    for (let j = 0; j < p.length; j += 2) {
      x0 = Math.min(x0, p[j]); x1 = Math.max(x1, p[j]);
      y0 = Math.min(y0, p[j + 1]); y1 = Math.max(y1, p[j + 1]);
    }
    if (shapes[i].type === 'note' && p.length === 2) { x1 = x0 + 200; y1 = y0 + 150; }
    if (shapes[i].type === 'text') { x1 = x0 + 20 * String(shapes[i].text || '').length; y1 = y0 + 40; }
    if (x >= x0 - slack && x <= x1 + slack && y >= y0 - slack && y <= y1 + slack) return shapes[i];
  }
  return null;
}
