# cython: language_level=3, boundscheck=False, wraparound=False
"""Thin Python binding of the native SRTP/SRTCP core (native/core/srtp.c).

Used by tests and benchmarks; the media pipeline calls the C API directly.
"""
cimport cython
from cpython.ref cimport PyObject
from libc.stdint cimport uint8_t, uint32_t
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC

from native._core_decl cimport *


cdef extern from "Python.h":
    PyObject *PyBytes_FromStringAndSize_raw "PyBytes_FromStringAndSize" (const char *v, Py_ssize_t n)
    char *PyBytes_AS_STRING_raw "PyBytes_AS_STRING" (PyObject *o) nogil
    int _PyBytes_Resize(PyObject **o, Py_ssize_t n)
    void Py_DECREF_raw "Py_DECREF" (PyObject *o)


PROFILE_AES128_CM_SHA1_80 = SRTP_PROFILE_AES128_CM_SHA1_80
PROFILE_AEAD_AES_128_GCM = SRTP_PROFILE_AEAD_AES_128_GCM
PROFILE_AEAD_AES_256_GCM = SRTP_PROFILE_AEAD_AES_256_GCM
PROFILES = (PROFILE_AES128_CM_SHA1_80, PROFILE_AEAD_AES_128_GCM, PROFILE_AEAD_AES_256_GCM)

ERR_BAD_PARAM = SRTP_ERR_BAD_PARAM
ERR_AUTH = SRTP_ERR_AUTH
ERR_REPLAY = SRTP_ERR_REPLAY
ERR_TOO_SHORT = SRTP_ERR_TOO_SHORT
ERR_NO_SPACE = SRTP_ERR_NO_SPACE
ERR_CRYPTO = SRTP_ERR_CRYPTO

REPLAY_WINDOW = SRTP_REPLAY_WINDOW
MAX_STREAMS = SRTP_MAX_STREAMS

_ERR_NAMES = {
    SRTP_ERR_BAD_PARAM: "BAD_PARAM",
    SRTP_ERR_AUTH: "AUTH",
    SRTP_ERR_REPLAY: "REPLAY",
    SRTP_ERR_TOO_SHORT: "TOO_SHORT",
    SRTP_ERR_NO_SPACE: "NO_SPACE",
    SRTP_ERR_CRYPTO: "CRYPTO",
}


class SrtpError(ValueError):
    """An SRTP operation failed; ``code`` is the SRTP_ERR_* value (negative int)."""

    def __init__(self, int code, str operation=""):
        self.code = code
        self.name = _ERR_NAMES.get(code, "UNKNOWN")
        msg = "%s (SRTP_ERR_%s, %d)" % (srtp_strerror(code).decode("ascii"), self.name, code)
        if operation:
            msg = "%s failed: %s" % (operation, msg)
        super().__init__(msg)


cdef inline int _check_profile(int profile) except -1:
    if srtp_key_len(profile) < 0:
        raise SrtpError(SRTP_ERR_BAD_PARAM, "unknown SRTP profile %d" % profile)
    return 0


def key_len(int profile):
    """Master key length in bytes of a profile."""
    _check_profile(profile)
    return srtp_key_len(profile)


def salt_len(int profile):
    """Master salt length in bytes of a profile."""
    _check_profile(profile)
    return srtp_salt_len(profile)


def overhead(int profile):
    """Bytes added to an RTP packet by protect (SRTCP adds 4 more for the index)."""
    _check_profile(profile)
    return srtp_overhead(profile)


