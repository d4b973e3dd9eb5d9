# cython: language_level=3, boundscheck=False, wraparound=False
"""Thin Python binding of the bandwidth estimation core (native/core/bwe.c), for tests and benchmarks.

The media worker calls the C API directly; this module only mirrors it one call for one.
"""
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc

from native._core_decl cimport *


LOST = TWCC_LOST
NO_TIME = TWCC_NO_TIME
RX_RING = TWCC_RX_RING
FB_MIN = TWCC_FB_MIN
SIZEOF_BWE = sizeof(bwe_t)
SIZEOF_TWCC_RX = sizeof(twcc_rx_t)
SIZEOF_RESULT = sizeof(twcc_result_t)

DEF MAX_RESULTS = 65536


def parse_twcc(bytes pkt not None, int max_results=MAX_RESULTS):
    """(fb_count, [(seq, recv_us), ...]) of one transport-cc feedback packet, or None when it is not one."""
    cdef twcc_result_t *res = <twcc_result_t *>malloc(sizeof(twcc_result_t) * max(max_results, 1))
    cdef uint8_t fbc = 0
    cdef int n, i
    if res == NULL:
        raise MemoryError()
    try:
        n = twcc_parse(<const uint8_t *><const char *>pkt, len(pkt), res, max_results, &fbc)
        if n < 0:
            return None
        return fbc, [(res[i].seq, res[i].recv_us) for i in range(n)]
    finally:
        free(res)


def parse_remb(bytes pkt not None):
    """The bitrate of a REMB packet, or None when it is not one."""
    cdef uint32_t bps = 0
    if remb_parse(<const uint8_t *><const char *>pkt, len(pkt), &bps) != 0:
        return None
    return bps


def build_remb(uint32_t sender_ssrc, uint32_t bps, ssrcs=()):
    cdef uint32_t ss[255]
    cdef uint8_t out[20 + 4 * 255]
    cdef int n = min(len(ssrcs), 255), i
    for i in range(n):
        ss[i] = ssrcs[i]
    cdef int length = remb_build(out, sender_ssrc, bps, ss, n)
    return bytes(out[:length])


cdef class TwccRx:
    """Receive side: arrival times of transport-wide sequence numbers, built into feedback packets."""
    cdef twcc_rx_t *r

    def __cinit__(self):
        self.r = <twcc_rx_t *>malloc(sizeof(twcc_rx_t))
        if self.r == NULL:
            raise MemoryError()
        twcc_rx_init(self.r)

    def __dealloc__(self):
        free(self.r)

    def on_packet(self, uint16_t seq, uint64_t arrival_us):
        twcc_rx_on_packet(self.r, seq, arrival_us)

    def build(self, int cap=1200, uint32_t sender_ssrc=1, uint32_t media_ssrc=0):
        """One feedback packet (bytes), or None when there is nothing to report."""
        cdef uint8_t buf[65536]
        if cap > 65536:
            cap = 65536
        cdef int n = twcc_rx_build(self.r, buf, cap, sender_ssrc, media_ssrc)
        if n <= 0:
            return None
        return bytes(buf[:n])

    def build_all(self, int cap=1200, uint32_t sender_ssrc=1, uint32_t media_ssrc=0):
        out = []
        while True:
            p = self.build(cap, sender_ssrc, media_ssrc)
            if p is None:
                return out
            out.append(p)


cdef class Bwe:
    """Send-side estimator of one transport."""
    cdef bwe_t *b
    cdef twcc_result_t *res

    def __cinit__(self, uint32_t start_bps=1000000, uint32_t min_bps=30000, uint32_t max_bps=10000000):
        self.b = <bwe_t *>malloc(sizeof(bwe_t))
        self.res = <twcc_result_t *>malloc(sizeof(twcc_result_t) * MAX_RESULTS)
        if self.b == NULL or self.res == NULL:
            raise MemoryError()
        bwe_init(self.b, start_bps, min_bps, max_bps)

    def __dealloc__(self):
        bwe_free(self.b)
        free(self.b)
        free(self.res)

    def on_sent(self, uint16_t seq, int size, uint64_t send_us, int cluster=-1):
        bwe_on_sent(self.b, seq, size, send_us, cluster)

    def on_feedback(self, results, uint64_t now_us):
        """results: [(seq, recv_us), ...] as parse_twcc gives them."""
        cdef int n = min(len(results), MAX_RESULTS), i
        for i in range(n):
            self.res[i].seq = results[i][0]
            self.res[i].recv_us = results[i][1]
        bwe_on_feedback(self.b, self.res, n, now_us)

    def on_feedback_packet(self, bytes pkt not None, uint64_t now_us):
        """Parses a transport-cc packet straight into the estimator; returns the result count or -1."""
        cdef int n = twcc_parse(<const uint8_t *><const char *>pkt, len(pkt), self.res, MAX_RESULTS, NULL)
        if n > 0:
            bwe_on_feedback(self.b, self.res, n, now_us)
        return n

    def on_remb(self, uint32_t bps, uint64_t now_us):
        bwe_on_remb(self.b, bps, now_us)

    def on_loss(self, uint8_t fraction_lost, uint64_t now_us):
        bwe_on_loss(self.b, fraction_lost, now_us)

    def on_rtt(self, int64_t rtt_us):
        bwe_on_rtt(self.b, rtt_us)

    def probe_start(self, uint32_t target_bps, uint64_t now_us):
        return bwe_probe_start(self.b, target_bps, now_us)

    def should_probe(self, uint32_t wanted_bps, uint64_t now_us):
        return bwe_should_probe(self.b, wanted_bps, now_us)

    @property
    def estimate(self):
        return bwe_estimate(self.b)

    @property
    def acked_bps(self):
        return bwe_acked_bps(self.b)

    @property
    def state(self):
        return bwe_state(self.b)

    @property
    def detector(self):
        return bwe_detector(self.b)

    @property
    def delay_bps(self):
        return self.b.delay_bps

    @property
    def loss_bps(self):
        return self.b.loss_bps

    @property
    def threshold_ms(self):
        return self.b.thr_ms
