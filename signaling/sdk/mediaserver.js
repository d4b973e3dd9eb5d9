// mediaserver browser SDK: the room HTTP API and the WebSocket session of notes/room-protocol.md and
// docs/signaling.md. Plain ES module, no dependencies. API reference: docs/sdk.md.
//
// One RTCPeerConnection per publication (the client offers; camera + microphone together, a screen share
// on its own) and one receiving connection (the server offers and renegotiates as tracks come and go).

import { InteractionState, playerPosition, REACTIONS } from './interaction.js';

export { InteractionState, REACTIONS };

/** An error refused by the server: `code` is the protocol's machine-readable reason. */
export class MediaserverError extends Error {
  constructor(code, message, status = 0, detail = {}) {
    super(message || code);
    this.name = 'MediaserverError';
    this.code = code;
    this.status = status;
    this.detail = detail;   // the error's other fields (node_full: nodes)
  }
}

/** Every notification of the protocol; each is re-dispatched as a CustomEvent with `detail` = params. */
export const NOTIFICATIONS = [
  'participantJoined', 'participantLeft', 'participantUpdated', 'trackPublished', 'trackUnpublished',
  'trackUpdated', 'offer', 'roomUpdated', 'admitted', 'muted', 'floorGranted', 'floorRevoked', 'removed',
  'ended', 'interaction', 'roleChanged',
];

/** Screen-share quality modes (R-MEDIA-7) with the budgets of R-MEDIA-3. */
export const SCREEN_QUALITY = {
  high: { width: 1920, height: 1080, frameRate: 30, maxBitrate: 5_000_000, contentHint: 'detail' },
  lite: { width: 1280, height: 720, frameRate: 10, maxBitrate: 2_000_000, contentHint: 'text' },
};
/** Camera quality levels (R-MEDIA-4): SD and HD, with the R-MEDIA-3 video budgets. */
export const VIDEO_QUALITY = {
  sd: { width: 640, height: 480, frameRate: 30, maxBitrate: 1_000_000 },
  hd: { width: 1280, height: 720, frameRate: 30, maxBitrate: 2_000_000 },
};

/** Three simulcast layers of a camera: quarter and half resolution, and the full one at maxBitrate. */
function cameraEncodings(maxBitrate) {
  return [
    { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: Math.min(150_000, Math.round(maxBitrate * 0.15)) },
    { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: Math.round(maxBitrate * 0.4) },
    { rid: 'f', maxBitrate },
  ];
}

/**
 * True when this browser can send and receive audio and video: it has WebRTC's RTCPeerConnection. Some
 * engines lack it (Debian's WebKitGTK, WebViews of some apps); their calls that need it reject with code
 * webrtc_unsupported instead of a ReferenceError, so a page can tell the person what to do (docs/sdk.md).
 */
export function hasWebRTC() {
  return typeof RTCPeerConnection === 'function';
}

function needWebRTC() {
  if (!hasWebRTC()) {
    throw new MediaserverError('webrtc_unsupported',
      'this browser has no WebRTC (RTCPeerConnection): it cannot send or receive audio and video');
  }
}

const MOBILE_UA = /Android|iPhone|iPad|iPod|Mobile|Opera Mini|IEMobile|Silk/i;