def split_keying_material(int profile, bytes material not None):
    """Split DTLS-SRTP exported keying material (RFC 5764 4.2) into
    (client_key, client_salt, server_key, server_salt)."""
    _check_profile(profile)
    cdef int kl = srtp_key_len(profile)
    cdef int sl = srtp_salt_len(profile)
    if len(material) != 2 * (kl + sl):
        raise SrtpError(SRTP_ERR_BAD_PARAM,
                        "keying material must be %d bytes, got %d" % (2 * (kl + sl), len(material)))
    cdef uint8_t ck[32]
    cdef uint8_t cs[14]
    cdef uint8_t sk[32]
    cdef uint8_t ss[14]
    cdef int rc = srtp_split_keying_material(profile, <const uint8_t *><const char *>material, ck, cs, sk, ss)
    if rc != SRTP_OK:
        raise SrtpError(rc, "split_keying_material")
    return (bytes((<char *>ck)[:kl]), bytes((<char *>cs)[:sl]),
            bytes((<char *>sk)[:kl]), bytes((<char *>ss)[:sl]))


def kdf(bytes master_key not None, bytes master_salt not None, int label, int length):
    """RFC 3711 4.3 AES-CM key derivation (kdr = 0); exposed for test vectors."""
    if length < 0 or length > 1024:
        raise SrtpError(SRTP_ERR_BAD_PARAM, "kdf length out of range")
    cdef bytearray out = bytearray(length)
    cdef uint8_t *o = NULL
    if length:
        o = <uint8_t *><char *>out
    cdef int rc = srtp_kdf(<const uint8_t *><const char *>master_key, len(master_key),
                           <const uint8_t *><const char *>master_salt, len(master_salt), label, o, length)
    if rc != SRTP_OK:
        raise SrtpError(rc, "kdf")
    return bytes(out)


cdef enum:
    OP_PROTECT_RTP = 0
    OP_UNPROTECT_RTP = 1
    OP_PROTECT_RTCP = 2
    OP_UNPROTECT_RTCP = 3

_OP_NAMES = ("protect", "unprotect", "protect_rtcp", "unprotect_rtcp")


