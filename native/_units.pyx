# cython: language_level=3, boundscheck=False, wraparound=False
"""Test binding of the media core's pure units, one call for one: the sequence/timestamp/picture-ID
translation (native/core/translate.h) and the typed RTCP parsers (native/core/rtcp_fb.h).

Built only with MEDIASERVER_BUILD_TESTING=1; the worker calls the C functions directly.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy

from native._core_decl cimport *

EPOCHS = MS_XLATE_EPOCHS
TL_ALL = MS_XLATE_TL_ALL
MAX_REPORTS = RTCP_MAX_REPORTS
NACK_MAX_SEQS = RTCP_NACK_MAX_SEQS


cdef class SeqTracker:
    """Extended sequence numbers of one incoming stream (RFC 3550 A.1)."""
    cdef ms_seq_track_t s

    def track(self, uint16_t seq) -> int:
        """Counts seq in; returns its extended number."""
        ms_seq_track(&self.s, seq)
        return ms_seq_ext(&self.s, seq)

    @property
    def expected(self) -> int:
        return ms_seq_expected(&self.s)

    @property
    def received(self) -> int:
        return self.s.received

    @property
    def max_ext(self) -> int:
        return self.s.cycles + self.s.max_seq


cdef class Translator:
    """One consumer's output translation. start() at a keyframe of a layer, forward() every original packet,
    retransmission() for a NACKed output sequence number."""
    cdef ms_xlate_t x

    def __cinit__(self):
        ms_xlate_init(&self.x)

    def start(self, uint16_t seq, uint32_t ts, uint32_t ext, int layer=0, uint64_t gap_us=0, uint32_t clock=90000,
              uint16_t rand_seq=0, uint32_t rand_ts=0) -> None:
        ms_xlate_start(&self.x, seq, ts, ext, layer, gap_us, clock, rand_seq, rand_ts)

    def set_temporal(self, tl) -> None:
        """Forward VP8 TID <= tl; None: every temporal layer (up at a sync frame)."""
        ms_xlate_set_temporal(&self.x, MS_XLATE_TL_ALL if tl is None else int(tl))

    def forward(self, uint16_t seq, uint32_t ts, uint32_t ext, bytes payload=b"", bint vp8=False):
        """(out_seq, out_ts, out_payload) of an original packet, or None when temporal filtering drops it."""
        cdef uint16_t out_seq
        cdef ms_epoch_t *e
        cdef bytearray buf = bytearray(payload)
        cdef uint8_t *d = buf
        cdef const uint8_t *src = payload
        if not ms_xlate_packet(&self.x, seq, ext, src, len(payload), vp8, &out_seq, &e):
            return None
        cdef uint32_t out_ts = ts + e.ts_off
        if vp8:
            ms_xlate_vp8(&self.x, e, d, len(buf), 1)
        ms_xlate_sent(&self.x, out_seq, out_ts)
        return out_seq, out_ts, bytes(buf)

    def retransmission(self, uint16_t out_seq, bytes payload=b"", bint vp8=False):
        """(input seq, layer, epoch start_ext, out_payload) a NACK for out_seq refers to, or None."""
        cdef ms_epoch_t *e = ms_xlate_epoch_of(&self.x, out_seq)
        if e == NULL:
            return None
        cdef bytearray buf = bytearray(payload)
        cdef uint8_t *d = buf
        if vp8:
            ms_xlate_vp8(&self.x, e, d, len(buf), 0)
        return <uint16_t>(out_seq - e.seq_off), e.layer, e.start_ext, bytes(buf)

    @property
    def state(self) -> dict:
        return {"nep": self.x.nep, "seq_off": self.x.seq_off, "ts_off": self.x.ts_off, "start_ext": self.x.start_ext,
                "has_sent": bool(self.x.has_sent), "last_seq_out": self.x.last_seq_out,
                "last_ts_out": self.x.last_ts_out, "last_pic_out": self.x.last_pic_out,
                "last_tl0_out": self.x.last_tl0_out, "tl_cur": self.x.tl_cur, "tl_target": self.x.tl_target,
                "frames_dropped": self.x.tl_frames_dropped}


# ---- typed RTCP parsers: one sub-packet each, None when it is not of that type ----

cdef dict _reports(rtcp_reports_t *r):
    return {"ssrc": r.ssrc, "ntp_mid": r.ntp_mid, "rtp_ts": r.rtp_ts, "packets": r.packets, "octets": r.octets,
            "blocks": [{"ssrc": r.blocks[i].ssrc, "fraction_lost": r.blocks[i].fraction_lost,
                        "cumulative_lost": r.blocks[i].cumulative_lost, "highest_seq": r.blocks[i].highest_seq,
                        "jitter": r.blocks[i].jitter, "lsr": r.blocks[i].lsr, "dlsr": r.blocks[i].dlsr}
                       for i in range(r.nblocks)]}


def parse_sr(bytes data):
    cdef rtcp_reports_t r
    if rtcp_parse_sr(data, len(data), &r) < 0:
        return None
    return _reports(&r)


def parse_rr(bytes data):
    cdef rtcp_reports_t r
    if rtcp_parse_rr(data, len(data), &r) < 0:
        return None
    return _reports(&r)


def parse_nack(bytes data):
    cdef rtcp_nack_t n
    if rtcp_parse_nack(data, len(data), &n) < 0:
        return None
    return {"sender": n.sender, "media": n.media, "seqs": [n.seqs[i] for i in range(n.nseqs)]}


def parse_pli(bytes data):
    cdef rtcp_keyframe_req_t k
    if rtcp_parse_pli(data, len(data), &k) < 0:
        return None
    return {"sender": k.sender, "media": k.media}


def parse_fir(bytes data):
    cdef rtcp_keyframe_req_t k
    if rtcp_parse_fir(data, len(data), &k) < 0:
        return None
    return {"sender": k.sender, "media": k.media, "seq": k.fir_seq}


def parse_xr_rrtr(bytes data):
    cdef rtcp_rrtr_t x
    if rtcp_parse_xr_rrtr(data, len(data), &x) < 0:
        return None
    return {"ssrc": x.ssrc, "ntp_mid": x.ntp_mid}


cdef extern from "<sched.h>" nogil:
    int sched_yield()


cdef class Ring:
    """The packet ring between two media workers (native/core/ring.h; issue 18): one thread pushes, another
    pops. ``push_many`` and ``pop_many`` run without the GIL, so two Python threads drive both ends at once."""
    cdef ms_ring_t r

    def __cinit__(self, uint32_t slots):
        if ms_ring_init(&self.r, slots) != 0:
            raise MemoryError()

    def __dealloc__(self):
        ms_ring_free(&self.r)

    @property
    def size(self) -> int:
        return self.r.mask + 1

    @property
    def counters(self) -> dict:
        return {"pushed": self.r.pushed, "dropped": self.r.dropped, "popped": self.r.popped}

    def push(self, bytes data, uint32_t ssrc=0, uint8_t kind=0, uint8_t layer=0, uint64_t at_us=0) -> bool:
        return ms_ring_push(&self.r, data, len(data), ssrc, kind, layer, at_us) == 1

    def pop(self):
        """The oldest packet as (data, ssrc, kind, layer, at_us), or None when the ring is empty."""
        if ms_ring_ready(&self.r, 1) == 0:
            return None
        cdef ms_ring_slot_t *s = ms_ring_at(&self.r, 0)
        out = (s.data[:s.len], s.ssrc, s.kind, s.layer, s.at_us)
        ms_ring_release(&self.r, 1)
        return out

    def push_many(self, uint32_t n, uint32_t batch=16):
        """Push packets 0 .. n-1, ``batch`` reserved per publish, waiting (yielding the CPU) while the ring
        is full: packet i is (i % 1200) + 4 bytes long, its first four bytes i, the rest i's low byte.
        Returns how many times the ring was found full (each counted dropped by the ring)."""
        cdef uint32_t i = 0, pos, k, full = 0, ln, j
        cdef ms_ring_slot_t *s
        with nogil:
            while i < n:
                pos = 0
                k = 0
                while k < batch and i + k < n:
                    s = ms_ring_reserve(&self.r, &pos)
                    if s == NULL:
                        full += 1
                        break
                    ln = (i + k) % 1200 + 4
                    s.data[0] = ((i + k) >> 24) & 0xff
                    s.data[1] = ((i + k) >> 16) & 0xff
                    s.data[2] = ((i + k) >> 8) & 0xff
                    s.data[3] = (i + k) & 0xff
                    for j in range(4, ln):
                        s.data[j] = (i + k) & 0xff
                    s.len = ln
                    s.ssrc = i + k
                    k += 1
                ms_ring_publish(&self.r, k)
                i += k
                if k == 0:
                    sched_yield()
        return full

    def pop_many(self, uint32_t n, uint32_t spins_max=200000000):
        """Pop n packets, checking each is the next in order and intact (see push_many); returns
        (popped, errors). Gives up after spins_max empty polls."""
        cdef uint32_t got = 0, errors = 0, spins = 0, ready, q, seq, j
        cdef ms_ring_slot_t *s
        with nogil:
            while got < n and spins < spins_max:
                ready = ms_ring_ready(&self.r, 64)
                if ready == 0:
                    spins += 1
                    sched_yield()
                    continue
                for q in range(ready):
                    s = ms_ring_at(&self.r, q)
                    seq = (<uint32_t>s.data[0] << 24) | (<uint32_t>s.data[1] << 16) | (<uint32_t>s.data[2] << 8) | s.data[3]
                    if seq != got + q or s.ssrc != seq or s.len != seq % 1200 + 4:
                        errors += 1
                    else:
                        for j in range(4, s.len):
                            if s.data[j] != (seq & 0xff):
                                errors += 1
                                break
                ms_ring_release(&self.r, ready)
                got += ready
        return got, errors