/** WHIP and WHEP: the offer (all candidates gathered, at most 2 s) POSTed to `url`; the answer applied. */
async function offerTo(pc, url, token, what) {
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((r) => {
    if (pc.iceGatheringState === 'complete') r();
    else pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r();
    setTimeout(r, 2000);
  });
  const res = await fetch(url, { method: 'POST', body: pc.localDescription.sdp,
    headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` } });
  if (res.status !== 201) throw new Error(`${what} failed: ${res.status} ${await res.text()}`);
  const location = res.headers.get('Location');
  await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
  return location;
}

/** True on phones and tablets (user-agent client hints, the user agent, or an iPad posing as a Mac). */
export function isMobile() {
  if (typeof navigator === 'undefined') return false;
  if (navigator.userAgentData && navigator.userAgentData.mobile === true) return true;
  if (MOBILE_UA.test(navigator.userAgent || '')) return true;
  return /Macintosh/.test(navigator.userAgent || '') && navigator.maxTouchPoints > 1;
}

/** The /ws URL for an http(s) base (or the page's own origin when base is empty). */
export function wsUrl(base) {
  const origin = base || (typeof location !== 'undefined' ? location.origin : '');
  if (/^wss?:/i.test(origin)) return origin;
  const u = new URL(origin);
  const path = u.pathname.replace(/\/+$/, '');
  return `${u.protocol === 'https:' ? 'wss' : 'ws'}://${u.host}${path.endsWith('/ws') ? path : `${path}/ws`}`;
}

function apiBase(base) {
  return (base || '').replace(/\/+$/, '');
}

async function http(method, url, body, headers = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch (e) {
    throw new MediaserverError('network', `${method} ${url}: ${e.message || e}`);
  }
  let data = null;
  try { data = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) {
    const err = (data && data.error) || {};
    throw new MediaserverError(err.code || `http_${res.status}`, err.message || `${method} ${url}: HTTP ${res.status}`,
      res.status);
  }
  return data;
}

/** mid -> {streamId, trackId} from the a=mid / a=msid lines of an SDP (for mapping received tracks). */
export function parseMsids(sdp) {
  const out = new Map();
  for (const section of sdp.split(/\r?\nm=/).slice(1)) {
    const mid = /\r?\na=mid:(\S+)/.exec(`\n${section}`);
    const msid = /\r?\na=msid:(\S+) (\S+)/.exec(`\n${section}`);
    const inactive = /^\w+ 0 /.test(section) || /\r?\na=inactive/.test(`\n${section}`);
    if (mid) out.set(mid[1], { streamId: msid && msid[1], trackId: msid && msid[2], active: !inactive });
  }
  return out;
}

/**
 * Who speaks: the loudest level at or above `threshold`, keeping `current` unless another is clearly
 * louder (by `margin`), so the highlight does not flicker between two voices. Returns an id or null.
 */
export function pickSpeaker(levels, current = null, { threshold = 0.02, margin = 1.5 } = {}) {
  let best = null;
  let bestLevel = 0;
  for (const [id, level] of Object.entries(levels)) {
    if (level >= threshold && level > bestLevel) { best = id; bestLevel = level; }
  }
  if (best === null) return null;
  const cur = current !== null && current !== undefined ? levels[current] || 0 : 0;
  if (current && best !== current && cur >= threshold && bestLevel < cur * margin) return current;
  return best;
}

const PC_CONFIG = { bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' };

export class MediaserverClient extends EventTarget {
  // ---- HTTP API (R-ROOM-7): static, need no session ----

  /**
   * POST /api/v1/rooms. opts: {type, name, capacity, language, agenda, message, start, apiKey}.
   * Resolves {id, name, type, url, hostKey, hostUrl, pin, language}.
   */
  static async createRoom(base, opts = {}) {
    const { apiKey, ...body } = opts;
    return http('POST', `${apiBase(base)}/api/v1/rooms`, body, apiKey ? { Authorization: `Bearer ${apiKey}` } : {});
  }

  /** GET /api/v1/rooms/{id}: {id, name, type, language, agenda, message, state, locked, capacity, ...}. */
  static async roomInfo(base, id) {
    return http('GET', `${apiBase(base)}/api/v1/rooms/${encodeURIComponent(id)}`);
  }

  /**
   * POST /api/v1/rooms/{id}/join {name, email, hostKey?, presenterKey?, password?, token?}: {token, role, room}
   * (an event's room adds thankYouUrl). Refusals: bad_request, not_found, forbidden (a wrong key), locked,
   * ended; an event's room also password_required, token_required, bad_token, registration_required,
   * on_demand (R-ROOM-6, -9).
   */
  static async joinRoom(base, id, { name, email, hostKey, presenterKey, password, token } = {}) {
    const body = { name, email };
    if (hostKey) body.hostKey = hostKey;
    else if (presenterKey) body.presenterKey = presenterKey;
    if (password) body.password = password;
    if (token && !hostKey && !presenterKey) body.token = token;
    return http('POST', `${apiBase(base)}/api/v1/rooms/${encodeURIComponent(id)}/join`, body);
  }

  /**
   * GET /api/v1/public/events/{roomId}: what an event asks before joining, without secrets: {name, kind,
   * status, language, access, ticketPrice, ticketCurrency, registration: {enabled, fields, redirectUrl}, ...}.
   * Refuses not_found for a room that belongs to no event.
   */
  static async eventInfo(base, id) {
    return http('GET', `${apiBase(base)}/api/v1/public/events/${encodeURIComponent(id)}`);
  }

  /**
   * POST /api/v1/public/events/{roomId}/registrations {firstName, lastName, email, fields}: {id, redirectUrl}
   * (R-ROOM-9). Refusals: bad_request, already_registered, registration_closed, ended.
   */
  static async register(base, id, { firstName, lastName, email, fields = {} } = {}) {
    return http('POST', `${apiBase(base)}/api/v1/public/events/${encodeURIComponent(id)}/registrations`,
      { firstName, lastName, email, fields });
  }

  /**
   * POST /api/v1/public/events/{roomId}/tickets {name, email, reference?, language?}: order a ticket to a paid
   * event at its price (R-BILL-10). Resolves the pending order {id, status, amount, currency, reference, key,
   * instructions, payUrl, ...}; keep id and key to look it up. Refusals: bad_request, already_ordered,
   * sold_out, tickets_unavailable, not_paid, ended, not_found.
   */
  static async buyTicket(base, id, { name, email, reference, language } = {}) {
    const body = { name, email };
    if (reference) body.reference = reference;
    if (language) body.language = language;
    return http('POST', `${apiBase(base)}/api/v1/public/events/${encodeURIComponent(id)}/tickets`, body);
  }

  /**
   * GET /api/v1/public/tickets/{orderId}?key=: one's own order {id, status: pending|paid|failed|refused|cancelled,
   * reason, reference, amount, currency, ...}. The ticket's token never comes here: it is e-mailed.
   */
  static async ticketOrder(base, orderId, key) {
    return http('GET', `${apiBase(base)}/api/v1/public/tickets/${encodeURIComponent(orderId)}?key=${encodeURIComponent(key)}`);
  }

  /** Publish over WHIP (RFC 9725) instead of the WebSocket: resolves {pc, location}. */
  static async whip(base, room, token, stream) {
    needWebRTC();
    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
    return { pc, location: await offerTo(pc, `${apiBase(base)}/whip/${room}`, token, 'WHIP') };
  }

  /**
   * Watch a room over WHEP, with no WebSocket: one receive-only connection carrying the room's published
   * tracks as the server matches them to the offered sections (`audio` and `video`: how many of each to
   * offer). Resolves {pc, location, stream}: `stream` gains the tracks as they arrive; DELETE `location`
   * (with the token) to end the session.
   */
  static async whep(base, room, token, { audio = 1, video = 1 } = {}) {
    needWebRTC();
    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    const stream = new MediaStream();
    pc.addEventListener('track', (e) => stream.addTrack(e.track));
    for (let i = 0; i < audio; i++) pc.addTransceiver('audio', { direction: 'recvonly' });
    for (let i = 0; i < video; i++) pc.addTransceiver('video', { direction: 'recvonly' });
    return { pc, stream, location: await offerTo(pc, `${apiBase(base)}/whep/${room}`, token, 'WHEP') };
  }

  /** getUserMedia for a camera and/or microphone at a quality level ('sd' or 'hd'), on chosen devices. */
  static async openMedia({ audio = true, video = true, quality = 'sd', audioDeviceId, videoDeviceId } = {}) {
    const q = VIDEO_QUALITY[quality] || VIDEO_QUALITY.sd;
    const constraints = {
      audio: audio ? { ...(audioDeviceId ? { deviceId: { exact: audioDeviceId } } : {}),
        echoCancellation: true, noiseSuppression: true, autoGainControl: true } : false,
      video: video ? { ...(videoDeviceId ? { deviceId: { exact: videoDeviceId } } : {}),
        width: { ideal: q.width }, height: { ideal: q.height }, frameRate: { ideal: q.frameRate } } : false,
    };
    return navigator.mediaDevices.getUserMedia(constraints);
  }

  /** The cameras and microphones ({audioinput: [...], videoinput: [...], audiooutput: [...]}). */
  static async devices() {
    const out = { audioinput: [], videoinput: [], audiooutput: [] };
    if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return out;
    for (const d of await navigator.mediaDevices.enumerateDevices()) {
      if (out[d.kind]) out[d.kind].push({ deviceId: d.deviceId, label: d.label, groupId: d.groupId });
    }
    return out;
  }

  static isMobile() { return isMobile(); }

  static hasWebRTC() { return hasWebRTC(); }

  static canShareScreen() {
    return !isMobile() && !!(typeof navigator !== 'undefined' && navigator.mediaDevices
      && navigator.mediaDevices.getDisplayMedia);
  }

  // ---- the session ----

  /**
   * new MediaserverClient(url?, token?, options?): url is the ws(s):// signaling URL or an http(s) base
   * (default: this page's origin). options.iceTransport: 'tcp' keeps only the server's ICE-TCP
   * candidates, as a client whose UDP is blocked would end up using. options.reconnect (default true):
   * when the connection drops (the server restarted, the network changed), join again with back-off for
   * up to options.reconnectFor ms (default 300000), send the same tracks again and receive again;
   * 'reconnecting' {attempt, delay} and 'reconnected' {info} tell the application, and 'close' comes
   * only when it gives up (or after leave()).
   */
  constructor(url, token, options = {}) {
    super();
    if (token && typeof token === 'object') { options = token; token = undefined; }
    this.options = options;
    this.url = wsUrl(url);
    this.token = token;
    this.nextId = 1;
    this.pending = new Map();
    this.ws = null;
    this.pub = null;             // the first publication's peer connection (kept for older callers)
    this.sub = null;             // the receiving peer connection
    this.publications = [];      // [{pc, stream, tracks: [{track, source, mid, id}], screen, quality}]
    this.remoteStreams = new Map();
    this.remoteTracks = new Map();  // track id -> {track, stream, mid, descriptor}
    this.participant = null;     // this client's descriptor (with status, canPublish, muted)
    this.room = null;
    this.participants = new Map();  // id -> descriptor (others and self)
    this.tracks = new Map();     // id -> descriptor (every published track in the room, own ones too)
    this.interaction = new InteractionState();   // chat, hands, reactions, polls (issue 16)
    this.clock = null;           // {offset, rtt} to the server's clock (syncClock, issue 17)
    this.muted = { audio: false, video: false };
    this.device = undefined;
    this.videoQuality = 'sd';
    this.closed = false;
    this._midTracks = new Map(); // receiving mid -> track id
    this._sigChain = Promise.resolve();
    this._speaker = null;
    this._speakerTimer = null;
    this.reconnect = options.reconnect !== false;
    this.reconnectFor = options.reconnectFor ?? 300000;
    this._joined = false;        // joined once: a dropped connection is then worth joining again
    this._leaving = false;       // leave() was called
    this._over = false;          // the session ended or the host removed us: nothing to come back to
    this._reconnecting = false;
  }

  connect() {
    return new Promise((resolve, reject) => {
      const ws = this.ws = new WebSocket(this.url);
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new MediaserverError('network', `websocket error (${this.url})`));
      ws.onclose = () => {
        reject(new MediaserverError('network', `websocket closed (${this.url})`));
        if (ws !== this.ws) return;   // a socket given up on earlier
        for (const { reject: rej } of this.pending.values()) rej(new MediaserverError('closed', 'connection closed'));
        this.pending.clear();
        if (this._reconnecting) return;   // the reconnection loop tries again
        if (this.reconnect && this._joined && !this._leaving && !this._over) {
          this._reconnectLoop();
          return;
        }
        this._closed();
      };
      this.ws.onmessage = (ev) => {
        let msg;
        try { msg = JSON.parse(ev.data); } catch { return; }
        this._onMessage(msg);
      };
    });
  }

  /** One request: resolves the result or rejects with a MediaserverError carrying the server's code. */
  request(method, params = {}) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new MediaserverError('closed', `not connected (${method})`));
    }
    const id = this.nextId++;
    this.ws.send(JSON.stringify({ id, method, params }));
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  _onMessage(msg) {
    if (msg.id !== undefined && msg.id !== null && this.pending.has(msg.id)) {
      const { resolve, reject } = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      if (msg.error) {
        const { code, message, ...detail } = msg.error;
        reject(new MediaserverError(code, message, 0, detail));
      } else resolve(msg.result);
      return;
    }
    if (!msg.method) {
      if (msg.error) this._fail(new MediaserverError(msg.error.code, msg.error.message));
      return;
    }
    const params = msg.params || {};
    if (msg.method === 'moved') {
      // issue 19: the node is drained, or gave the room up (its lease lost); the reconnection goes to another
      // of the live nodes
      if (this.info && this.info.cluster && Array.isArray(params.nodes) && params.nodes.length) {
        this.info.cluster.nodes = [...params.nodes];
      }
      if (this.ws) this.ws.close();
    } else if (msg.method === 'offer') {
      this._serial(() => this._answer(params.sdp)).catch((e) => this._fail(e));
    } else if (msg.method === 'interaction') {
      // one frame a tick: each new event re-dispatched under its own kind ('chat', 'hand', 'reactions', ...)
      const self = this.participant && this.participant.id;
      for (const e of this.interaction.receive(params.events, self)) {
        this.dispatchEvent(new CustomEvent(e.kind, { detail: e }));
      }
    } else {
      this._apply(msg.method, params);
    }
    this.dispatchEvent(new CustomEvent(msg.method, { detail: params }));
  }

  _fail(error) {
    this.dispatchEvent(new CustomEvent('error', { detail: { error } }));
  }

  _closed() {
    this.closed = true;
    this.stopSpeakerDetection();
    this.dispatchEvent(new Event('close'));
  }

  /**
   * The connection dropped while in the room: the media connections went with it (a restarted server
   * knows none of them). Join again with the same token, with exponential back-off (0.5 s doubling to
   * 10 s, with jitter) for up to reconnectFor ms, then send the same live tracks and receive again.
   * A refusal that waiting cannot change (the session ended, removed, a bad token) gives up at once.
   * In a cluster (issue 19) the join named the live nodes: each attempt goes to the next of them (its
   * node may be the one that died), a node that cannot take the room now (cluster_unavailable) or takes
   * no presenters (wrong_node: an edge; the presenters publish on the room's owner) is passed over, and
   * the first round over the nodes goes without back-off.
   */
  async _reconnectLoop() {
    this._reconnecting = true;
    const saved = this.publications.map((p) => ({
      quality: p.quality,
      tracks: p.tracks.filter((t) => t.track.readyState === 'live').map(({ track, source }) => ({ track, source })),
    })).filter((p) => p.tracks.length);
    const receiving = !!this.sub;
    const muted = { ...this.muted };   // what the person chose stays chosen
    for (const p of this.publications) p.pc.close();
    this.publications = [];
    this.pub = null;
    if (this.sub) { this.sub.close(); this.sub = null; }
    for (const [id, info] of this.remoteTracks) this.dispatchEvent(new CustomEvent('trackRemoved', { detail: { ...info, id } }));
    this.remoteTracks.clear();
    this._midTracks.clear();
    const started = Date.now();
    let refusal = null;
    const nodes = ((this.info && this.info.cluster && this.info.cluster.nodes) || []).map((u) => wsUrl(u));
    let at = nodes.indexOf(this.url);   // -1: this node is not among them (it was drained)
    const rotate = nodes.length > 1 || (nodes.length === 1 && at < 0);
    for (let attempt = 1; !this._leaving && Date.now() - started < this.reconnectFor; attempt++) {
      const round = rotate ? Math.floor((attempt - 1) / nodes.length) : attempt - 1;
      const delay = rotate && round === 0 ? 250 : Math.round(Math.min(10000, 500 * 2 ** round) * (0.75 + Math.random() * 0.5));
      if (rotate) { at = (at + 1) % nodes.length; this.url = nodes[at]; }
      this.dispatchEvent(new CustomEvent('reconnecting', { detail: { attempt, delay } }));
      await new Promise((r) => setTimeout(r, delay));
      if (this._leaving) break;
      try {
        await this.connect();
        const info = await this.request('join', { token: this.token, device: this.device });
        this._joinedWith(info);
        this.muted = muted;
        if (this.participant) this._setSelf({ ...this.participant, muted: { ...(this.participant.muted || {}), ...muted } });
        for (const p of saved) {
          const tracks = p.tracks.map((t) => t.track).filter((t) => t.readyState === 'live');
          if (!tracks.length) continue;
          const sources = Object.fromEntries(p.tracks.map((t) => [t.track.id, t.source]));
          await this._publishOnce(new MediaStream(tracks), { tracks, sources, screenQuality: p.quality })
            .catch((e) => { if (e && e.code === 'wrong_node') throw e; this._fail(e); });
        }
        if (receiving) await this.subscribe().catch((e) => this._fail(e));
        this._reconnecting = false;
        this.dispatchEvent(new CustomEvent('reconnected', { detail: { info } }));
        return;
      } catch (e) {
        const passing = ['network', 'closed', 'unavailable', 'internal', 'rate_limited', 'cluster_unavailable',
          'wrong_node', 'draining', 'node_full'];
        if (e && e.code && !passing.includes(e.code)) {
          refusal = e;
          break;
        }
        const ws = this.ws;
        if (ws && ws.readyState !== WebSocket.CLOSED) ws.close();
      }
    }
    this._reconnecting = false;
    if (refusal) this._fail(refusal);
    this._closed();
  }

  _serial(fn) {
    const next = this._sigChain.then(fn, fn);
    this._sigChain = next.catch(() => {});
    return next;
  }

  // Keep participants, tracks, room and own state current before the event reaches the application.
  _apply(method, p) {
    const idOf = (x) => (x && typeof x === 'object' ? x.id : x);
    switch (method) {
      case 'participantJoined':
      case 'participantUpdated':
        if (p.participant && p.participant.id) {
          const merged = { ...(this.participants.get(p.participant.id) || {}), ...p.participant };
          this.participants.set(merged.id, merged);
          if (this.participant && merged.id === this.participant.id) this._setSelf(merged);
        }
        break;
      case 'participantLeft':
        this.participants.delete(idOf(p.participant));
        for (const [id, t] of this.tracks) if (t.participant === idOf(p.participant)) this.tracks.delete(id);
        break;
      case 'trackPublished':
      case 'trackUpdated':
        if (p.track && p.track.id) this.tracks.set(p.track.id, { ...(this.tracks.get(p.track.id) || {}), ...p.track });
        break;
      case 'trackUnpublished': {
        const id = idOf(p.track);
        this.tracks.delete(id);
        const remote = this.remoteTracks.get(id);
        if (remote) {
          this.remoteTracks.delete(id);
          this.dispatchEvent(new CustomEvent('trackRemoved', { detail: { ...remote, id } }));
        }
        break;
      }
      case 'roomUpdated':
        if (p.room) this.room = { ...(this.room || {}), ...p.room };
        break;
      case 'admitted':
        // The server sends the room as the newcomer now sees it: {participant, room, participants, tracks}.
        if (p.room && typeof p.room === 'object') this.room = { ...(this.room || {}), ...p.room };
        if (Array.isArray(p.participants)) this.participants = new Map(p.participants.map((q) => [q.id, q]));
        if (Array.isArray(p.tracks)) this.tracks = new Map(p.tracks.map((t) => [t.id, t]));
        this._setSelf({ ...(this.participant || {}), ...(p.participant || {}), status: 'joined' });
        this.interaction.reset(p.interaction);
        break;
      case 'muted':
        if (p.kind) this._muteLocal(p.kind, true);
        break;
      case 'floorGranted':
        this._setSelf({ ...this.participant, canPublish: true });
        break;
      case 'roleChanged':
        // issue 17: the host made this person a presenter (or an attendee again): the room as the new role
        // sees it, {role, by, participant, room, participants, tracks, interaction}
        if (p.room && typeof p.room === 'object') this.room = { ...(this.room || {}), ...p.room };
        if (Array.isArray(p.participants)) this.participants = new Map(p.participants.map((q) => [q.id, q]));
        if (Array.isArray(p.tracks)) this.tracks = new Map(p.tracks.map((t) => [t.id, t]));
        this._setSelf({ ...(this.participant || {}), ...(p.participant || {}), role: p.role,
          canPublish: p.role !== 'attendee' });
        if (p.role === 'attendee') this._closePublications();
        this.interaction.reset(p.interaction);
        break;
      case 'floorRevoked':
        this._setSelf({ ...this.participant, canPublish: this.participant.role !== 'attendee' ? this.participant.canPublish : false });
        this._closePublications();
        break;
      case 'removed':
      case 'ended':
        this._over = true;
        this.stopSpeakerDetection();
        this._closePublications();
        if (this.sub) { this.sub.close(); this.sub = null; }
        break;
      default:
    }
  }

  _setSelf(d) {
    this.participant = d;
    if (d && d.id) this.participants.set(d.id, { ...(this.participants.get(d.id) || {}), ...d });
  }

  /**
   * join(token?, {device?}): connect and join. device: 'desktop' | 'mobile' (default: detected).
   * Resolves the join result {participant: {id, name, role, status, canPublish, muted}, room,
   * participants, tracks}; status 'lobby' / 'waiting' means wait for the 'admitted' event.
   */
  async join(token, { device } = {}) {
    if (token) this.token = token;
    this.device = device || (isMobile() ? 'mobile' : 'desktop');
    await this.connect();
    let info;
    try {
      info = await this.request('join', { token: this.token, device: this.device });
    } catch (e) {
      const to = e && e.code === 'node_full' && e.detail && Array.isArray(e.detail.nodes) && e.detail.nodes[0];
      if (!to) throw e;
      // issue 19, placement by load: this node of a cluster is full and names a less loaded one; the join
      // goes there, once (stay: that node takes us even if it filled up meanwhile)
      const full = this.ws;
      this.url = wsUrl(to);
      full.close();
      await this.connect();
      info = await this.request('join', { token: this.token, device: this.device, stay: true });
    }
    this._joinedWith(info);
    return info;
  }

  _joinedWith(info) {
    this._joined = true;
    this.info = info;
    if (info.device) this.device = info.device;   // the server's word: the client's, or its own finding
    const self = { status: 'joined', ...info.participant };
    if (self.canPublish === undefined) self.canPublish = self.role === 'host' || self.role === 'presenter';
    if (self.muted) this.muted = { audio: !!self.muted.audio, video: !!self.muted.video };
    this.room = typeof info.room === 'object' && info.room !== null ? info.room : { id: info.room };
    this.participants = new Map((info.participants || []).map((q) => [q.id, q]));
    this._setSelf(self);
    this.tracks = new Map((info.tracks || []).map((t) => [t.id, t]));
    this.interaction.reset(info.interaction);
  }

  /** True when other participants' tracks exist to receive. */
  hasRemoteTracks() {
    const me = this.participant && this.participant.id;
    for (const t of this.tracks.values()) if (t.participant !== me) return true;
    return false;
  }

  _sourceOf(track, options) {
    const s = options.sources || {};
    if (s[track.id]) return s[track.id];
    if (s[track.kind]) return s[track.kind];
    return track.kind === 'audio' ? 'microphone' : 'camera';
  }

  /**
   * publish(stream, {videoCodec?, sources?, screenQuality?, videoQuality?}): send the stream's tracks.
   * sources maps a track kind or track id to 'camera' | 'microphone' | 'screen' (default: microphone for
   * audio, camera for video). videoCodec: 'VP8' | 'VP9' | 'H264' | 'AV1' goes first in the offer.
   * Resolves the server's track descriptors; refusals reject with code forbidden, camera_limit,
   * not_on_mobile, ...
   */
  async publish(stream, options = {}) {
    try {
      return await this._publishOnce(stream, options);
    } catch (e) {
      if (!e || e.code !== 'conflict' || !this.publications.length) throw e;
      // The server keeps one publishing connection per participant: send everything on a new one.
      return this._republishWith(stream, options);
    }
  }

  async _republishWith(stream, options) {
    const old = [];
    for (const p of this.publications) {
      for (const t of p.tracks) if (t.track.readyState === 'live') old.push({ track: t.track, source: t.source });
    }
    const quality = options.screenQuality || (this.publications.find((p) => p.quality) || {}).quality;
    const added = options.tracks || stream.getTracks();
    const sources = {};
    for (const o of old) sources[o.track.id] = o.source;
    for (const t of added) sources[t.id] = this._sourceOf(t, options);
    const tracks = [...old.map((o) => o.track), ...added.filter((t) => !old.some((o) => o.track === t))];
    try { await this.request('unpublish', {}); } catch { /* nothing left */ }
    for (const p of this.publications) { for (const t of p.tracks) if (t.id) this.tracks.delete(t.id); p.pc.close(); }
    this.publications = [];
    this.pub = null;
    const all = new MediaStream(tracks);
    try {
      return await this._publishOnce(all, { ...options, tracks, sources, screenQuality: quality });
    } catch (e) {
      // Put back what was being sent before (without the new tracks), then report the refusal.
      if (old.length) {
        const back = old.map((o) => o.track);
        await this._publishOnce(new MediaStream(back), { ...options, tracks: back, sources, screenQuality: quality })
          .catch(() => {});
      }
      throw e;
    }
  }

  async _publishOnce(stream, options) {
    needWebRTC();
    const tracks = options.tracks || stream.getTracks();
    const pc = new RTCPeerConnection(PC_CONFIG);
    const entries = [];
    const screen = tracks.some((t) => this._sourceOf(t, options) === 'screen');
    const quality = screen ? options.screenQuality || 'high' : undefined;
    for (const track of tracks) {
      const source = this._sourceOf(track, options);
      let sendEncodings;
      if (track.kind === 'video') {
        const q = source === 'screen' ? SCREEN_QUALITY[quality] || SCREEN_QUALITY.high
          : VIDEO_QUALITY[options.videoQuality || this.videoQuality] || VIDEO_QUALITY.sd;
        // A camera goes out as simulcast (issue 5): the server forwards each viewer the layer that fits its
        // bandwidth and budget (R-MEDIA-3). A shared screen stays one high-quality layer.
        sendEncodings = source === 'screen'
          ? [{ maxBitrate: q.maxBitrate, maxFramerate: q.frameRate }]
          : cameraEncodings(q.maxBitrate);
      }
      const tr = pc.addTransceiver(track, { direction: 'sendonly', streams: [stream], ...(sendEncodings ? { sendEncodings } : {}) });
      if (track.kind === 'video' && options.videoCodec && tr.setCodecPreferences) {
        const all = RTCRtpSender.getCapabilities('video').codecs;
        const want = all.filter((c) => c.mimeType.toLowerCase() === `video/${options.videoCodec.toLowerCase()}`);
        if (!want.length) { pc.close(); throw new Error(`this browser cannot send ${options.videoCodec}`); }
        tr.setCodecPreferences([...want, ...all.filter((c) => !want.includes(c))]);
      }
      if (source !== 'screen' && this.muted[track.kind]) track.enabled = false;
      entries.push({ track, source, transceiver: tr });
    }
    try {
      await pc.setLocalDescription(await pc.createOffer());
      const sources = {};
      for (const e of entries) { e.mid = e.transceiver.mid; sources[e.mid] = e.source; }
      const params = { sdp: pc.localDescription.sdp, sources };
      if (screen) params.screenQuality = quality;
      const res = await this.request('publish', params);
      await pc.setRemoteDescription({ type: 'answer', sdp: this._filter(res.sdp) });
      const created = res.tracks || [];
      for (const t of created) {
        const e = entries.find((x) => !x.id && t.source && x.source === t.source && x.track.kind === t.kind)
          || entries.find((x) => !x.id && x.track.kind === t.kind);
        if (e) e.id = t.id;
        this.tracks.set(t.id, { source: e ? e.source : undefined, ...t });
      }
      const publication = { pc, stream, quality,
        tracks: entries.map(({ track, source, mid, id }) => ({ track, source, mid, id })) };
      this.publications.push(publication);
      if (!this.pub) this.pub = pc;
      pc.addEventListener('connectionstatechange', () => {
        if (pc.connectionState === 'failed' && this.publications.includes(publication)) {
          this._fail(new MediaserverError('ice_failed', 'the publishing connection failed'));
        }
      });
      // Tell the server about mutes chosen before (or while) publishing.
      for (const kind of ['audio', 'video']) {
        if (this.muted[kind] && entries.some((e) => e.track.kind === kind && e.source !== 'screen')) {
          this.request('mute', { kind, muted: true }).catch(() => {});
        }
      }
      return created;
    } catch (e) {
      pc.close();
      throw e;
    }
  }

  /** The local tracks being sent for a source ('camera' | 'microphone' | 'screen'). */
  localTracks(source) {
    const out = [];
    for (const p of this.publications) for (const t of p.tracks) if (!source || t.source === source) out.push(t.track);
    return out;
  }

  /**
   * Swap the camera or microphone being sent for another (e.g. after a device change) with no
   * renegotiation. Returns true when a sender took the new track.
   */
  async replaceTrack(source, track) {
    for (const p of this.publications) {
      for (const t of p.tracks) {
        if (t.source !== source) continue;
        const sender = p.pc.getSenders().find((s) => s.track === t.track || (t.mid !== undefined && s === (p.pc.getTransceivers().find((x) => x.mid === t.mid) || {}).sender));
        if (!sender) continue;
        track.enabled = !this.muted[track.kind];
        await sender.replaceTrack(track);
        t.track = track;
        return true;
      }
    }
    return false;
  }

  /**
   * Set the camera's quality level ('sd' or 'hd', R-MEDIA-4): the bitrate cap of the camera being sent
   * now and of later publications. (Capture size is the caller's: openMedia({quality}) + replaceTrack.)
   */
  async setVideoQuality(quality) {
    const q = VIDEO_QUALITY[quality] || VIDEO_QUALITY.sd;
    this.videoQuality = VIDEO_QUALITY[quality] ? quality : 'sd';
    for (const p of this.publications) {
      for (const t of p.tracks) {
        if (t.source !== 'camera') continue;
        const tr = p.pc.getTransceivers().find((x) => x.mid === t.mid);
        if (!tr) continue;
        const params = tr.sender.getParameters();
        if (!params.encodings || !params.encodings.length) continue;
        const want = cameraEncodings(q.maxBitrate);
        params.encodings.forEach((e, i) => {
          e.maxBitrate = (want.find((w) => w.rid === e.rid) || want[want.length - 1]).maxBitrate;
        });
        await tr.sender.setParameters(params);
      }
    }
  }

  /**
   * Share the screen, a window or a tab (R-MEDIA-7) in quality 'high' (HighQ) or 'lite' (LiteQ).
   * Refused on mobile devices (code not_on_mobile). Resolves the screen MediaStream; when the user stops
   * sharing from the browser's own UI the share is unpublished and 'screenEnded' is dispatched.
   */
  async shareScreen(quality = 'high') {
    if (isMobile() || this.device === 'mobile') throw new MediaserverError('not_on_mobile', 'screen sharing is not available on mobile devices');
    if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) {
      throw new MediaserverError('not_supported', 'this browser cannot share the screen');
    }
    needWebRTC();                 // before the browser asks which screen to share
    if (this.sharingScreen) throw new MediaserverError('conflict', 'already sharing the screen');
    const q = SCREEN_QUALITY[quality] ? quality : 'high';
    const spec = SCREEN_QUALITY[q];
    const stream = await navigator.mediaDevices.getDisplayMedia({
      video: { width: { max: spec.width }, height: { max: spec.height }, frameRate: { ideal: spec.frameRate, max: spec.frameRate } },
      audio: false,
    });
    const [track] = stream.getVideoTracks();
    if (track && 'contentHint' in track) track.contentHint = spec.contentHint;
    try {
      await this.publish(stream, { sources: { video: 'screen' }, screenQuality: q });
    } catch (e) {
      stream.getTracks().forEach((t) => t.stop());
      throw e;
    }
    if (track) {
      track.addEventListener('ended', () => {
        this.stopScreen().finally(() => this.dispatchEvent(new CustomEvent('screenEnded')));
      });
    }
    return stream;
  }

  /** Stop sharing the screen. */
  async stopScreen() {
    await this._unpublishWhere((t) => t.source === 'screen');
  }

  /** Stop sending the camera and microphone (e.g. when the floor is given back). */
  async unpublishMedia() {
    await this._unpublishWhere((t) => t.source !== 'screen');
  }

  /** True while a screen share is being sent. */
  get sharingScreen() {
    return this.publications.some((p) => p.tracks.some((t) => t.source === 'screen'));
  }

  async _unpublishWhere(pred) {
    for (const p of [...this.publications]) {
      const gone = p.tracks.filter(pred);
      if (!gone.length) continue;
      const whole = gone.length === p.tracks.length;
      for (const t of gone) {
        if (t.id) {
          this.tracks.delete(t.id);
          try { await this.request('unpublish', { track: t.id }); } catch { /* already gone */ }
        }
        if (!whole) {
          const tr = p.pc.getTransceivers().find((x) => x.mid === t.mid);
          if (tr) await tr.sender.replaceTrack(null).catch(() => {});
        }
        if (t.source === 'screen') t.track.stop();
      }
      p.tracks = p.tracks.filter((t) => !gone.includes(t));
      if (whole) {
        p.pc.close();
        this.publications = this.publications.filter((x) => x !== p);
        if (this.pub === p.pc) this.pub = this.publications.length ? this.publications[0].pc : null;
      }
    }
  }

  _closePublications() {
    for (const p of this.publications) {
      for (const t of p.tracks) {
        if (t.id) this.tracks.delete(t.id);
        if (t.source === 'screen') t.track.stop();
      }
      p.pc.close();
    }
    this.publications = [];
    this.pub = null;
  }

  _muteLocal(kind, muted) {
    this.muted = { ...this.muted, [kind]: muted };
    for (const p of this.publications) {
      for (const t of p.tracks) if (t.track.kind === kind && t.source !== 'screen') t.track.enabled = !muted;
    }
    if (this.participant) this._setSelf({ ...this.participant, muted: { ...(this.participant.muted || {}), [kind]: muted } });
  }

  /**
   * mute('audio' | 'video', muted): turn own microphone / camera off or on. The local track is disabled
   * at once and the server stops forwarding it. Rejects (and restores the state) on refusal.
   */
  async mute(kind, muted = true) {
    const before = this.muted[kind];
    this._muteLocal(kind, muted);
    if (!this.publications.some((p) => p.tracks.some((t) => t.track.kind === kind && t.source !== 'screen'))) return;
    try {
      await this.request('mute', { kind, muted });
    } catch (e) {
      if (e.code === 'unknown_method') return;   // an older server: the disabled track is enough
      this._muteLocal(kind, before);
      throw e;
    }
  }

  /**
   * subscribe(): receive the others' tracks. The server renegotiates (offer notifications) as tracks
   * come and go. Resolves true when an offer was answered, false when there was nothing to receive yet
   * (the connection is then ready and the server's offer arrives with the first track).
   */
  async subscribe() {
    this._ensureSub();
    try {
      const res = await this.request('subscribe');
      await this._serial(() => this._answer(res.sdp));
      return true;
    } catch (e) {
      if (e.code === 'nothing_to_subscribe') return false;
      throw e;
    }
  }

  _ensureSub() {
    if (this.sub) return this.sub;
    needWebRTC();
    const pc = this.sub = new RTCPeerConnection(PC_CONFIG);
    pc.ontrack = (ev) => {
      const stream = ev.streams[0] || new MediaStream([ev.track]);
      const mid = ev.transceiver && ev.transceiver.mid;
      const id = this._midTracks.get(mid) || ev.track.id;
      const descriptor = this.tracks.get(id);
      this.remoteStreams.set(stream.id, stream);
      const info = { track: ev.track, stream, mid, id, descriptor };
      this.remoteTracks.set(id, info);
      this.dispatchEvent(new CustomEvent('track', { detail: {
        ...info, participant: descriptor && descriptor.participant, source: descriptor && descriptor.source,
      } }));
    };
    pc.addEventListener('connectionstatechange', () => {
      if (pc.connectionState === 'failed') this._fail(new MediaserverError('ice_failed', 'the receiving connection failed'));
    });
    return pc;
  }

  async _answer(sdp) {
    const pc = this._ensureSub();
    for (const [mid, m] of parseMsids(sdp)) if (m.trackId) this._midTracks.set(mid, m.trackId);
    await pc.setRemoteDescription({ type: 'offer', sdp: this._filter(sdp) });
    await pc.setLocalDescription(await pc.createAnswer());
    await this.request('answer', { sdp: pc.localDescription.sdp });
  }

  _filter(sdp) {
    if (this.options.iceTransport !== 'tcp') return sdp;
    return sdp.split('\r\n').filter((l) => !(l.startsWith('a=candidate:') && / udp /i.test(l))).join('\r\n');
  }

  /**
   * setAvatar(image): a picture shown instead of a camera (R-MEDIA-6). image: a data: URL (PNG, JPEG or
   * WebP, at most 160 KiB; see avatarDataUrl()) or null to remove it. Resolves the picture's URL.
   */
  async setAvatar(image) {
    const res = await this.request('setAvatar', { image });
    if (this.participant) this._setSelf({ ...this.participant, avatar: res.avatar || null });
    return res.avatar || null;
  }

  /** A square JPEG data: URL of at most `size` pixels from an image File/Blob (for setAvatar). */
  static async avatarDataUrl(file, size = 256) {
    const bitmap = await createImageBitmap(file);
    const side = Math.min(bitmap.width, bitmap.height);
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = Math.min(size, side);
    canvas.getContext('2d').drawImage(bitmap, (bitmap.width - side) / 2, (bitmap.height - side) / 2, side, side,
      0, 0, canvas.width, canvas.height);
    bitmap.close();
    return canvas.toDataURL('image/jpeg', 0.85);
  }

  /** host(action, params): a host command (start, setAudioMode, grantFloor, revokeFloor, lock, unlock, end, remove, setCapacity, setLanguage). */
  host(action, params = {}) {
    return this.request('host', { action, ...params });
  }

  // ---- interaction (issue 16): the state is `this.interaction`, the events are dispatched by kind ----

  /** interact(method, params): any interaction command of the protocol (docs/signaling.md). */
  interact(method, params = {}) {
    return this.request(method, params);
  }

  /** A chat message (R-INT-1): to everyone, or `to: 'staff'` (privately to the host and presenters), or (the
   * staff) `to: participantId`, a private reply. Resolves {id, seq}. */
  sendChat(text, { to } = {}) {
    return this.request('chat.send', to ? { text, to } : { text });
  }

  /** The host or a presenter removes a message. */
  deleteChat(id) { return this.request('chat.delete', { id }); }

  /** The host turns the attendees' chat on or off. */
  setChatEnabled(enabled) { return this.request('chat.setEnabled', { enabled }); }

  /** The host stops (or lets again) one person writing. */
  silence(participant, silenced = true) { return this.request('chat.silence', { participant, silenced }); }

  /** An attendee asks for the floor; resolves {raised, position, ticket, seq}; `interaction.hands.position`
   *  then follows the queue ('handDone' events). */
  async raiseHand() {
    const reply = await this.request('hand.raise');
    this.interaction.handRaised(reply);
    return reply;
  }

  /** Lower one's own hand, or (the staff) someone's. */
  lowerHand(participant) { return this.request('hand.lower', participant ? { participant } : {}); }

  /** One of `REACTIONS`. */
  react(emoji) { return this.request('react', { emoji }); }

  // ---- Q&A (R-INT-2): the state is `this.interaction.qa` ----

  /** The host opens Q&A mode; questions are asked while it is open. */
  openQA() { return this.request('qa.open'); }

  /** The host closes Q&A mode, which ends it: the list, the votes and the published question go. Resolves
   * {open: false, questions: n}. */
  closeQA() { return this.request('qa.close'); }

  /** Ask: `askQuestion('text')`, or mark a chat message as a question: `askQuestion({message: id})` (an
   * attendee their own message; the host or a presenter anyone's). Resolves {id, seq}. */
  askQuestion(what) {
    return this.request('qa.ask', typeof what === 'string' ? { text: what } : { message: what.message });
  }

  /** One upvote per person (idempotent); `up = false` takes it back. Resolves {id, votes, voted}. */
  async upvote(id, up = true) {
    const r = await this.request('qa.upvote', { id, up });
    if (r.voted) this.interaction.qa.voted.add(id);
    else this.interaction.qa.voted.delete(id);
    return r;
  }

  /** The host or a presenter marks a question answered / dismisses it. Resolves {id, state}. */
  answerQuestion(id) { return this.request('qa.answer', { id }); }

  dismissQuestion(id) { return this.request('qa.dismiss', { id }); }

  /** The host puts a question on everyone's main window / takes it down. */
  publishQuestion(id) { return this.request('qa.publish', { id }); }

  unpublishQuestion() { return this.request('qa.unpublish'); }

  // ---- the call to action (R-INT-4): the state is `this.interaction.cta` ----

  /** The host pops one up: `text` at most 54 characters (spaces included), a button label, an http(s) URL,
   * `seconds` to close it by itself (absent: until closed). Resolves {id, seq}. */
  showCta({ text, button, url, seconds } = {}) {
    return this.request('cta.show', seconds ? { text, button, url, seconds } : { text, button, url });
  }

  /** The host closes it. Resolves {closed, clicks}. */
  closeCta() { return this.request('cta.close'); }

  /** The attendee pressed the button: counted once per person. Resolves {counted, url}; the page opens `url`
   * (in a new tab, so the room stays). */
  async clickCta() {
    const current = this.interaction.cta.current;
    const r = await this.request('cta.click', current ? { id: current.id } : {});
    this.interaction.cta.clicked = true;
    return r;
  }
  /** The host or a presenter opens one of the event's saved polls or tests (R-INT-3) by its id (the API's
   * `/api/v1/events/{id}/polls`); resolves the poll as the staff see it: {launch, poll, name, type, state,
   * questions, correct (a test's)}. One poll is open at a time. */
  launchPoll(pollId) { return this.request('poll.launch', { poll: pollId }); }

  /** The host or a presenter lists the event's saved polls and tests to launch one: resolves
   * {polls: [{id, name, kind: "poll"|"test", questions (how many)}]}. */
  listPolls() { return this.request('poll.list'); }

  /** The host or a presenter closes the open poll; resolves its final results. */
  closePoll() { return this.request('poll.close'); }

  /** Answer the open poll, once: `answers` is a list of {question, options: [optionId...]} (single and
   * multiple choice) or {question, text} (short answer, at most 500 characters). Resolves {launch, recorded}
   * and, for a test, {score, maxScore}. */
  async answerPoll(answers) {
    const launch = this.interaction.polls.poll && this.interaction.polls.poll.launch;
    const got = await this.request('poll.answer', launch ? { launch, answers } : { answers });
    this.interaction.polls.answered = true;
    this.interaction.polls.mine = { answers, ...got };
    return got;
  }

  /** The host or a presenter shows the results (of the open or last closed poll) to everyone, or hides them. */
  showPollResults(shown = true) { return this.request('poll.showResults', { shown }); }

  // ---- the document on the stage (issue 17, R-MEDIA-8): `interaction.doc`, the 'doc' event ----

  /** The host or a presenter shows a file of the room (a PDF, or an office document once converted) to
   *  everyone, at page 1; resolves {doc: {id, file: {id, name, url, pages}, page, zoom, free, by, at}}. */
  showDocument(fileId) { return this.request('doc.show', { file: fileId }); }

  /** Everyone to page `n` (1-based). */
  documentPage(n) { return this.request('doc.page', { page: n }); }

  /** The scale everyone sees, 0.25 to 4 (1: the page fits the stage). */
  documentZoom(zoom) { return this.request('doc.zoom', { zoom }); }

  /** Whether attendees may browse the document on their own (off: everyone back to the presenter's page). */
  documentFree(free) { return this.request('doc.free', { free }); }

  /** The document leaves the stage. */
  stopDocument() { return this.request('doc.stop'); }

  /** The host or a presenter puts the whiteboard on everyone's stage (taking a document or a video off it), or
   *  takes it off (`false`); everyone gets 'boardShown' {shown} and `interaction.board.shown`. */
  showBoard(shown = true) { return this.request('board.show', { shown }); }
  // ---- the shared video player (issue 17): the state is `this.interaction.player.state`, event 'player' ----

  /**
   * Play a video to everyone (the host and presenters): `{file: id}` (a video file of the event's room) or
   * `{youtube: 'id or link'}`; from `position` seconds, playing unless `playing` is false. Resolves the new
   * state. Refusals: forbidden, not_found, not_video, bad_youtube, youtube_off, bad_position, bad_rate, no_event.
   */
  playVideo(source, { position = 0, playing = true, rate } = {}) {
    const params = { ...source, position, playing };
    if (rate !== undefined) params.rate = rate;
    return this.request('player.load', params);
  }

  /** Play on (from `position` seconds when given). */
  resumeVideo(position) { return this.request('player.play', position === undefined ? {} : { position }); }

  /** Pause (at `position` seconds when given: the presenter's own frame). */
  pauseVideo(position) { return this.request('player.pause', position === undefined ? {} : { position }); }

  /** Go to `position` seconds, playing or paused as it was. */
  seekVideo(position) { return this.request('player.seek', { position }); }

  /** The playback rate for everyone (0.25 to 2). */
  setVideoRate(rate) { return this.request('player.rate', { rate }); }

  /** Take the video off the stage. */
  stopVideo() { return this.request('player.stop'); }

  /**
   * Estimate this client's clock offset to the server's (NTP-style): `samples` time.sync round trips, the one
   * with the shortest round trip kept. Sets and resolves {offset, rtt} (ms); serverNow() uses it.
   */
  async syncClock(samples = 5) {
    let best = null;
    for (let i = 0; i < samples; i++) {
      const t0 = performance.timeOrigin + performance.now();
      const { now } = await this.request('time.sync');
      const t1 = performance.timeOrigin + performance.now();
      if (!best || t1 - t0 < best.rtt) best = { rtt: t1 - t0, offset: now - (t0 + t1) / 2 };
    }
    this.clock = best;
    return best;
  }

  /** The server's time now (ms), by the last syncClock() (the local clock until then). */
  serverNow() {
    return performance.timeOrigin + performance.now() + (this.clock ? this.clock.offset : 0);
  }

  /** Where the shared video should be now (seconds; null when nothing is loaded). */
  videoPosition(state = this.interaction.player.state) { return playerPosition(state, this.serverNow()); }

  // ---- active speaker ----

  /** {participantId: level 0..1}: received audio levels (inbound-rtp audioLevel), own microphone included. */
  async audioLevels() {
    const levels = {};
    const me = this.participant && this.participant.id;
    if (this.sub) {
      const report = await this.sub.getStats();
      report.forEach((s) => {
        if (s.type !== 'inbound-rtp' || s.kind !== 'audio' || typeof s.audioLevel !== 'number') return;
        const tid = this._midTracks.get(s.mid) || s.trackIdentifier;
        const t = this.tracks.get(tid);
        if (!t) return;
        levels[t.participant] = Math.max(levels[t.participant] || 0, s.audioLevel);
      });
    }
    if (me && !this.muted.audio) {
      for (const p of this.publications) {
        const report = await p.pc.getStats();
        report.forEach((s) => {
          if (s.type === 'media-source' && s.kind === 'audio' && typeof s.audioLevel === 'number') {
            levels[me] = Math.max(levels[me] || 0, s.audioLevel);
          }
        });
      }
    }
    return levels;
  }

  /** The participant id speaking now (or null), from audioLevels() and pickSpeaker(). */
  async activeSpeaker(options = {}) {
    const levels = await this.audioLevels();
    this._speaker = pickSpeaker(levels, this._speaker, options);
    return { participant: this._speaker, levels };
  }

  /**
   * Poll the levels every `interval` ms and dispatch 'activeSpeaker' {participant, levels} when the
   * speaker changes (a speaker stays highlighted for `hold` ms after falling silent).
   */
  startSpeakerDetection({ interval = 400, hold = 1200, threshold = 0.02 } = {}) {
    this.stopSpeakerDetection();
    let last = null;
    let lastHeard = 0;
    const tick = async () => {
      try {
        const levels = await this.audioLevels();
        const now = Date.now();
        let speaker = pickSpeaker(levels, last, { threshold });
        if (speaker) lastHeard = now;
        else if (last && now - lastHeard < hold) speaker = last;
        this._speaker = speaker;
        if (speaker !== last) {
          last = speaker;
          this.dispatchEvent(new CustomEvent('activeSpeaker', { detail: { participant: speaker, levels } }));
        }
      } catch { /* connection closing */ }
    };
    this._speakerTimer = setInterval(tick, interval);
  }

  stopSpeakerDetection() {
    if (this._speakerTimer) clearInterval(this._speakerTimer);
    this._speakerTimer = null;
  }

  /** Leave the room (a host's leave keeps the room open); closes the peer connections at once. */
  async leave() {
    this._leaving = true;
    this.stopSpeakerDetection();
    const open = this.ws && this.ws.readyState === WebSocket.OPEN;
    const bye = open ? this.request('leave').catch(() => { /* already gone */ }) : null;
    for (const p of this.publications) {
      p.pc.close();
      p.tracks.forEach((t) => t.source === 'screen' && t.track.stop());
    }
    this.publications = [];
    if (this.pub) this.pub.close();
    this.pub = null;
    if (this.sub) this.sub.close();
    this.sub = null;
    if (bye) await Promise.race([bye, new Promise((r) => setTimeout(r, 2000))]);
    if (this.ws) this.ws.close();
  }
}

export default MediaserverClient;
