# cython: language_level=3
"""Cython wrapper of the native load generator (lg.c). Only control calls: no Python per packet."""
from libc.stdint cimport uint8_t, uint32_t, uint64_t, int64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memset

cdef extern from "lg.h" nogil:
    enum:
        LG_PT_COUNT
    ctypedef struct lg_t:
        pass
    ctypedef struct lg_stats_t:
        uint64_t rx_packets, rx_bytes, rx_rtx, lost, nacks_tx, plis_tx, rr_tx, twcc_fb_tx
        uint64_t tx_packets, tx_bytes, retransmits, nacks_rx, plis_rx, decrypt_errors, malformed
        uint64_t rx_kernel_ts
    ctypedef struct lg_ssrc_stat_t:
        uint32_t ssrc
        uint64_t received
    ctypedef struct lg_source_stats_t:
        uint64_t packets, keyframe_requests, keyframes_requested, min_request_gap_us
        int max_requests_1s
    ctypedef struct lg_connect_t:
        const char *remote_ip
        int remote_port
        const char *remote_ufrag
        const char *remote_pwd
        const char *fp_alg
        const uint8_t *fp
        int fp_len
        int controlling, dtls_client
        const char *profiles
        uint8_t rtx_apt[LG_PT_COUNT]
        int twcc_ext
    ctypedef struct lg_frame_t:
        int64_t offset_us
        uint32_t ts_delta
        int keyframe
        int npayloads
    ctypedef struct lg_source_t:
        int peer, clip
        uint32_t ssrc
        int pt
        uint32_t stream_id
        int mid_ext
        const uint8_t *mid
        int mid_len
        int rid_ext
        const uint8_t *rid
        int rid_len
        int abs_ext
        int rrid_ext
        uint32_t rtx_ssrc
        int rtx_pt
        uint32_t pace_kbps
        int drop_every
    int LG_HIST_BUCKETS
    lg_t *lg_new(const char *bind_ip, int verify_every, char *err, int errlen)
    void lg_free(lg_t *lg)
    const char *lg_fingerprint(lg_t *lg)
    int lg_open_peer(lg_t *lg, const char *ufrag, const char *pwd, char *err, int errlen)
    int lg_port(lg_t *lg, int peer)
    int lg_connect(lg_t *lg, int peer, const lg_connect_t *c, char *err, int errlen)
    int lg_connect_raw(lg_t *lg, int peer, const char *ip, int port, const uint8_t *tx_key, const uint8_t *rx_key,
                       const uint8_t *hello, int hello_len, char *err, int errlen)
    int lg_state(lg_t *lg, int peer, int *ice, int *dtls, int *profile)
    int lg_close_peer(lg_t *lg, int peer)
    int lg_map_rtx(lg_t *lg, int peer, uint32_t rtx_ssrc, uint32_t media_ssrc)
    int lg_load_clip(lg_t *lg, int clock_rate, int nframes, const lg_frame_t *frames, const uint8_t *const *payloads,
                     const int *lens, char *err, int errlen)
    int lg_add_source(lg_t *lg, const lg_source_t *s, char *err, int errlen)
    int lg_source_run(lg_t *lg, int source, int run, int stagger)
    int lg_source_stats(lg_t *lg, int source, lg_source_stats_t *out)
    int lg_peer_stats(lg_t *lg, int peer, lg_stats_t *st, lg_ssrc_stat_t *ssrcs, int max, int *n)
    int lg_totals(lg_t *lg, lg_stats_t *st, uint64_t *hist, uint64_t *app_hist)
    double lg_hist_bound_us(int i)
    double lg_cpu_seconds(lg_t *lg)
    void lg_stall(lg_t *lg, int us)

_ICE = ("new", "checking", "connected", "failed")
_DTLS = ("new", "connecting", "connected", "failed")
_PROFILE_NAMES = {1: "AES_CM_128_HMAC_SHA1_80", 7: "AEAD_AES_128_GCM", 8: "AEAD_AES_256_GCM"}
_OPENSSL_PROFILES = {"AEAD_AES_128_GCM": "SRTP_AEAD_AES_128_GCM", "AEAD_AES_256_GCM": "SRTP_AEAD_AES_256_GCM",
                     "AES_CM_128_HMAC_SHA1_80": "SRTP_AES128_CM_SHA1_80"}
_STAT_KEYS = ("rx_packets", "rx_bytes", "rx_rtx", "lost", "nacks_tx", "plis_tx", "rr_tx", "twcc_fb_tx",
              "tx_packets", "tx_bytes", "retransmits", "nacks_rx", "plis_rx", "decrypt_errors", "malformed",
              "rx_kernel_ts")


