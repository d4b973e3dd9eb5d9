# cython: language_level=3
"""The one surface the Python side uses to drive the native media core.

A :class:`Worker` owns one UDP port and one thread that does all per-packet work in C. Python calls
take the worker lock without the GIL; events (ICE, DTLS, closed consumers) come back through an
eventfd that the asyncio loop watches, so Python is woken per control event, never per packet.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int16_t, int32_t, int64_t
from libc.string cimport memset, strncpy
from posix.unistd cimport usleep, useconds_t

from native._core_decl cimport *


def latency_bucket_bounds(int b):
    """[lo, hi) in microseconds of latency-histogram bucket b (see worker.h)."""
    if b < 8:
        return b, b + 1
    e = (b + 4) // 4
    lo = (4 + (b + 4) % 4) << (e - 2)
    return lo, lo + (1 << (e - 2))


DROP_REASONS = (
    "stun_malformed", "stun_auth", "stun_unknown_ufrag", "unknown_address", "dtls", "not_ready", "srtp_auth",
    "srtp_replay", "rtp_malformed", "rtcp_malformed", "unknown_ssrc", "duplicate", "unknown_type", "too_big",
    "unknown_payload_type", "send_failed", "too_old",
)
EVENT_NAMES = {1: "ice", 2: "dtls", 3: "consumer_closed", 4: "producer_ssrc", 5: "notice"}
ICE_STATES = {0: "new", 1: "connected", 2: "disconnected"}
DTLS_STATES = {0: "new", 1: "connecting", 2: "connected", 3: "failed", 4: "closed"}
CODECS = {"opus": 1, "vp8": 2, "vp9": 3, "h264": 4, "av1": 5}
# The NACK budget of every consumer (worker.h, MS_RTX_*; issue 14 finding 10).
RTX_BUDGET = {
    "per_rtcp": MS_RTX_PER_RTCP,
    "rtt_min_us": MS_RTX_RTT_MIN_US,
    "rtt_max_us": MS_RTX_RTT_MAX_US,
    "rtt_default_us": MS_RTX_RTT_DEFAULT_US,
    "share_pct": MS_RTX_SHARE_PCT,
    "floor_bytes": MS_RTX_FLOOR_BYTES,
    "burst_ms": MS_RTX_BURST_MS,
    "overhead": MS_RTX_OVERHEAD,
}
EXTENSIONS = ("mid", "rid", "rrid", "abs_send_time", "twcc", "audio_level", "playout_delay")


class NativeError(RuntimeError):
    """A request the media core refused (unknown id, duplicate SSRC, bad credentials ...)."""


cdef bytes _b(s):
    return s.encode() if isinstance(s, str) else bytes(s)


cdef int _fill_map(uint8_t *arr, dict m, uint8_t default) except -1:
    """A payload-type table: keys and values are 7-bit payload types."""
    memset(arr, default, MS_PT_COUNT)
    for k, v in m.items():
        if not (0 <= k < MS_PT_COUNT and 0 <= v < MS_PT_COUNT):
            raise ValueError(f"payload types are 0..127, got {k} -> {v}")
        arr[k] = v
    return 0


cdef uint8_t _ext_id(dict extensions, str name) except? 255:
    cdef int v = extensions.get(name, 0)
    if not 0 <= v <= 14:
        raise ValueError(f"header extension {name!r}: one-byte ids are 1..14, got {v}")
    return v


cdef class Worker:
    """One media worker: a UDP port, a packet thread and the transports, producers and consumers on it."""
    cdef ms_worker_t *w

    def __cinit__(self, str ip="127.0.0.1", int port=0):
        cdef char err[256]
        cdef bytes bip = ip.encode()
        cdef const char *cip = bip
        with nogil:
            self.w = ms_worker_new(cip, port, err, 256)
        if self.w == NULL:
            raise OSError(err.decode())

    def __dealloc__(self):
        if self.w != NULL:
            with nogil:
                ms_worker_free(self.w)
            self.w = NULL

    cdef void _check(self) except *:
        if self.w == NULL:
            raise NativeError("worker is closed")

    def start(self):
        self._check()
        if ms_worker_start(self.w) != 0:
            raise NativeError("could not start the worker thread")

    def set_cpu(self, int cpu):
        """Run the started worker's thread on CPU ``cpu`` only (issue 18: one worker per core)."""
        self._check()
        if ms_worker_set_cpu(self.w, cpu) != 0:
            raise NativeError(f"could not pin the worker to CPU {cpu}")

    def close(self):
        if self.w != NULL:
            with nogil:
                ms_worker_free(self.w)
            self.w = NULL

    @property
    def port(self) -> int:
        self._check()
        return ms_worker_port(self.w)

    @property
    def gso(self) -> bool:
        """Whether bursts to one destination go out as one UDP GSO message."""
        self._check()
        return bool(ms_worker_gso_enabled(self.w))

    @gso.setter
    def gso(self, bint on):
        self._check()
        with nogil:
            ms_worker_lock(self.w)
            ms_worker_set_gso(self.w, on)
            ms_worker_unlock(self.w)

    def set_consent_timeout(self, double seconds):
        """How long a transport may go without a valid binding request before it is disconnected."""
        self._check()
        cdef uint64_t us = <uint64_t>(seconds * 1e6)
        with nogil:
            ms_worker_lock(self.w)
            ms_worker_set_consent_timeout(self.w, us)
            ms_worker_unlock(self.w)

    @property
    def tcp_enabled(self) -> bool:
        """Whether ICE-TCP (RFC 6544) listens on the same port number."""
        self._check()
        return bool(ms_worker_tcp_enabled(self.w))

    @property
    def fingerprint(self) -> str:
        """SHA-256 fingerprint of the worker's DTLS certificate, as SDP writes it."""
        self._check()
        return ms_worker_fingerprint(self.w).decode()

    def fileno(self) -> int:
        """The eventfd that becomes readable when events are waiting."""
        self._check()
        return ms_worker_eventfd(self.w)

    def poll_events(self) -> list:
        """Drain pending events as (name, id, a, b, text) tuples."""
        self._check()
        cdef ms_event_t evs[256]
        cdef int n
        out = []
        while True:
            with nogil:
                ms_worker_lock(self.w)
                n = ms_worker_poll_events(self.w, evs, 256)
                ms_worker_unlock(self.w)
            for i in range(n):
                out.append((EVENT_NAMES.get(evs[i].type, "?"), evs[i].id, evs[i].a, evs[i].b,
                            evs[i].text.decode(errors="replace")))
            if n < 256:
                return out

    def stats(self) -> dict:
        self._check()
        cdef ms_stats_t s
        with nogil:
            ms_worker_lock(self.w)
            ms_worker_stats(self.w, &s)
            ms_worker_unlock(self.w)
        d = {k: v for k, v in s.items() if k != "drops"}
        d["drops"] = {DROP_REASONS[i]: s.drops[i] for i in range(len(DROP_REASONS))}
        return d

    def create_transport(self, str ufrag, str pwd, bint dtls_client, str fp_alg, bytes fingerprint) -> int:
        """A server transport (ICE-lite) on the worker's shared port; returns its id."""
        self._check()
        cdef char err[256]
        cdef bytes bu = ufrag.encode(), bp = pwd.encode(), ba = fp_alg.encode()
        cdef const char *cu = bu
        cdef const char *cp = bp
        cdef const char *ca = ba
        cdef const uint8_t *cf = fingerprint
        cdef int fl = len(fingerprint), r
        with nogil:
            ms_worker_lock(self.w)
            r = ms_transport_create(self.w, cu, cp, dtls_client, ca, cf, fl, err, 256)
            ms_worker_unlock(self.w)
        if r < 0:
            raise NativeError(err.decode())
        return r

    def set_transport_dtls(self, uint32_t tid, bint dtls_client, str fp_alg, bytes fingerprint):
        """The peer's DTLS role and fingerprint, for a transport made with an empty fingerprint."""
        self._check()
        cdef char err[256]
        cdef bytes ba = fp_alg.encode()
        cdef const char *ca = ba
        cdef const uint8_t *cf = fingerprint
        cdef int fl = len(fingerprint), r
        with nogil:
            ms_worker_lock(self.w)
            r = ms_transport_set_dtls(self.w, tid, dtls_client, ca, cf, fl, err, 256)
            ms_worker_unlock(self.w)
        if r < 0:
            raise NativeError(err.decode())

    def create_client_transport(self, str remote_ip, int remote_port, str local_ufrag, str remote_ufrag,
                                str remote_pwd, str fp_alg, bytes fingerprint, int sink_abs_ext=0,
                                str local_ip="127.0.0.1", bint relay=False) -> int:
        """A client transport with its own socket on local_ip (controlling ICE, DTLS client). Without relay it
        sinks what it receives (tests and the bench: counted, :meth:`capture`); with relay, producers made on
        it take the packets in and forward them to this worker's consumers (a cluster edge's link)."""
        self._check()
        cdef char err[256]
        cdef bytes bli = local_ip.encode()
        cdef const char *cli = bli
        cdef bytes bi = remote_ip.encode(), bl = local_ufrag.encode(), bu = remote_ufrag.encode()
        cdef bytes bp = remote_pwd.encode(), ba = fp_alg.encode()
        cdef const char *ci = bi
        cdef const char *cl = bl
        cdef const char *cu = bu
        cdef const char *cp = bp
        cdef const char *ca = ba
        cdef const uint8_t *cf = fingerprint
        cdef int fl = len(fingerprint), r
        with nogil:
            ms_worker_lock(self.w)
            r = ms_transport_create_client(self.w, ci, remote_port, cl, cu, cp, ca, cf, fl, sink_abs_ext, cli,
                                           relay, err, 256)
            ms_worker_unlock(self.w)
        if r < 0:
            raise NativeError(err.decode())
        return r

    def create_recorder(self, uint32_t buffer_bytes=4 << 20) -> int:
        """A recorder transport: its consumers' packets (rewritten, not encrypted) gather in a buffer that
        :meth:`recorder_drain` empties; the media thread never writes a file."""
        self._check()
        cdef char err[256]
        cdef int r
        with nogil:
            ms_worker_lock(self.w)
            r = ms_transport_create_recorder(self.w, buffer_bytes, err, 256)
            ms_worker_unlock(self.w)
        if r < 0:
            raise NativeError(err.decode())
        return r

    def recorder_drain(self, uint32_t tid, int max_bytes=4 << 20) -> tuple:
        """(records, dropped): whole records (u32 length, u64 time in µs, RTP packet; little-endian) taken
        from a recorder's buffer, and how many packets it has left out so far for want of room."""
        self._check()
        cdef uint64_t dropped = 0
        cdef int n
        with nogil:
            ms_worker_lock(self.w)
            n = ms_transport_recorder_drain(self.w, tid, NULL, 0, &dropped)
            ms_worker_unlock(self.w)
        if n < 0:
            raise NativeError(f"no recorder {tid}")
        if n == 0:
            return b"", dropped
        # the buffer only grows meanwhile, and only whole records are taken: room for what waited is enough
        cdef bytearray out = bytearray(min(n, max_bytes))
        cdef uint8_t *o = out
        cdef int cap = len(out)
        with nogil:
            ms_worker_lock(self.w)
            n = ms_transport_recorder_drain(self.w, tid, o, cap, &dropped)
            ms_worker_unlock(self.w)
        if n < 0:
            raise NativeError(f"no recorder {tid}")
        return bytes(out[:n]), dropped

    def close_transport(self, uint32_t tid) -> bool:
        self._check()
        cdef int r
        with nogil:
            ms_worker_lock(self.w)
            r = ms_transport_close(self.w, tid)
            ms_worker_unlock(self.w)
        return r == 0

    def transport_stats(self, uint32_t tid) -> dict:
        self._check()
        cdef ms_transport_stats_t s
        cdef int r
        with nogil:
            ms_worker_lock(self.w)
            r = ms_transport_stats(self.w, tid, &s)
            ms_worker_unlock(self.w)
        if r < 0:
            raise NativeError(f"no transport {tid}")
        d = dict(s)
        d["ice_state"] = ICE_STATES.get(s.ice_state, "?")
        d["dtls_state"] = DTLS_STATES.get(s.dtls_state, "?")
        d["dtls_frozen"] = bool(s.dtls_frozen)
        d["latency_hist"] = [s.latency_hist[i] for i in range(MS_LAT_BUCKETS)]
        d["sink_streams"] = {s.sink_ssrc[i]: {"max_seq": s.sink_max_seq[i], "received": s.sink_received[i]}
                             for i in range(MS_SINK_SSRCS) if s.sink_received[i]}
        for k in ("sink_ssrc", "sink_max_seq", "sink_received"):
            d.pop(k, None)
        return d

    def capture(self, uint32_t tid) -> list:
        """Client transports: the RTP packets received since the last call (the first call starts the
        capture and returns []), as (arrival_us, ssrc, seq, ts, pt, marker, length, payload_head)."""
        self._check()
        cdef ms_capture_t buf[MS_CAPTURE]
        cdef int n
        with nogil:
            ms_worker_lock(self.w)
            n = ms_transport_capture(self.w, tid, buf, MS_CAPTURE)
            ms_worker_unlock(self.w)
        if n < 0:
            raise NativeError(f"no client transport {tid}")
        return [(buf[i].arrival_us, buf[i].ssrc, buf[i].seq, buf[i].ts, buf[i].pt, buf[i].marker, buf[i].len,
                 bytes(buf[i].payload[:buf[i].npayload])) for i in range(n)]

    def send_rtp(self, uint32_t tid, packets, int abs_ext=0) -> int:
        """Client transports: protect and send RTP packets (a list of bytes); returns how many went."""
        self._check()
        cdef list pkts = [p if type(p) is bytes else bytes(p) for p in packets]   # no Python under the lock
        cdef int sent = 0, r, i, n = len(pkts)
        cdef bytes pkt
        ms_worker_lock(self.w)
        for i in range(n):
            pkt = <bytes>pkts[i]
            r = ms_transport_send_rtp(self.w, tid, <const uint8_t *>pkt, len(pkt), abs_ext)
            if r > 0:
                sent += 1
        ms_worker_unlock(self.w)
        return sent

    def stall(self, double seconds) -> None:
        """Hold the worker still for a while, as a preempted or overcommitted core would (tests of the
        overload path: datagrams pile up in the socket meanwhile)."""
        self._check()
        cdef useconds_t us = <useconds_t>(seconds * 1e6)
        with nogil:
            ms_worker_lock(self.w)
            usleep(us)
            ms_worker_unlock(self.w)

    def send_rtcp(self, uint32_t tid, bytes packet) -> bool:
        self._check()
        cdef int r
        cdef const uint8_t *data = packet
        cdef int ln = len(packet)
        with nogil:
            ms_worker_lock(self.w)
            r = ms_transport_send_rtcp(self.w, tid, data, ln)
            ms_worker_unlock(self.w)
        return r == 0

    def create_producer(self, uint32_t tid, str kind, uint32_t ssrc, uint32_t rtx_ssrc, dict codecs, dict rtx,
                        int clock_rate, dict extensions, str mid, bint nack=True, list layers=None) -> int:
        """Receive a published stream. codecs: {pt: name}; rtx: {rtx_pt: media_pt}; extensions: {name: id}.

        layers: simulcast encodings, up to 3, each {"rid": str} (told apart by the rid header extension)
        and/or {"ssrc": int, "rtx_ssrc": int}; the producer id then stands for all of them."""
        self._check()
        cdef ms_producer_params_t p
        memset(&p, 0, sizeof(p))
        layers = layers or []
        if len(layers) > MS_MAX_LAYERS:
            raise ValueError(f"at most {MS_MAX_LAYERS} simulcast layers")
        if len(layers) > 1:
            p.nlayers = len(layers)
            for i, lay in enumerate(layers):
                rid = str(lay.get("rid") or "").encode()
                if len(rid) > MS_RID_LEN - 1:
                    raise ValueError(f"rid {rid!r} is longer than {MS_RID_LEN - 1} bytes")
                strncpy(p.rids[i], rid, MS_RID_LEN - 1)
                p.layer_ssrc[i] = int(lay.get("ssrc") or 0)
                p.layer_rtx_ssrc[i] = int(lay.get("rtx_ssrc") or 0)
        p.kind = 1 if kind == "video" else 0
        p.ssrc = ssrc
        p.rtx_ssrc = rtx_ssrc
        _fill_map(p.codec_of_pt, {k: CODECS.get(v.lower(), 0) for k, v in codecs.items()}, 0)
        _fill_map(p.apt_of_rtx, rtx, 0xff)
        p.clock_rate = clock_rate
        p.ext_mid = _ext_id(extensions, "mid")
        p.ext_rid = _ext_id(extensions, "rid")
        p.ext_rrid = _ext_id(extensions, "rrid")
        p.ext_abs = _ext_id(extensions, "abs_send_time")
        p.ext_twcc = _ext_id(extensions, "twcc")
        p.ext_alevel = _ext_id(extensions, "audio_level")
        bm = mid.encode()[:31]
        strncpy(p.mid, bm, MS_MID_LEN - 1)
        p.nack = nack
        cdef int r
        with nogil:
            ms_worker_lock(self.w)
            r = ms_producer_create(self.w, tid, &p)
            ms_worker_unlock(self.w)
        if r < 0:
            raise NativeError({-1: f"no transport {tid}", -2: f"SSRC {ssrc} already published on this transport",
                               -3: "out of memory",
                               -4: "simulcast layers need an SSRC each, or rids with the mid and rid extensions"
                               }.get(r, "producer refused"))
        return r

    def close_producer(self, uint32_t pid) -> bool:
        self._check()
        cdef int r
        with nogil:
            ms_worker_lock(self.w)
            r = ms_producer_close(self.w, pid)
            ms_worker_unlock(self.w)
        return r == 0

    def request_keyframe(self, uint32_t pid) -> bool:
        self._check()
        cdef int r
        with nogil:
            ms_worker_lock(self.w)
            r = ms_producer_request_keyframe(self.w, pid)
            ms_worker_unlock(self.w)
        return r == 0

    def producer_stats(self, uint32_t pid) -> dict:
        self._check()
        cdef ms_stream_stats_t s
        cdef int r
        with nogil:
            ms_worker_lock(self.w)
            r = ms_producer_stats(self.w, pid, &s)
            ms_worker_unlock(self.w)
        if r < 0:
            raise NativeError(f"no producer {pid}")
        return dict(s)

    def create_consumer(self, uint32_t tid, uint32_t pid, uint32_t ssrc, uint32_t rtx_ssrc, dict pt_map,
                        dict rtx_pt_of, dict extensions, str mid, bint first=False) -> int:
        """Forward producer pid to transport tid. pt_map: {producer_pt: our_pt}; rtx_pt_of: {our_pt: our_rtx_pt}.
        first: served before the producer's other consumers every batch (a link to another node)."""
        self._check()
        cdef ms_consumer_params_t c
        memset(&c, 0, sizeof(c))
        c.ssrc = ssrc
        c.rtx_ssrc = rtx_ssrc
        _fill_map(c.pt_map, pt_map, 0xff)
        _fill_map(c.rtx_pt_of, rtx_pt_of, 0xff)
        c.ext_mid = _ext_id(extensions, "mid")
        c.ext_abs = _ext_id(extensions, "abs_send_time")
        c.ext_twcc = _ext_id(extensions, "twcc")
        c.ext_alevel = _ext_id(extensions, "audio_level")
        c.ext_playout = _ext_id(extensions, "playout_delay")
        c.first = first
        bm = mid.encode()[:16]
        strncpy(c.mid, bm, 16)
        cdef int r
        with nogil:
            ms_worker_lock(self.w)
            r = ms_consumer_create(self.w, tid, pid, &c)
            ms_worker_unlock(self.w)
        if r < 0:
            raise NativeError({-1: f"no transport {tid}", -2: f"no producer {pid}",
                               -3: f"SSRC {ssrc} already used"}.get(r, "consumer refused"))
        return r

    def close_consumer(self, uint32_t cid) -> bool:
        self._check()
        cdef int r
        with nogil:
            ms_worker_lock(self.w)
            r = ms_consumer_close(self.w, cid)
            ms_worker_unlock(self.w)
        return r == 0

    def pause_consumer(self, uint32_t cid, bint paused) -> bool:
        self._check()
        cdef int r
        with nogil:
            ms_worker_lock(self.w)
            r = ms_consumer_pause(self.w, cid, paused)
            ms_worker_unlock(self.w)
        return r == 0

    def set_consumer_layer(self, uint32_t cid, layer) -> None:
        """Pin consumer cid to simulcast layer `layer` (the producer's order; -1 = video off), or None to let the
        allocator choose from the bandwidth estimate and the budgets."""
        self._check()
        cdef int lay = MS_LAYER_AUTO if layer is None else int(layer)
        cdef int r
        with nogil:
            ms_worker_lock(self.w)
            r = ms_consumer_set_layer(self.w, cid, lay)
            ms_worker_unlock(self.w)
        if r < 0:
            raise NativeError(f"no consumer {cid}" if r == -1 else f"no layer {layer}")

    def set_consumer_temporal(self, uint32_t cid, tl) -> None:
        """VP8 temporal layers: forward TID <= tl (0..3) from the next frame down, or from the next layer-sync
        frame up; None forwards every temporal layer again (from a sync frame)."""
        self._check()
        cdef int t = MS_LAYER_AUTO if tl is None else int(tl)
        cdef int r
        with nogil:
            ms_worker_lock(self.w)
            r = ms_consumer_set_temporal(self.w, cid, t)
            ms_worker_unlock(self.w)
        if r < 0:
            raise NativeError(f"no consumer {cid}" if r == -1 else f"no temporal layer {tl}")

    def set_consumer_budget(self, uint32_t cid, uint32_t max_bps, int priority=0) -> None:
        """The stream's budget in bit/s (0 none) and its priority in the allocation (higher first)."""
        self._check()
        cdef int r
        with nogil:
            ms_worker_lock(self.w)
            r = ms_consumer_set_budget(self.w, cid, max_bps, priority)
            ms_worker_unlock(self.w)
        if r < 0:
            raise NativeError(f"no consumer {cid}")

    def set_transport_budget(self, uint32_t tid, uint32_t max_bps) -> None:
        """A subscriber transport's total budget in bit/s (0 none)."""
        self._check()
        cdef int r
        with nogil:
            ms_worker_lock(self.w)
            r = ms_transport_set_budget(self.w, tid, max_bps)
            ms_worker_unlock(self.w)
        if r < 0:
            raise NativeError(f"no transport {tid}")

    def consumer_stats(self, uint32_t cid) -> dict:
        self._check()
        cdef ms_stream_stats_t s
        cdef int r
        with nogil:
            ms_worker_lock(self.w)
            r = ms_consumer_stats(self.w, cid, &s)
            ms_worker_unlock(self.w)
        if r < 0:
            raise NativeError(f"no consumer {cid}")
        return dict(s)


