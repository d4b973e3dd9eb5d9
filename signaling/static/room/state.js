// The room page's shared state: the query's options, window.roomState (what the tests and a curious developer
// read), the live connection (`page`: client, local streams, flags) and the received tracks.
import { MediaserverClient } from '/sdk/mediaserver.js';
import { normaliseId } from './dom.js';

export const query = new URLSearchParams(location.search);
export const langOverride = ['en', 'ru'].includes(query.get('lang')) ? query.get('lang') : null;
export const hostKey = query.get('host') || undefined;
export const presenterKey = query.get('presenter') || undefined;
export const linkToken = query.get('token') || undefined;        // R-ROOM-6: the invitation link's personal token
export const mobile = MediaserverClient.isMobile() || query.get('device') === 'mobile';

// Everything the tests (and a curious developer) may read.
export const S = window.roomState = {
  screen: 'join', error: null, role: null, status: null, tracks: [], participants: [], audioMode: null,
  roomId: null, room: null, self: null, activeSpeaker: null, publishing: false, sharing: false,
  muted: { audio: false, video: false }, mobile,
  event: null, thankYouUrl: null, ratingToken: null, redirect: null, order: null, buyError: null,
  timeline: null,                // an automated event's playback (R-AUTO-1): position, component, currentTime...
  embedded: false,               // in another site's iframe (R-ROOM-12)
  cameraOffer: false,            // embedded: "Join with camera" shown, the camera waits for that click
  webrtc: MediaserverClient.hasWebRTC(),  // false: this browser joins but cannot send or receive media
  soundBlocked: false,           // the browser refused to play received audio until a click (Safari): grid.js
};

// What changes while the page runs (a module's imports are read-only, so they live in one object).
export const page = {
  client: null,
  localStream: null,             // camera + microphone being sent
  screenStream: null,
  leaving: false,
  subscribed: false,
  openPanel: null,
};
export const remote = new Map();        // track id -> {track, stream}

export function syncState() {
  if (!page.client) return;
  S.self = page.client.participant ? { ...page.client.participant } : null;
  S.role = S.self ? S.self.role : S.role;
  S.status = S.self ? S.self.status : S.status;
  S.room = page.client.room ? { ...page.client.room } : S.room;
  S.audioMode = S.room ? S.room.audioMode || null : null;
  S.participants = [...page.client.participants.values()].map((p) => ({ ...p }));
  S.tracks = [...page.client.tracks.values()].map((tr) => ({ ...tr, receiving: remote.has(tr.id) }));
  S.muted = { ...page.client.muted };
  S.publishing = page.client.publications.length > 0;
  S.sharing = page.client.sharingScreen;
}

export function roomIdFromUrl() {
  const m = /\/room\/([^/?#]+)/.exec(location.pathname);
  return normaliseId(m ? decodeURIComponent(m[1]) : query.get('id') || '');
}