@cython.final
cdef class SrtpSession:
    """One direction of an SRTP association (any number of SSRCs).

    ``SrtpSession(profile, key, salt)``: ``protect``/``protect_rtcp`` encrypt plain RTP/RTCP packets,
    ``unprotect``/``unprotect_rtcp`` verify and decrypt SRTP/SRTCP packets. All raise :class:`SrtpError`.
    Calls are serialised by an internal lock and run without the GIL.
    """
    cdef srtp_ctx_t *ctx
    cdef readonly int profile
    cdef int tag_len
    cdef cython.pymutex lock

    def __cinit__(self):
        self.ctx = NULL

    def __init__(self, int profile, bytes key not None, bytes salt not None):
        _check_profile(profile)
        if len(key) != srtp_key_len(profile):
            raise SrtpError(SRTP_ERR_BAD_PARAM, "master key must be %d bytes for profile %d, got %d"
                            % (srtp_key_len(profile), profile, len(key)))
        if len(salt) != srtp_salt_len(profile):
            raise SrtpError(SRTP_ERR_BAD_PARAM, "master salt must be %d bytes for profile %d, got %d"
                            % (srtp_salt_len(profile), profile, len(salt)))
        cdef srtp_ctx_t *fresh = srtp_ctx_new(profile, <const uint8_t *><const char *>key,
                                              <const uint8_t *><const char *>salt)
        if fresh == NULL:
            raise SrtpError(SRTP_ERR_CRYPTO, "srtp_ctx_new")
        cdef srtp_ctx_t *old
        with self.lock:  # __init__ may be called again on a live session
            old = self.ctx
            self.ctx = fresh
            self.profile = profile
            self.tag_len = srtp_overhead(profile)
        if old != NULL:
            srtp_ctx_free(old)

    def __dealloc__(self):
        if self.ctx != NULL:
            srtp_ctx_free(self.ctx)
            self.ctx = NULL

    cdef object _run(self, int op, bytes data):
        if self.ctx == NULL:
            raise SrtpError(SRTP_ERR_BAD_PARAM, "session not initialised")
        cdef Py_ssize_t n = len(data)
        if n > 0x7fffffff - 64:
            raise SrtpError(SRTP_ERR_BAD_PARAM, _OP_NAMES[op])
        cdef int extra = 0
        if op == OP_PROTECT_RTP:
            extra = self.tag_len
        elif op == OP_PROTECT_RTCP:
            extra = self.tag_len + 4
        cdef Py_ssize_t cap = n + extra
        cdef PyObject *out = PyBytes_FromStringAndSize_raw(NULL, cap if cap > 0 else 1)
        if out == NULL:
            raise MemoryError()
        cdef uint8_t *buf = <uint8_t *>PyBytes_AS_STRING_raw(out)
        cdef const char *src = data
        cdef int rc
        cdef int ilen = <int>n
        cdef int icap = <int>cap
        with nogil:
            memcpy(buf, src, <size_t>n)
            with self.lock:
                if op == OP_PROTECT_RTP:
                    rc = srtp_protect_rtp(self.ctx, buf, ilen, icap)
                elif op == OP_UNPROTECT_RTP:
                    rc = srtp_unprotect_rtp(self.ctx, buf, ilen)
                elif op == OP_PROTECT_RTCP:
                    rc = srtp_protect_rtcp(self.ctx, buf, ilen, icap)
                else:
                    rc = srtp_unprotect_rtcp(self.ctx, buf, ilen)
        if rc < 0:
            Py_DECREF_raw(out)
            raise SrtpError(rc, _OP_NAMES[op])
        if rc != cap:
            if _PyBytes_Resize(&out, rc) < 0:  # frees out and sets it to NULL on failure
                raise MemoryError()
        result = <object>out  # takes a new reference
        Py_DECREF_raw(out)    # drop the one from PyBytes_FromStringAndSize
        return result

    def protect(self, bytes packet not None):
        """Protect a plain RTP packet; returns the SRTP packet."""
        return self._run(OP_PROTECT_RTP, packet)

    def unprotect(self, bytes packet not None):
        """Verify and decrypt an SRTP packet; returns the plain RTP packet."""
        return self._run(OP_UNPROTECT_RTP, packet)

    def protect_rtcp(self, bytes packet not None):
        """Protect a plain (compound) RTCP packet; returns the SRTCP packet."""
        return self._run(OP_PROTECT_RTCP, packet)

    def unprotect_rtcp(self, bytes packet not None):
        """Verify and decrypt an SRTCP packet; returns the plain RTCP packet."""
        return self._run(OP_UNPROTECT_RTCP, packet)

    def roc(self, uint32_t ssrc, bint inbound=True):
        """Rollover counter tracked for an SSRC (inbound: unprotect side), or None if unknown."""
        cdef uint32_t r = 0
        cdef int rc
        with self.lock:
            rc = srtp_ctx_get_roc(self.ctx, ssrc, inbound, &r)
        return r if rc == SRTP_OK else None

    def remove_ssrc(self, uint32_t ssrc):
        """Forget all state of an SSRC; returns True if it was known."""
        cdef int rc
        with self.lock:
            rc = srtp_ctx_remove_ssrc(self.ctx, ssrc)
        return rc == SRTP_OK

    @property
    def stream_count(self):
        with self.lock:
            return srtp_ctx_stream_count(self.ctx)


# ---------------------------------------------------------------------------------------------------------
# benchmarks (loops entirely in C, GIL released)

cdef inline double _now_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <double>ts.tv_sec * 1e9 + <double>ts.tv_nsec


cdef srtp_ctx_t *_bench_ctx(int profile) except NULL:
    _check_profile(profile)
    cdef uint8_t key[32]
    cdef uint8_t salt[14]
    cdef int i
    for i in range(32):
        key[i] = <uint8_t>(i * 7 + 1)
    for i in range(14):
        salt[i] = <uint8_t>(i * 13 + 5)
    cdef srtp_ctx_t *c = srtp_ctx_new(profile, key, salt)
    if c == NULL:
        raise SrtpError(SRTP_ERR_CRYPTO, "srtp_ctx_new")
    return c