# ---- parser entry points: the same C code the worker runs, for tests and fuzzing ----


def parse_stun(bytes data, str key=None):
    """Parse a STUN message with the worker's parser; None when it would be dropped."""
    cdef stun_msg_t m
    cdef const uint8_t *p = data
    if stun_parse(p, len(data), &m) < 0:
        return None
    out = {"type": m.type, "username": p[0:0] if m.username == NULL else bytes(m.username[:m.username_len]),
           "integrity": bool(m.has_integrity), "fingerprint": bool(m.has_fingerprint),
           "use_candidate": bool(m.use_candidate), "priority": m.priority, "error_code": m.error_code}
    if key is not None:
        bkey = key.encode()
        out["integrity_ok"] = bool(stun_check_integrity(p, len(data), &m, bkey, len(bkey)))
    return out


def parse_rtp(bytes data):
    """Parse an RTP header with the worker's parser; None when it would be dropped."""
    cdef rtp_hdr_t h
    cdef const uint8_t *p = data
    if rtp_parse(p, len(data), &h) < 0:
        return None
    return {"marker": h.marker, "pt": h.pt, "seq": h.seq, "ts": h.ts, "ssrc": h.ssrc,
            "header_len": h.header_len, "payload_len": h.payload_len,
            "extensions": {h.ext_id[i]: bytes(p[h.ext_off[i]:h.ext_off[i] + h.ext_len[i]]) for i in range(h.n_ext)}}