cdef bytes _b(s):
    if s is None:
        return b""
    return s.encode() if isinstance(s, str) else bytes(s)


cdef dict _stats(lg_stats_t *s):
    return {"rx_packets": s.rx_packets, "rx_bytes": s.rx_bytes, "rx_rtx": s.rx_rtx, "lost": s.lost,
            "nacks_tx": s.nacks_tx, "plis_tx": s.plis_tx, "rr_tx": s.rr_tx, "twcc_fb_tx": s.twcc_fb_tx,
            "tx_packets": s.tx_packets, "tx_bytes": s.tx_bytes, "retransmits": s.retransmits,
            "nacks_rx": s.nacks_rx, "plis_rx": s.plis_rx, "decrypt_errors": s.decrypt_errors,
            "malformed": s.malformed, "rx_kernel_ts": s.rx_kernel_ts}


cdef class _Loadgen:
    cdef lg_t *lg
    cdef readonly str bind_ip
    cdef readonly int verify_every

    def __cinit__(self, str bind_ip="127.0.0.1", int verify_every=1):
        cdef char err[256]
        cdef bytes bip = bind_ip.encode()
        cdef const char *cip = bip
        self.lg = lg_new(cip, verify_every, err, sizeof(err))
        if self.lg == NULL:
            raise RuntimeError(err.decode(errors="replace"))
        self.bind_ip = bind_ip
        self.verify_every = verify_every

    def __dealloc__(self):
        if self.lg != NULL:
            with nogil:
                lg_free(self.lg)
            self.lg = NULL

    cdef void _check(self) except *:
        if self.lg == NULL:
            raise RuntimeError("loadgen closed")

    def close(self):
        """Stops the I/O thread and frees every peer."""
        if self.lg != NULL:
            with nogil:
                lg_free(self.lg)
            self.lg = NULL

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def fingerprint(self) -> str:
        self._check()
        return lg_fingerprint(self.lg).decode()

    def open_peer(self, ufrag, pwd) -> int:
        self._check()
        cdef char err[256]
        cdef bytes bu = _b(ufrag), bp = _b(pwd)
        cdef const char *cu = bu
        cdef const char *cp = bp
        cdef int r
        with nogil:
            r = lg_open_peer(self.lg, cu, cp, err, sizeof(err))
        if r < 0:
            raise RuntimeError(err.decode(errors="replace"))
        return r

    def port(self, int p) -> int:
        self._check()
        cdef int r
        with nogil:
            r = lg_port(self.lg, p)
        if r < 0:
            raise KeyError(p)
        return r

    def connect(self, int p, str remote_ip, int remote_port, remote_ufrag, remote_pwd, str remote_fingerprint,
                bint controlling=True, str dtls_role="client",
                srtp_profiles=("AEAD_AES_128_GCM", "AES_CM_128_HMAC_SHA1_80"), rtx=None, int twcc_ext=0,
                rtx_ssrcs=None):
        """Starts ICE (and DTLS once ICE is connected). rtx: {rtx_pt: media_pt} of the streams this peer
        receives; rtx_ssrcs (optional): {rtx_ssrc: media_ssrc} when known from the SDP, else learnt."""
        self._check()
        cdef lg_connect_t c
        cdef char err[256]
        memset(&c, 0, sizeof(c))
        alg, _, hexfp = remote_fingerprint.strip().partition(" ")
        if not hexfp:
            alg, hexfp = "sha-256", alg
        cdef bytes fp = bytes.fromhex(hexfp.replace(":", ""))
        if dtls_role not in ("client", "server"):
            raise ValueError("dtls_role must be 'client' or 'server'")
        names = []
        for name in srtp_profiles:
            if name not in _OPENSSL_PROFILES:
                raise ValueError(f"unknown SRTP profile {name!r}")
            names.append(_OPENSSL_PROFILES[name])
        cdef bytes bip = remote_ip.encode(), bu = _b(remote_ufrag), bp = _b(remote_pwd), ba = alg.lower().encode()
        cdef bytes bprof = ":".join(names).encode()
        c.remote_ip = bip
        c.remote_port = remote_port
        c.remote_ufrag = bu
        c.remote_pwd = bp
        c.fp_alg = ba
        c.fp = fp
        c.fp_len = len(fp)
        c.controlling = controlling
        c.dtls_client = dtls_role == "client"
        c.profiles = bprof
        c.twcc_ext = twcc_ext
        memset(c.rtx_apt, 0xff, LG_PT_COUNT)
        for k, v in (rtx or {}).items():
            if not (0 <= k < LG_PT_COUNT and 0 <= v < LG_PT_COUNT):
                raise ValueError("payload types are 0..127")
            c.rtx_apt[k] = v
        cdef int r
        with nogil:
            r = lg_connect(self.lg, p, &c, err, sizeof(err))
        if r < 0:
            raise RuntimeError(err.decode(errors="replace"))
        for k, v in (rtx_ssrcs or {}).items():
            self.map_rtx(p, k, v)

    def map_rtx(self, int p, rtx_ssrc, media_ssrc):
        """Receive side: RTX SSRC rtx_ssrc repairs media_ssrc."""
        self._check()
        cdef uint32_t a = int(rtx_ssrc) & 0xFFFFFFFF, b = int(media_ssrc) & 0xFFFFFFFF
        cdef int r
        with nogil:
            r = lg_map_rtx(self.lg, p, a, b)
        if r < 0:
            raise KeyError(p)

    def connect_raw(self, int p, str remote_ip, int remote_port, bytes tx_key, bytes rx_key, bytes hello=b""):
        self._check()
        if len(tx_key) != 28 or len(rx_key) != 28:
            raise ValueError("keys are 16 bytes key + 12 bytes salt")
        cdef char err[256]
        cdef bytes bip = remote_ip.encode()
        cdef const char *cip = bip
        cdef const uint8_t *tk = tx_key
        cdef const uint8_t *rk = rx_key
        cdef const uint8_t *h = hello
        cdef int hl = len(hello), r
        with nogil:
            r = lg_connect_raw(self.lg, p, cip, remote_port, tk, rk, h, hl, err, sizeof(err))
        if r < 0:
            raise RuntimeError(err.decode(errors="replace"))

    def state(self, int p) -> dict:
        self._check()
        cdef int ice = 0, dtls = 0, prof = 0, r
        with nogil:
            r = lg_state(self.lg, p, &ice, &dtls, &prof)
        if r < 0:
            raise KeyError(p)
        return {"ice": _ICE[ice], "dtls": _DTLS[dtls], "srtp_profile": _PROFILE_NAMES.get(prof)}

    def load_clip(self, frames, int clock_rate=90000) -> int:
        """frames: list of (send_offset_us, rtp_ts_delta, keyframe, [payloads]). The RTP timestamp advances
        by a frame's rtp_ts_delta when that frame is sent (the first frame's delta is used on each loop)."""
        self._check()
        cdef char err[256]
        cdef list keep = []
        cdef int nf = len(frames), i, k, np = 0, r
        for f in frames:
            np += len(f[3])
        cdef lg_frame_t *fr = <lg_frame_t *>malloc(max(nf, 1) * sizeof(lg_frame_t))
        cdef const uint8_t **pl = <const uint8_t **>malloc(max(np, 1) * sizeof(uint8_t *))
        cdef int *ln = <int *>malloc(max(np, 1) * sizeof(int))
        cdef bytes b
        try:
            k = 0
            for i, f in enumerate(frames):
                fr[i].offset_us = int(f[0])
                fr[i].ts_delta = int(f[1]) & 0xFFFFFFFF
                fr[i].keyframe = 1 if f[2] else 0
                fr[i].npayloads = len(f[3])
                for payload in f[3]:
                    b = bytes(payload)
                    keep.append(b)
                    pl[k] = b
                    ln[k] = len(b)
                    k += 1
            with nogil:
                r = lg_load_clip(self.lg, clock_rate, nf, fr, pl, ln, err, sizeof(err))
        finally:
            free(fr)
            free(pl)
            free(ln)
        if r < 0:
            raise ValueError(err.decode(errors="replace"))
        return r

    def add_source(self, int p, int clip, ssrc, int pt=96, stream_id=0, int mid_ext=0, mid=b"", int rid_ext=0,
                   rid=b"", int abs_ext=0, rtx_ssrc=0, int rtx_pt=0, pace_kbps=0, int drop_every=0,
                   int rrid_ext=0) -> int:
        """A source looping clip on peer p. rrid_ext (optional): repaired-rtp-stream-id extension id, put
        (with rid) on RTX packets. drop_every (test only): drop every Nth packet on its first send."""
        self._check()
        cdef lg_source_t s
        cdef char err[256]
        memset(&s, 0, sizeof(s))
        cdef bytes bm = _b(mid), br = _b(rid)
        s.peer = p
        s.clip = clip
        s.ssrc = int(ssrc) & 0xFFFFFFFF
        s.pt = pt
        s.stream_id = int(stream_id) & 0xFFFFFFFF
        s.mid_ext = mid_ext
        s.mid = bm
        s.mid_len = len(bm)
        s.rid_ext = rid_ext
        s.rid = br
        s.rid_len = len(br)
        s.abs_ext = abs_ext
        s.rrid_ext = rrid_ext
        s.rtx_ssrc = int(rtx_ssrc) & 0xFFFFFFFF
        s.rtx_pt = rtx_pt
        s.pace_kbps = int(pace_kbps)
        s.drop_every = drop_every
        for e in (mid_ext, rid_ext, abs_ext, rrid_ext):
            if not 0 <= e <= 14:
                raise ValueError("one-byte header extension ids are 1..14")
        cdef int r
        with nogil:
            r = lg_add_source(self.lg, &s, err, sizeof(err))
        if r < 0:
            raise ValueError(err.decode(errors="replace"))
        return r

    def start(self, int s, *, bint stagger=False):
        """Starts source s (once its peer has SRTP keys). stagger: after a random part of one frame interval."""
        self._check()
        cdef int r
        with nogil:
            r = lg_source_run(self.lg, s, 1, stagger)
        if r < 0:
            raise KeyError(s)

    def stop(self, int s):
        self._check()
        cdef int r
        with nogil:
            r = lg_source_run(self.lg, s, 0, 0)
        if r < 0:
            raise KeyError(s)

    def start_all(self, *, bint stagger=True):
        """Starts every source; by default each after a random part of one frame interval, so that the
        sources' frames do not all leave in the same millisecond."""
        self._check()
        with nogil:
            lg_source_run(self.lg, -1, 1, stagger)

    def stop_all(self):
        self._check()
        with nogil:
            lg_source_run(self.lg, -1, 0, 0)

    def source_stats(self, int s) -> dict:
        """A sending source's packets and the keyframe requests that named it (PLI/FIR): their count, the
        keyframes it jumped to for them, the shortest gap between two (ms, None before two), the most within
        any one second."""
        self._check()
        cdef lg_source_stats_t st
        cdef int r
        with nogil:
            r = lg_source_stats(self.lg, s, &st)
        if r < 0:
            raise KeyError(s)
        return {"packets": st.packets, "keyframe_requests": st.keyframe_requests,
                "keyframes_requested": st.keyframes_requested,
                "min_request_gap_ms": st.min_request_gap_us / 1e3 if st.keyframe_requests >= 2 else None,
                "max_requests_1s": st.max_requests_1s}

    def peer_stats(self, int p) -> dict:
        self._check()
        cdef lg_stats_t st
        cdef int cap = 64, n = 0, r, i
        cdef lg_ssrc_stat_t *ss = NULL
        try:
            while True:
                free(ss)
                ss = <lg_ssrc_stat_t *>malloc(cap * sizeof(lg_ssrc_stat_t))
                if ss == NULL:
                    raise MemoryError()
                with nogil:
                    r = lg_peer_stats(self.lg, p, &st, ss, cap, &n)
                if r < 0:
                    raise KeyError(p)
                if r <= cap:
                    break
                cap = r + 64
            d = _stats(&st)
            d["ssrcs"] = {ss[i].ssrc: ss[i].received for i in range(n)}
        finally:
            free(ss)
        return d

    def totals(self) -> dict:
        self._check()
        cdef lg_stats_t st
        cdef uint64_t hist[64]
        cdef uint64_t app_hist[64]
        with nogil:
            lg_totals(self.lg, &st, hist, app_hist)
        d = _stats(&st)
        d["latency_hist"] = [hist[i] for i in range(LG_HIST_BUCKETS)]
        d["app_latency_hist"] = [app_hist[i] for i in range(LG_HIST_BUCKETS)]
        d["bounds_us"] = [lg_hist_bound_us(i) for i in range(LG_HIST_BUCKETS)]
        return d

    def _stall(self, double seconds):
        """Test only: holds the loadgen's lock for that long, so its I/O thread stalls and its sockets queue."""
        self._check()
        cdef int us = <int>(seconds * 1e6)
        with nogil:
            lg_stall(self.lg, us)

    def cpu_seconds(self) -> float:
        """CPU time the I/O thread has used so far."""
        self._check()
        return lg_cpu_seconds(self.lg)

    def close_peer(self, int p):
        self._check()
        cdef int r
        with nogil:
            r = lg_close_peer(self.lg, p)
        if r < 0:
            raise KeyError(p)
