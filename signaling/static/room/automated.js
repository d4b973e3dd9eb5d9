// An automated event's timeline (R-ROOM-4, R-AUTO-1) on the stage, played by /static/timeline.js.
import { t } from '/static/i18n.js';
import { TimelinePlayer } from '/static/timeline.js';
import { $ } from './dom.js';
import { stopLocal } from './publish.js';
import { showOver } from './screens.js';
import { page, S, syncState } from './state.js';

// The stage plays the timeline from signed /play URLs (timeline.js), everyone at the same position; when it has
// played, the person goes to the thank-you screen and page as when a host ends a session (R-STAT-3).
let player = null;

export function startTimeline() {
  if (player || !S.joinToken) return;
  player = new TimelinePlayer({
    box: $('#auto-stage'), roomId: S.roomId, token: S.joinToken, text: t,
    onChange: (state) => { S.timeline = { ...state }; },
    onEnd: (data) => {
      player = null;
      if (S.screen !== 'room') return;
      page.leaving = true;
      stopLocal();
      syncState();
      showOver('session', S.role !== 'host' ? (S.thankYouUrl || (data && data.thankYouUrl)) : null);
      if (page.client) page.client.leave();
    },
  });
  player.start().catch((e) => console.warn('timeline:', e));
}

export function stopTimeline() {
  if (!player) return;
  player.stop();
  player = null;
}