def walk_rtcp(bytes data):
    """The (type, fmt, length) of each packet of a compound RTCP packet, as the worker walks it."""
    cdef const uint8_t *p = data
    cdef int off = 0, pl = 0
    out = []
    while True:
        off = rtcp_next(p, len(data), off, &pl)
        if off < 0:
            return out
        out.append((p[off + 1], p[off] & 0x1f, pl))
        off += pl


def is_keyframe(str codec, bytes payload) -> bool:
    cdef const uint8_t *p = payload
    return bool(rtp_is_keyframe(CODECS.get(codec.lower(), 0), p, len(payload)))


def build_nack(uint32_t sender, uint32_t media, list seqs) -> bytes:
    cdef uint16_t arr[512]
    cdef uint8_t out[1500]
    cdef int n = min(len(seqs), 512)
    for i in range(n):
        arr[i] = seqs[i]
    cdef int ln = rtcp_build_nack(out, 1500, sender, media, arr, n)
    return bytes(out[:ln])


def allocate(list streams, uint32_t available_bps, uint32_t total_budget_bps=0, bint hold_upgrades=False,
             bint allow_off=True) -> list:
    """Run the worker's allocator (alloc.h) on plain dicts: kind ('audio'/'video'), priority, max_bps,
    layer_bps (ranked lowest first), active (list of bools), current (rank or -1). Returns each target."""
    cdef ms_alloc_stream_t st[MS_ALLOC_MAX_STREAMS]
    cdef int n = min(len(streams), MS_ALLOC_MAX_STREAMS)
    memset(st, 0, sizeof(st))
    for i in range(n):
        d = streams[i]
        bps = list(d.get("layer_bps", [0]))[:MS_ALLOC_MAX_LAYERS]
        act = list(d.get("active", [True] * len(bps)))[:MS_ALLOC_MAX_LAYERS]
        st[i].kind = 1 if d.get("kind", "video") == "video" else 0
        st[i].priority = d.get("priority", 0)
        st[i].max_bps = d.get("max_bps", 0)
        st[i].nlayers = len(bps)
        for j in range(len(bps)):
            st[i].layer_bps[j] = bps[j]
            st[i].layer_active[j] = bool(act[j]) if j < len(act) else 0
        st[i].current = d.get("current", -1)
    ms_allocate(st, n, available_bps, total_budget_bps, hold_upgrades, allow_off)
    return [st[i].target for i in range(n)]


