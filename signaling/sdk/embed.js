// Embedding a room into another web site (R-ROOM-12): an <iframe> snippet for the room page.
// The iframe's allow list lets the room use the camera and microphone, but the embedded room turns them on only
// after the visitor's own click on its "Join with camera" button (issue 14 finding 16: room/publish.js).

function escapeAttr(s) {
  return String(s).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function size(v, fallback) {
  if (v === undefined || v === null || v === '') return fallback;
  if (typeof v === 'number' || /^\d+$/.test(String(v))) return String(v);
  if (/^\d+(\.\d+)?(%|px|vw|vh|em|rem)$/.test(String(v))) return String(v);
  throw new Error(`embedSnippet: bad size ${JSON.stringify(v)} (a number of pixels or a CSS length)`);
}

/** The room page's URL: `${baseUrl}/room/${roomId}` plus optional query parameters (e.g. {lang: 'ru'}). */
export function roomUrl(baseUrl, roomId, params = {}) {
  const base = String(baseUrl || '').replace(/\/+$/, '');
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ''));
  const s = q.toString();
  return `${base}/room/${encodeURIComponent(roomId)}${s ? `?${s}` : ''}`;
}

/**
 * embedSnippet(baseUrl, roomId, {width, height, lang, title}) → an HTML string:
 * <iframe src="https://host/room/123456789" width="960" height="600" allow="camera; microphone;
 * display-capture; autoplay" ...></iframe>. Width and height: pixels or a CSS length ('100%').
 */
export function embedSnippet(baseUrl, roomId, { width = 960, height = 600, lang, title } = {}) {
  const src = roomUrl(baseUrl, roomId, { lang });
  const w = size(width, '960');
  const h = size(height, '600');
  const label = title || `Room ${roomId}`;
  return `<iframe src="${escapeAttr(src)}" width="${escapeAttr(w)}" height="${escapeAttr(h)}" `
    + 'allow="camera; microphone; display-capture; autoplay" allowfullscreen '
    + `style="border:0" title="${escapeAttr(label)}"></iframe>`;
}

export default embedSnippet;
