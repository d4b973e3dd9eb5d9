/* Bandwidth estimation: transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-
 * extensions-01), REMB (draft-alvestrand-rmcat-remb-03) and a send-side estimator after Google congestion
 * control (draft-ietf-rmcat-gcc-02: trendline delay filter, adaptive over-use threshold, AIMD rate control,
 * loss-based control) with probing. Pure C, no allocation: every state lives in fixed-size structs that the
 * caller embeds (one twcc_rx_t per receiving transport, one bwe_t per sending transport).
 *
 * Units: times in microseconds, rates in bits per second, sizes in bytes. The estimator only ever compares
 * send times with send times and arrival times with arrival times, so the two clocks need not agree. */
#ifndef MS_BWE_H
#define MS_BWE_H
#include <stdint.h>

/* ---------------------------------------------------------------- receive side: transport-cc feedback */

#define TWCC_RX_RING 1024            /* arrivals remembered; a wider gap is reported from its newest 1024 */
#define TWCC_FB_MIN 28               /* smallest cap twcc_rx_build accepts (header + one chunk + delta) */

typedef struct { uint32_t arrival_lo; uint16_t seq; uint8_t used, _pad; } twcc_rx_slot_t;

typedef struct {
    twcc_rx_slot_t ring[TWCC_RX_RING];
    int64_t next_seq;                /* extended sequence number of the first one not yet reported */
    int64_t max_seq;                 /* extended highest sequence number received */
    uint64_t last_arrival_us;        /* arrival passed in by the latest call (reconstructs ring times) */
    uint32_t pending;                /* received and not yet reported */
    uint16_t ignored_run;            /* consecutive too-old packets (a run of 128 restarts the numbering) */
    uint8_t fb_count, started, sent_any, _pad[3];
} twcc_rx_t;

void twcc_rx_init(twcc_rx_t *r);
/* Records the arrival of one packet carrying the transport-wide sequence number twcc_seq. Duplicates keep
 * their first arrival; a packet older than what was already reported is ignored (it went out as lost). */
void twcc_rx_on_packet(twcc_rx_t *r, uint16_t twcc_seq, uint64_t arrival_us);
/* Builds one RTPFB FMT=15 feedback packet (whole RTCP packet, RFC 3550 padding with the P bit as libwebrtc
 * does) for the packets received since the last call, with the gaps among them reported as lost. Returns
 * its length, or 0 when there is nothing to report (or cap < TWCC_FB_MIN). When everything does not fit
 * in cap, or two arrivals are more than 8 s apart, the packet covers a prefix and the next call continues:
 * call it in a loop until it returns 0. Arrival times are carried to 250 us (rounded, not accumulated). */
int twcc_rx_build(twcc_rx_t *r, uint8_t *out, int cap, uint32_t sender_ssrc, uint32_t media_ssrc);

/* ---------------------------------------------------------------- parsing */

#define TWCC_LOST (-1)               /* recv_us of a packet reported as not received */
#define TWCC_NO_TIME (-2)            /* recv_us of a packet received without a delta (2-bit symbol 11) */
#define TWCC_TIME_RANGE_US (16777216LL * 64000LL)  /* reference time wraps after 2^24 * 64 ms */

typedef struct { uint16_t seq; int64_t recv_us; } twcc_result_t;

/* Parses one whole RTCP packet (from the V=2 byte; len may extend past it, its length field counts).
 * recv_us = reference time (unsigned 24-bit, x 64 ms) + the receive deltas so far, in the receiver's clock
 * modulo TWCC_TIME_RANGE_US (never negative: a garbage negative sum is clamped to 0); lost packets get
 * TWCC_LOST, 2-bit symbol 11 (reserved; "received, no delta" in the draft's examples) TWCC_NO_TIME.
 * Writes at most max results in sequence order; returns how many, or -1 when the packet is not transport-cc
 * feedback or is malformed (truncated chunks or deltas, empty). fb_count (may be NULL) gets the feedback
 * packet count. */
int twcc_parse(const uint8_t *pkt, int len, twcc_result_t *out, int max, uint8_t *fb_count);