def alloc_policy(list streams, uint32_t estimate_bps, uint32_t validated_bps, uint64_t now_us=10_000_000,
                 uint64_t hold_until_us=0, uint64_t sending_bps=0, bint feedback=True) -> dict:
    """Run one transport's allocation policy (alloc.h ms_alloc_policy) on plain dicts, as allocate() takes
    them plus previous (the rank chosen last time, -1 off). Returns the targets and the hold it leaves."""
    cdef ms_alloc_stream_t st[MS_ALLOC_MAX_STREAMS]
    cdef ms_alloc_ctx_t x
    cdef int n = min(len(streams), MS_ALLOC_MAX_STREAMS)
    memset(st, 0, sizeof(st))
    memset(&x, 0, sizeof(x))
    for i in range(n):
        d = streams[i]
        bps = list(d.get("layer_bps", [0]))[:MS_ALLOC_MAX_LAYERS]
        act = list(d.get("active", [True] * len(bps)))[:MS_ALLOC_MAX_LAYERS]
        st[i].kind = 1 if d.get("kind", "video") == "video" else 0
        st[i].nlayers = len(bps)
        for j in range(len(bps)):
            st[i].layer_bps[j] = bps[j]
            st[i].layer_active[j] = bool(act[j]) if j < len(act) else 0
        st[i].current = d.get("current", -1)
        st[i].previous = d.get("previous", -1)
    x.now_us, x.estimate_bps, x.validated_bps = now_us, estimate_bps, validated_bps
    x.sending_bps, x.feedback, x.hold_until_us = sending_bps, feedback, hold_until_us
    ms_alloc_policy(&x, st, n)
    return {"targets": [st[i].target for i in range(n)], "hold_until_us": x.hold_until_us}


