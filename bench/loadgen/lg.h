/* bench/loadgen: a native WebRTC-lite load generator (see README.md). One epoll I/O thread drives every
 * peer (ICE full agent for one remote candidate, DTLS-SRTP, raw SRTP), loops clips through sources and
 * keeps receive statistics. Every public function takes the loadgen's mutex, which the I/O thread only
 * releases between batches, so they may be called from any thread. */
#ifndef LG_H
#define LG_H
#include <stdint.h>

#define LG_HIST_BUCKETS 61          /* log-spaced latency buckets, upper bounds 10 us .. 10 s */
#define LG_MAX_PAYLOAD 1900         /* largest clip payload (bytes) */
#define LG_PT_COUNT 128             /* RTP payload types: tables indexed by payload type */

typedef struct lg lg_t;

typedef struct {
    uint64_t rx_packets, rx_bytes, rx_rtx, lost, nacks_tx, plis_tx, rr_tx, twcc_fb_tx;
    uint64_t tx_packets, tx_bytes, retransmits, nacks_rx, plis_rx, decrypt_errors, malformed;
    uint64_t rx_kernel_ts;         /* received datagrams that carried a kernel receive timestamp */
} lg_stats_t;

typedef struct { uint32_t ssrc; uint64_t received; } lg_ssrc_stat_t;

/* A sending source's keyframe requests (PLI or FIR naming its SSRC): how many, the keyframes it jumped to for
 * them, the shortest gap between two requests, the most that arrived within any one second. */
typedef struct {
    uint64_t packets, keyframe_requests, keyframes_requested, min_request_gap_us;
    int max_requests_1s;
} lg_source_stats_t;

typedef struct {
    const char *remote_ip;
    int remote_port;
    const char *remote_ufrag, *remote_pwd;
    const char *fp_alg;            /* "sha-256", ... */
    const uint8_t *fp; int fp_len;
    int controlling, dtls_client;
    const char *profiles;          /* OpenSSL use_srtp list, e.g. "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80" */
    uint8_t rtx_apt[LG_PT_COUNT];  /* rtx payload type -> media payload type, 0xff = not rtx */
    int twcc_ext;
} lg_connect_t;

typedef struct { int64_t offset_us; uint32_t ts_delta; int keyframe; int npayloads; } lg_frame_t;

typedef struct {
    int peer, clip;
    uint32_t ssrc; int pt; uint32_t stream_id;
    int mid_ext; const uint8_t *mid; int mid_len;
    int rid_ext; const uint8_t *rid; int rid_len;
    int abs_ext;
    int rrid_ext;                  /* repaired-rtp-stream-id on RTX packets (the rid), 0 = none */
    uint32_t rtx_ssrc; int rtx_pt;
    uint32_t pace_kbps;
    int drop_every;                /* test only: drop every Nth packet on its first send (0 = never) */
} lg_source_t;

enum { LG_ICE_NEW = 0, LG_ICE_CHECKING, LG_ICE_CONNECTED, LG_ICE_FAILED };
enum { LG_DTLS_NEW = 0, LG_DTLS_CONNECTING, LG_DTLS_CONNECTED, LG_DTLS_FAILED };

lg_t *lg_new(const char *bind_ip, int verify_every, char *err, int errlen);
void lg_free(lg_t *lg);
const char *lg_fingerprint(lg_t *lg);

int lg_open_peer(lg_t *lg, const char *ufrag, const char *pwd, char *err, int errlen);  /* id or -1 */
int lg_port(lg_t *lg, int peer);
int lg_connect(lg_t *lg, int peer, const lg_connect_t *c, char *err, int errlen);
int lg_connect_raw(lg_t *lg, int peer, const char *ip, int port, const uint8_t tx_key[28], const uint8_t rx_key[28],
                   const uint8_t *hello, int hello_len, char *err, int errlen);
/* ice/dtls: LG_ICE_* / LG_DTLS_*; profile: RFC 5764 id or 0. */
int lg_state(lg_t *lg, int peer, int *ice, int *dtls, int *profile);
int lg_close_peer(lg_t *lg, int peer);
/* Receive side: RTX SSRC rtx_ssrc repairs media_ssrc (without it the binding is learnt from the first RTX
 * packet whose OSN one media stream of the apt payload type misses). */
int lg_map_rtx(lg_t *lg, int peer, uint32_t rtx_ssrc, uint32_t media_ssrc);

/* frames[i] has frames[i].npayloads payloads, taken in order from payloads/lens. Returns the clip id. */
int lg_load_clip(lg_t *lg, int clock_rate, int nframes, const lg_frame_t *frames, const uint8_t *const *payloads,
                 const int *lens, char *err, int errlen);
int lg_add_source(lg_t *lg, const lg_source_t *s, char *err, int errlen);
/* source -1: every source. stagger: a started source waits a random part of its clip's first frame gap. */
int lg_source_run(lg_t *lg, int source, int run, int stagger);
int lg_source_stats(lg_t *lg, int source, lg_source_stats_t *out);   /* 0, or -1: no such source */

/* Fills at most max SSRC counters (*n of them); returns how many SSRCs the peer has, or -1. */
int lg_peer_stats(lg_t *lg, int peer, lg_stats_t *st, lg_ssrc_stat_t *ssrcs, int max, int *n);
/* hist: latency from the kernel receive timestamp (the I/O thread's clock when a datagram had none);
 * app_hist: latency from the time the I/O thread got to the datagram. Either may be NULL. */
int lg_totals(lg_t *lg, lg_stats_t *st, uint64_t hist[LG_HIST_BUCKETS], uint64_t app_hist[LG_HIST_BUCKETS]);
double lg_hist_bound_us(int i);
double lg_cpu_seconds(lg_t *lg);      /* CPU time of the I/O thread */
/* Test only: holds the loadgen's mutex for us microseconds, so the I/O thread stalls (its sockets queue). */
void lg_stall(lg_t *lg, int us);
#endif
