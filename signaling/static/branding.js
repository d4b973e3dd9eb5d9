// R-ROOM-11: an event's branding (its own over its account's, from GET /api/v1/public/events/{roomId}) on the
// pages people see: the logo in the header, the colours, and a background image per screen (the room, the
// registration form, the lobby and waiting room, the thank-you screens; the watch page of an on-demand event uses
// the room's). Only #rrggbb colours and http(s) image URLs are applied (the server validates them too).
//
// Colours: primary -> buttons and highlights (--accent), accent -> links and the header's rule (--brand-accent),
// background -> the page (--bg), text -> the text (--text). Backgrounds become --brand-bg-<screen> (a CSS url());
// the page's stylesheet picks the one of the screen shown (body[data-screen]).

const HEX = /^#[0-9a-fA-F]{6}$/;
const SCREENS = { room: 'room', registration: 'registration', lobby: 'lobby', thankYou: 'thank-you' };

export function imageUrl(value) {
  return typeof value === 'string' && /^https?:\/\/[^\s"'()\\]+$/i.test(value) ? value : null;
}

function darker(hex, f = 0.85) {
  const n = parseInt(hex.slice(1), 16);
  const c = [n >> 16, (n >> 8) & 255, n & 255].map((v) => Math.round(v * f).toString(16).padStart(2, '0'));
  return `#${c.join('')}`;
}

/** The CSS custom properties a branding sets ({name: value or null}): the room page applies them to the page, the
 * dashboard's live preview (dashboard/branding-editor.js) to its mini-render of the room, so both show the same. */
export function brandingVariables(branding) {
  const b = branding && typeof branding === 'object' ? branding : {};
  const colors = b.colors || {};
  const hex = (v) => (HEX.test(v || '') ? v : null);
  const vars = {
    '--accent': hex(colors.primary),
    '--accent2': hex(colors.primary) && darker(colors.primary),
    '--brand-accent': hex(colors.accent),
    '--bg': hex(colors.background),
    '--text': hex(colors.text),
  };
  const backgrounds = b.backgrounds || {};
  for (const [key, name] of Object.entries(SCREENS)) {
    const url = imageUrl(backgrounds[key]);
    vars[`--brand-bg-${name}`] = url && `url("${url}")`;
  }
  return vars;
}

/** Set (or, for a null value, remove) the variables on an element's style. */
export function setVariables(style, vars) {
  for (const [name, value] of Object.entries(vars)) {
    if (value) style.setProperty(name, value); else style.removeProperty(name);
  }
}

// Apply (or, with no branding, take back) the branding; returns what was applied (for tests and debugging).
export function applyBranding(branding, logo = document.getElementById('brand-logo')) {
  const b = branding && typeof branding === 'object' ? branding : {};
  const colors = b.colors || {};
  const hex = (v) => (HEX.test(v || '') ? v : null);
  setVariables(document.documentElement.style, brandingVariables(b));
  const backgrounds = b.backgrounds || {};
  const applied = { logo: null, colors: {}, backgrounds: {} };
  for (const key of Object.keys(SCREENS)) {
    const url = imageUrl(backgrounds[key]);
    if (url) applied.backgrounds[key] = url;
  }
  for (const k of ['primary', 'accent', 'background', 'text']) if (hex(colors[k])) applied.colors[k] = colors[k];
  if (logo) {
    const url = imageUrl(b.logo);
    if (url) {
      logo.onerror = () => { logo.hidden = true; };
      if (logo.getAttribute('src') !== url) logo.src = url;
      logo.hidden = false;
      applied.logo = url;
    } else {
      logo.hidden = true;
      logo.removeAttribute('src');
    }
  }
  document.documentElement.classList.toggle('branded', !!(applied.logo || Object.keys(applied.colors).length
    || Object.keys(applied.backgrounds).length));
  window.branding = applied;
  return applied;
}