cdef void _lock_two(ms_worker_t *a, ms_worker_t *b) noexcept nogil:
    """Both workers' locks, always in the same (address) order: two calls never wait on each other."""
    if <size_t>a < <size_t>b:
        ms_worker_lock(a)
        ms_worker_lock(b)
    else:
        ms_worker_lock(b)
        ms_worker_lock(a)


cdef void _unlock_two(ms_worker_t *a, ms_worker_t *b) noexcept nogil:
    ms_worker_unlock(a)
    ms_worker_unlock(b)


def pipe_create(Worker src, uint32_t pid, Worker dst) -> int:
    """Issue 18: hand producer ``pid`` of ``src`` (every simulcast layer) on to ``dst``, another worker of
    this process, through a lock-free ring; returns the id of the producer that mirrors it on ``dst``, whose
    consumers are made there. Keyframe requests of ``dst``'s subscribers reach the publisher through ``src``
    (merged per layer)."""
    src._check()
    dst._check()
    if src is dst:
        raise NativeError("a pipe joins two different workers")
    cdef char err[256]
    cdef int r
    with nogil:
        _lock_two(src.w, dst.w)
        r = ms_pipe_create(src.w, pid, dst.w, err, 256)
        _unlock_two(src.w, dst.w)
    if r < 0:
        raise NativeError(err.decode())
    return r


def pipe_close(Worker src, Worker dst, uint32_t pipe_pid) -> bool:
    """Take down the pipe whose producer on ``dst`` is ``pipe_pid`` (and that producer's consumers)."""
    src._check()
    dst._check()
    cdef int r
    with nogil:
        _lock_two(src.w, dst.w)
        r = ms_pipe_close(src.w, dst.w, pipe_pid)
        _unlock_two(src.w, dst.w)
    return r == 0