cdef inline void _rtp_header(uint8_t *p, int seq) noexcept nogil:
    p[0] = 0x80
    p[1] = 96
    p[2] = <uint8_t>((seq >> 8) & 0xff)
    p[3] = <uint8_t>(seq & 0xff)
    p[4] = 0; p[5] = 0; p[6] = 0x10; p[7] = 0
    p[8] = 0x12; p[9] = 0x34; p[10] = 0x56; p[11] = 0x78


def bench_protect(int profile, int payload_size, int count):
    """Protect `count` RTP packets (12-byte header + payload_size bytes) in place, in C without the GIL;
    returns the mean ns per packet."""
    if payload_size < 0 or payload_size > 65000 or count <= 0:
        raise SrtpError(SRTP_ERR_BAD_PARAM, "bench_protect")
    cdef srtp_ctx_t *c = _bench_ctx(profile)
    cdef int plen = 12 + payload_size
    cdef int cap = plen + 32
    cdef uint8_t *buf = <uint8_t *>malloc(cap)
    if buf == NULL:
        srtp_ctx_free(c)
        raise MemoryError()
    memset(buf, 0xab, cap)
    cdef int i, rc = 0
    cdef double t0, t1
    with nogil:
        t0 = _now_ns()
        for i in range(count):
            _rtp_header(buf, i & 0xffff)
            rc = srtp_protect_rtp(c, buf, plen, cap)
            if rc < 0:
                break
        t1 = _now_ns()
    free(buf)
    srtp_ctx_free(c)
    if rc < 0:
        raise SrtpError(rc, "bench_protect")
    return (t1 - t0) / count


def bench_unprotect(int profile, int payload_size, int count):
    """Unprotect `count` SRTP packets (12-byte header + payload_size bytes), in C without the GIL; returns
    the mean ns per packet. Includes one memcpy of the packet per iteration (unprotect is in place)."""
    if payload_size < 0 or payload_size > 65000 or count <= 0:
        raise SrtpError(SRTP_ERR_BAD_PARAM, "bench_unprotect")
    cdef int ring = 512
    cdef srtp_ctx_t *tx = _bench_ctx(profile)
    cdef srtp_ctx_t *rx
    try:
        rx = _bench_ctx(profile)
    except BaseException:
        srtp_ctx_free(tx)
        raise
    cdef int plen = 12 + payload_size
    cdef int stride = plen + 32
    cdef uint8_t *pkts = <uint8_t *>malloc(<size_t>stride * ring)
    cdef int *lens = <int *>malloc(sizeof(int) * ring)
    cdef uint8_t *work = <uint8_t *>malloc(stride)
    if pkts == NULL or lens == NULL or work == NULL:
        free(pkts); free(lens); free(work)
        srtp_ctx_free(tx); srtp_ctx_free(rx)
        raise MemoryError()
    cdef int i, k, rc = 0
    cdef double t0 = 0, t1 = 0
    with nogil:
        for i in range(ring):
            memset(pkts + <size_t>i * stride, 0xab, stride)
            _rtp_header(pkts + <size_t>i * stride, i)
            rc = srtp_protect_rtp(tx, pkts + <size_t>i * stride, plen, stride)
            if rc < 0:
                break
            lens[i] = rc
        if rc >= 0:
            t0 = _now_ns()
            for i in range(count):
                k = i % ring
                if k == 0:
                    srtp_ctx_remove_ssrc(rx, 0x12345678)  # restart the replay window each lap
                memcpy(work, pkts + <size_t>k * stride, lens[k])
                rc = srtp_unprotect_rtp(rx, work, lens[k])
                if rc < 0:
                    break
            t1 = _now_ns()
    free(pkts); free(lens); free(work)
    srtp_ctx_free(tx); srtp_ctx_free(rx)
    if rc < 0:
        raise SrtpError(rc, "bench_unprotect")
    return (t1 - t0) / count
