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
