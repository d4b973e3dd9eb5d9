// Browser client for the mediaserver signaling protocol (docs/signaling.md).
// One RTCPeerConnection publishes (client offers); another receives (server offers, renegotiated).
export class MediaserverClient extends EventTarget {
  // options.iceTransport: 'tcp' keeps only the server's ICE-TCP candidates, as a client whose UDP is
  // blocked would end up using.
  constructor(url, token, options = {}) {
    super();
    this.options = options;
    this.url = url;
    this.token = token;
    this.nextId = 1;
    this.pending = new Map();
    this.pub = null;
    this.sub = null;
    this.remoteStreams = new Map();
  }

  connect() {
    return new Promise((resolve, reject) => {
      this.ws = new WebSocket(this.url);
      this.ws.onopen = () => resolve();
      this.ws.onerror = (e) => reject(new Error('websocket error'));
      this.ws.onclose = () => {
        for (const { reject } of this.pending.values()) reject(new Error('connection closed'));
        this.pending.clear();
        this.dispatchEvent(new Event('close'));
      };
      this.ws.onmessage = (ev) => this._onMessage(JSON.parse(ev.data));
    });
  }

  request(method, params = {}) {
    const id = this.nextId++;
    this.ws.send(JSON.stringify({ id, method, params }));
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  async _onMessage(msg) {
    if (msg.id !== undefined && this.pending.has(msg.id)) {
      const { resolve, reject } = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      if (msg.error) reject(Object.assign(new Error(msg.error.message), { code: msg.error.code }));
      else resolve(msg.result);
      return;
    }
    if (msg.method === 'offer') {
      await this._answer(msg.params.sdp);
      return;
    }
    if (msg.method) this.dispatchEvent(new CustomEvent(msg.method, { detail: msg.params }));
  }

  async join() {
    await this.connect();
    this.info = await this.request('join', { token: this.token });
    return this.info;
  }

  // options.videoCodec: 'VP8', 'VP9', 'H264' or 'AV1' puts that codec first in the offer.
  async publish(stream, options = {}) {
    this.pub = new RTCPeerConnection({ bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    for (const track of stream.getTracks()) {
      const tr = this.pub.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
      if (track.kind === 'video' && options.videoCodec && tr.setCodecPreferences) {
        const all = RTCRtpSender.getCapabilities('video').codecs;
        const want = all.filter((c) => c.mimeType.toLowerCase() === `video/${options.videoCodec.toLowerCase()}`);
        if (!want.length) throw new Error(`this browser cannot send ${options.videoCodec}`);
        tr.setCodecPreferences([...want, ...all.filter((c) => !want.includes(c))]);
      }
    }
    const offer = await this.pub.createOffer();
    await this.pub.setLocalDescription(offer);
    const res = await this.request('publish', { sdp: this.pub.localDescription.sdp });
    await this.pub.setRemoteDescription({ type: 'answer', sdp: this._filter(res.sdp) });
    return res.tracks;
  }

  async subscribe() {
    this.sub = new RTCPeerConnection({ bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    this.sub.ontrack = (ev) => {
      const stream = ev.streams[0] || new MediaStream([ev.track]);
      this.remoteStreams.set(stream.id, stream);
      this.dispatchEvent(new CustomEvent('track', { detail: { track: ev.track, stream } }));
    };
    const res = await this.request('subscribe');
    await this._answer(res.sdp);
  }

  async _answer(sdp) {
    await this.sub.setRemoteDescription({ type: 'offer', sdp: this._filter(sdp) });
    const answer = await this.sub.createAnswer();
    await this.sub.setLocalDescription(answer);
    await this.request('answer', { sdp: this.sub.localDescription.sdp });
  }

  // Closes the peer connections at once (also from a pagehide handler, where nothing can be awaited).
  _filter(sdp) {
    if (this.options.iceTransport !== 'tcp') return sdp;
    return sdp.split('\r\n').filter((l) => !(l.startsWith('a=candidate:') && / udp /i.test(l))).join('\r\n');
  }

  async leave() {
    const open = this.ws && this.ws.readyState === WebSocket.OPEN;
    const bye = open ? this.request('leave').catch(() => { /* already gone */ }) : null;
    if (this.pub) this.pub.close();
    if (this.sub) this.sub.close();
    if (bye) await Promise.race([bye, new Promise((r) => setTimeout(r, 2000))]);
    if (this.ws) this.ws.close();
  }

  // Publish over WHIP (RFC 9725) instead of the WebSocket.
  static async whip(base, room, token, stream) {
    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((r) => { if (pc.iceGatheringState === 'complete') r(); else pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r(); setTimeout(r, 2000); });
    const res = await fetch(`${base}/whip/${room}`, { method: 'POST', body: pc.localDescription.sdp,
      headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` } });
    if (res.status !== 201) throw new Error(`WHIP failed: ${res.status} ${await res.text()}`);
    const location = res.headers.get('Location');
    await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
    return { pc, location };
  }
}