/* REMB (PSFB FMT=15, "REMB"): whole RTCP packet. bps saturates at UINT32_MAX. 0 ok, -1 not a REMB. */
int remb_parse(const uint8_t *pkt, int len, uint32_t *bps);
/* Writes 20 + 4 n bytes (n is clamped to 0..255); returns that length. Media SSRC is 0 as the draft says. */
int remb_build(uint8_t *out, uint32_t sender_ssrc, uint32_t bps, const uint32_t *ssrcs, int n);

/* ---------------------------------------------------------------- send side estimator
 *
 * Delay-based: received packets are grouped by send time (5 ms bursts); the variation of the groups'
 * inter-arrival against inter-departure times feeds a trendline filter (window 20, smoothing 0.9, gain 4)
 * compared with GCC's adaptive threshold (6..600 ms, k_up 0.0087, k_down 0.039); over-use -> AIMD rate
 * 0.85 x acked rate (again at most once per RTT, clamped 10..200 ms); normal -> increase, multiplicative
 * 8 %/s far from the last congestion point, additive (about one packet per RTT + 100 ms) near it, never
 * above 1.5 x acked + 10 kbit/s; under-use -> hold.
 * Loss-based: transport-cc losses are counted over windows of >= 20 packets and >= 500 ms (or 200 packets);
 * loss > 10 % -> rate at which that window was sent x (1 - loss / 2), at most once per 300 ms + RTT;
 * loss < 2 % -> grows 8 %/s. The estimate is min(delay-based, loss-based[, fresh REMB]) within [min, max].
 */

#define BWE_HIST 1024                /* packets remembered for feedback (about 2 s at 5 Mbit/s, 1200 B) */
#ifndef BWE_HIST_MIN
#define BWE_HIST_MIN 128             /* the history starts this small and doubles (up to BWE_HIST) rather than
                                      * drop a packet not reported yet: same results, memory for what flies */
#endif
#define BWE_TREND_WIN 20
#define BWE_CLUSTERS 4
#define BWE_ACK_BUCKETS 16           /* 50 ms each by arrival time: the acked rate covers the last 500 ms */

enum { BWE_HOLD = 0, BWE_INCREASE = 1, BWE_DECREASE = 2 };
enum { BWE_NORMAL = 0, BWE_OVERUSE = 1, BWE_UNDERUSE = 2 };

typedef struct { uint32_t send_lo; uint16_t seq, size; int8_t cluster; uint8_t st; } bwe_sent_t;

typedef struct {
    int id;                          /* 0 = free */
    uint32_t target_bps, est_at_start, result_bps;
    int sent_pkts, recv_pkts, last_sent_size, first_recv_size;
    int64_t sent_bytes, recv_bytes;
    int64_t first_send, last_send, first_recv, last_recv;
} bwe_cluster_t;

typedef struct {
    /* configuration and outputs */
    uint32_t min_bps, max_bps;
    uint32_t est_bps;                /* the combined estimate (bwe_estimate) */
    uint32_t delay_bps;              /* delay-based (AIMD) estimate */
    uint32_t loss_bps;               /* loss-based estimate */
    uint32_t remb_bps;               /* latest REMB, 0 = none */
    uint32_t ack_bps;                /* acknowledged rate, 0 = unknown yet */
    int64_t rtt_us;
    int last_action;                 /* BWE_HOLD / BWE_INCREASE / BWE_DECREASE of the latest update */
    uint64_t twcc_us, remb_us;       /* when feedback of each kind last arrived (sender clock); 0 never */
    uint8_t have_twcc, have_remb;

    /* send history */
    bwe_sent_t *hist;                /* ring indexed by seq & hist_mask, BWE_HIST_MIN..BWE_HIST entries */
    uint32_t hist_mask;
    uint64_t last_send_us;
    uint8_t have_sent;

    /* arrival-time unwrapping (the reference time wraps) */
    int64_t recv_last;               /* latest unwrapped arrival */
    uint8_t have_recv;

    /* inter-arrival grouping (5 ms send-time bursts) */
    struct { int64_t first_send, last_send, first_arr, last_arr; int valid; } grp, prev_grp;
    int reordered;

    /* trendline filter and over-use detector */
    double acc_delay, smooth_delay, first_arr_ms, prev_trend, thr_ms, time_over_ms;
    double win_x[BWE_TREND_WIN], win_y[BWE_TREND_WIN];
    int win_n, win_head, num_deltas, overuse_count, hypothesis, have_first_arr;
    int64_t thr_last_ms;

    /* AIMD rate control */
    int rc_state, decreased_once;
    uint64_t rc_last_change_us;
    double cap_kbps, cap_dev;        /* link capacity estimate at the last over-use (cap_kbps < 0: none) */

    /* acknowledged rate */
    int64_t ack_idx[BWE_ACK_BUCKETS];
    uint32_t ack_bytes[BWE_ACK_BUCKETS];
    int64_t ack_first, ack_latest;
    uint8_t ack_started;

    /* loss-based control */
    uint32_t loss_lost, loss_expected;
    int64_t loss_bytes, loss_first_send, loss_last_send;
    uint64_t loss_win_start_us, loss_last_update_us, loss_last_decrease_us;
    uint8_t last_loss_q8, prev_loss_q8;  /* loss fraction x 256 of the latest two windows */

    /* probing */
    bwe_cluster_t clusters[BWE_CLUSTERS];
    int next_cluster;
    uint64_t next_probe_us;
    uint32_t probe_bps;              /* the latest probe result (bwe_probe_bps) */
    uint64_t probe_us;
    int64_t probe_interval_us;
} bwe_t;

