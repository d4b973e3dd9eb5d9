// The Library's live streaming (issue 20 item 4 "live-stream targets"; R-REC-6): a live event's room streamed to
// an RTMP service (POST/GET/DELETE /api/v1/events/{id}/stream). The stream key is sent once and never shown back:
// the API gives the target without it, and the field is emptied once the stream starts.
import { $, api, say, t } from './core.js';
import { everything } from './paging.js';

let live = [];   // the account's live events

/** The live events to choose from, and the chosen one's stream. */
export async function showStreams() {
  const got = await everything('/events');
  live = got.items.filter((e) => e.status === 'live' && e.kind !== 'on_demand');
  const pick = $('lib-stream-event'); const was = pick.value;
  pick.textContent = '';
  for (const e of live) pick.append(new Option(`${e.name} (${e.roomId})`, String(e.id)));
  if (live.some((e) => String(e.id) === was)) pick.value = was;
  $('lib-stream-none').hidden = live.length > 0;
  $('lib-stream-form').hidden = live.length === 0;
  say('lib-stream-error', '');
  await streamStatus();
}

/** The chosen event's stream, as the API has it now. */
async function streamStatus() {
  const id = $('lib-stream-event').value;
  if (!id) { say('lib-stream-status', ''); $('lib-stream-stop').hidden = true; return; }
  let s = null;
  try { s = await api('GET', `/events/${id}/stream`); } catch (e) { if (e.status !== 404) throw e; }
  const on = s && (s.status === 'connecting' || s.status === 'live');
  $('lib-stream-stop').hidden = !on;
  $('lib-stream-start').disabled = !!on;
  const box = $('lib-stream-status');
  box.dataset.status = s ? s.status : '';
  say('lib-stream-status', !s ? t('lib.streamOff') : t('lib.streamIs', {
    target: s.target, status: t(`lib.s_${s.status}`), frames: s.videoFrames,
  }) + (s.error ? ` ${t('lib.streamWhy', { why: s.error })}` : ''));
}

/** Wire the form (once). */
export function setupStreams() {
  const guard = (fn) => async () => {
    say('lib-stream-error', '');
    try { await fn(); } catch (e) { say('lib-stream-error', e.message); }
  };
  $('lib-stream-event').onchange = guard(streamStatus);
  $('lib-stream-refresh').onclick = guard(streamStatus);
  $('lib-stream-form').onsubmit = (ev) => {
    ev.preventDefault();
    guard(async () => {
      const key = $('lib-stream-key').value.trim();
      await api('POST', `/events/${$('lib-stream-event').value}/stream`, { url: $('lib-stream-url').value.trim(), ...(key ? { key } : {}) });
      $('lib-stream-key').value = '';
      await streamStatus();
    })();
  };
  $('lib-stream-stop').onclick = guard(async () => {
    await api('DELETE', `/events/${$('lib-stream-event').value}/stream`);
    await streamStatus();
  });
}
