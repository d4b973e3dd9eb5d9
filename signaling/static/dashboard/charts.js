// Small charts for the dashboard's statistics (issue 20 item 5, R-STAT-1): inline SVG drawn here, no library.
// Each chart is a <figure> with a visible title, the drawing (role="img", named by the title, with a
// <desc> that says the numbers in a sentence) and the same numbers as a table for screen readers.
import { el } from './core.js';

const NS = 'http://www.w3.org/2000/svg';
let made = 0;

function svg(tag, attrs, ...children) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

/** A round upper end for an axis that holds max (1, 2, 5, 10, 20, 50, ...). */
function niceMax(max) {
  if (max <= 1) return 1;
  const pow = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 5, 10]) if (m * pow >= max) return m * pow;
  return 10 * pow;
}

/** The figure around a drawing: caption (the title), the svg, the screen readers' table. */
function figure(className, title, drawing, head, rows, legend) {
  const id = `chart-${++made}`;
  drawing.setAttribute('role', 'img');
  drawing.setAttribute('aria-labelledby', `${id}-title ${id}-desc`);
  const table = el('table', {}, el('caption', { textContent: title }),
    el('thead', {}, el('tr', {}, ...head.map((h) => el('th', { scope: 'col', textContent: h })))),
    el('tbody', {}, ...rows.map((r) => el('tr', {}, el('th', { scope: 'row', textContent: r[0] }),
      ...r.slice(1).map((v) => el('td', { textContent: String(v) }))))));
  const sentence = rows.map((r) => `${r[0]}: ${r.slice(1).map((v, i) => `${head[i + 1]} ${v}`).join(', ')}`).join('; ');
  drawing.prepend(svg('title', { id: `${id}-title` }, title), svg('desc', { id: `${id}-desc` }, sentence));
  return el('figure', { className: `chart ${className}` },
    el('figcaption', { textContent: title, 'aria-hidden': 'true' }),
    el('div', { className: 'chart-wrap' }, drawing),
    ...(legend ? [legend] : []),
    el('div', { className: 'sr-only' }, table));
}

/**
 * Vertical bars, one per label, each stacked from the series' values:
 * {title, labels: [...], series: [{name, values: [...], className}], unit}.
 */
export function barChart({ title, labels, series, className = '' }) {
  const step = 44, left = 34, top = 14, plot = 150, bottom = 40;
  const width = left + labels.length * step + 8, height = top + plot + bottom;
  const totals = labels.map((_, i) => series.reduce((sum, s) => sum + (s.values[i] || 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  const y = (v) => top + plot - (v / max) * plot;
  const drawing = svg('svg', { viewBox: `0 0 ${width} ${height}`, width, height, class: 'bars' });
  for (const v of Number.isInteger(max / 2) ? [0, max / 2, max] : [0, max]) {   // the scale, whole numbers
    drawing.append(svg('line', { x1: left, x2: width - 4, y1: y(v), y2: y(v), class: 'grid' }),
      svg('text', { x: left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, String(v)));
  }
  labels.forEach((label, i) => {
    const x = left + i * step + 8;
    let base = 0;
    const bar = svg('g', { class: 'bar', 'data-label': label });
    for (const s of series) {
      const v = s.values[i] || 0;
      if (v > 0) {
        bar.append(svg('rect', { x, width: step - 16, y: y(base + v), height: y(base) - y(base + v),
                                 class: `part ${s.className || ''}`, 'data-value': v }));
      }
      base += v;
    }
    if (totals[i] > 0) {
      bar.append(svg('text', { x: x + (step - 16) / 2, y: y(totals[i]) - 3, 'text-anchor': 'middle', class: 'value' },
        String(totals[i])));
    }
    bar.append(svg('text', { x: x + (step - 16) / 2, y: top + plot + 16, 'text-anchor': 'middle', class: 'axis' }, label));
    drawing.append(bar);
  });
  const legend = series.length > 1 ? el('ul', { className: 'chart-legend', 'aria-hidden': 'true' },
    ...series.map((s) => el('li', {}, el('span', { className: `swatch ${s.className || ''}` }), s.name))) : null;
  const head = ['', ...series.map((s) => s.name)];
  const rows = labels.map((label, i) => [label, ...series.map((s) => s.values[i] || 0)]);
  return figure(className, title, drawing, head, rows, legend);
}

/** Horizontal bars, one a row: {title, rows: [[label, n], ...], name: the column's name}. */
export function hbarChart({ title, rows, name, className = '' }) {
  const longest = Math.max(4, ...rows.map((r) => String(r[0]).length));
  const labelW = Math.min(220, 14 + longest * 7), barW = 160, rowH = 24, width = labelW + barW + 44;
  const height = Math.max(1, rows.length) * rowH + 6;
  const max = Math.max(1, ...rows.map((r) => r[1]));
  const drawing = svg('svg', { viewBox: `0 0 ${width} ${height}`, width, height, class: 'hbars' });
  rows.forEach(([label, n], i) => {
    const y = 4 + i * rowH;
    drawing.append(svg('g', { class: 'bar', 'data-label': label },
      svg('text', { x: labelW - 6, y: y + 15, 'text-anchor': 'end', class: 'axis' }, label),
      svg('rect', { x: labelW, y: y + 3, height: rowH - 8, width: Math.max(n ? 2 : 0, (n / max) * barW),
                    class: 'part', 'data-value': n }),
      svg('text', { x: labelW + (n / max) * barW + 6, y: y + 15, class: 'value' }, String(n))));
  });
  return figure(className, title, drawing, ['', name], rows);
}