void bwe_init(bwe_t *b, uint32_t start_bps, uint32_t min_bps, uint32_t max_bps);
void bwe_free(bwe_t *b);             /* the history bwe_init allocated (not b itself) */
/* Every packet sent with a transport-wide sequence number (media, retransmission, padding): its size on the
 * wire, send time, and the probe cluster id it belongs to (-1 none). */
void bwe_on_sent(bwe_t *b, uint16_t twcc_seq, int size_bytes, uint64_t send_us, int probe_cluster);
/* Results of one parsed feedback packet (twcc_parse), now_us in the sender clock. */
void bwe_on_feedback(bwe_t *b, const twcc_result_t *res, int n, uint64_t now_us);
/* A REMB from the receiver: with transport-cc it caps the estimate for 3 s; without, the estimate follows it. */
void bwe_on_remb(bwe_t *b, uint32_t bps, uint64_t now_us);
/* RR fraction lost (x 256). Ignored while transport-cc feedback flows (it already carries the losses). */
void bwe_on_loss(bwe_t *b, uint8_t fraction_lost, uint64_t now_us);
void bwe_on_rtt(bwe_t *b, int64_t rtt_us);
uint32_t bwe_estimate(const bwe_t *b);        /* bits per second the path carries now, in [min, max] */
uint32_t bwe_acked_bps(const bwe_t *b);       /* delivered rate over the last ~500 ms of arrivals, 0 unknown */
int bwe_state(const bwe_t *b);                /* BWE_HOLD, BWE_INCREASE or BWE_DECREASE (latest update) */
int bwe_detector(const bwe_t *b);             /* BWE_NORMAL, BWE_OVERUSE or BWE_UNDERUSE */
/* Probing: start a cluster at target_bps; the caller sends at that total rate for >= 15 ms and >= 5
 * packets, marking every packet it sends meanwhile (media or padding) with the returned id (1..100).
 * Its delivered rate (received bytes / receive span, at most the send rate) lifts the estimate. */
int bwe_probe_start(bwe_t *b, uint32_t target_bps, uint64_t now_us);
/* Pacing of probes: the rate to probe at now (bits per second), or 0 for not now. Probes go to at most
 * twice the estimate when wanted_bps exceeds the estimate by 10 %; after a probe that failed the next waits
 * 1 s, 2 s, then 3 s; after one that succeeded it may follow within 300 ms. */
int bwe_should_probe(const bwe_t *b, uint32_t wanted_bps, uint64_t now_us);
/* The delivered rate the latest probe cluster measured, if its feedback came at most max_age_us ago
 * (else 0): how fast the path has been seen to carry, where the acked rate only shows what was sent. */
uint32_t bwe_probe_bps(const bwe_t *b, uint64_t now_us, uint64_t max_age_us);
#endif
