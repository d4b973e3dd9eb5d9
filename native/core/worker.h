/* The media worker: one UDP port shared by all transports, a thread that receives, decrypts, routes,
 * rewrites, encrypts and sends in batches. Callers hold ms_worker_lock() around every other call. */
#ifndef MS_WORKER_H
#define MS_WORKER_H
#include <stdint.h>

typedef struct ms_worker ms_worker_t;

/* Sizes of the arrays in the structs below (native/_core_decl.pxd takes them from here). */
#define MS_MAX_LAYERS 3         /* simulcast encodings of one source */
#define MS_PT_COUNT 128         /* RTP payload types: tables indexed by payload type */
#define MS_MID_LEN 32
#define MS_RID_LEN 16
#define MS_EVENT_TEXT 128
#define MS_SINK_SSRCS 8         /* client transports: received SSRCs accounted */
#define MS_CAPTURE_PAYLOAD 14   /* first payload bytes kept of a captured packet */

/* Latency histogram: 4 buckets per power of two of microseconds (about 19% wide). Bucket b covers
 * [lo, hi) with lo = (4 + b % 4) << (b / 4 - 2) for b >= 8, and [b, b + 1) below 8. */
#define MS_LAT_BUCKETS 128
static inline int ms_latency_bucket(uint64_t us) {
    if (us < 8) return (int)us;
    int e = 63 - __builtin_clzll(us);              /* us in [2^e, 2^(e+1)), e >= 3 */
    int b = 4 * e + (int)((us >> (e - 2)) & 3) - 4;
    return b < MS_LAT_BUCKETS ? b : MS_LAT_BUCKETS - 1;
}

enum {
    DROP_STUN_MALFORMED = 0, DROP_STUN_AUTH, DROP_STUN_UNKNOWN_UFRAG, DROP_UNKNOWN_ADDR, DROP_DTLS,
    DROP_NOT_READY, DROP_SRTP_AUTH, DROP_SRTP_REPLAY, DROP_RTP_MALFORMED, DROP_RTCP_MALFORMED,
    DROP_UNKNOWN_SSRC, DROP_DUPLICATE, DROP_UNKNOWN_TYPE, DROP_TOO_BIG, DROP_UNKNOWN_PT, DROP_SEND_FAILED,
    DROP_TOO_OLD, DROP_MAX
};

typedef struct {
    uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
    uint64_t rtp_rx, rtcp_rx, stun_rx, dtls_rx, rtp_tx, rtcp_tx;
    uint64_t drops[DROP_MAX];
    uint64_t nacks_rx, nacks_tx, rtx_tx, plis_rx, plis_tx, rx_batches, tx_batches;
    uint64_t tx_messages, tx_gso_messages;  /* sendmmsg messages; those carrying several GSO segments */
    uint64_t transports, producers, consumers, tcp_conns;
    uint64_t events_dropped;
    uint64_t twcc_rx, twcc_tx, remb_rx, probes_tx;  /* transport-cc feedback in and out, REMB in, probes */
    uint64_t rtx_skipped;     /* retransmissions left out: over the transport's share of its estimate */
    uint64_t overloads, rtx_shed; /* times the worker found itself saturated; retransmissions shed then */
    /* retransmissions a subscriber asked for and its NACK budget refused (issue 14 finding 10): over the
     * sequence numbers honoured per RTCP packet, the same packet again within a round trip, over its rate */
    uint64_t rtx_refused_rtcp, rtx_refused_repeat, rtx_refused_rate;
    /* issue 18, pipes between workers: packets handed on, left out for a full ring, taken in; keyframe
     * requests passed to publishers for other workers; pipes this worker receives */
    uint64_t pipe_tx, pipe_dropped, pipe_rx, pipe_plis, pipes_in, pipe_wakes;
    uint64_t cpu_us;          /* CPU time the worker's thread has used (its load, with the packets) */
} ms_stats_t;

/* The NACK budget of every consumer (issue 14 finding 10), with or without transport-cc: a NACK is a request,
 * never an amplifier. Of one RTCP packet at most MS_RTX_PER_RTCP sequence numbers are honoured (over all its
 * NACKs); a packet is retransmitted at most once per round trip (the RTT the receiver reports answer to our
 * sender reports give, clamped to [MS_RTX_RTT_MIN_US, MS_RTX_RTT_MAX_US]; MS_RTX_RTT_DEFAULT_US until one
 * is known); and retransmissions take tokens of a bucket that fills at MS_RTX_SHARE_PCT of the consumer's
 * forwarded rate plus MS_RTX_FLOOR_BYTES per second and holds MS_RTX_BURST_MS of that rate (each charged
 * its cached packet plus MS_RTX_OVERHEAD bytes). */
#define MS_RTX_PER_RTCP 64
#define MS_RTX_RTT_MIN_US 20000
#define MS_RTX_RTT_MAX_US 1000000
#define MS_RTX_RTT_DEFAULT_US 100000
#define MS_RTX_SHARE_PCT 50
#define MS_RTX_FLOOR_BYTES 16000
#define MS_RTX_BURST_MS 500
#define MS_RTX_OVERHEAD 32

enum { EV_ICE = 1, EV_DTLS, EV_CONSUMER_CLOSED, EV_PRODUCER_SSRC, EV_NOTICE };
enum { ICE_NEW = 0, ICE_CONNECTED = 1, ICE_DISCONNECTED = 2 };
typedef struct {
    int type;
    uint32_t id;      /* transport, producer or consumer id */
    int64_t a, b;     /* EV_ICE: a=state; EV_DTLS: a=dtls state, b=srtp profile */
    char text[MS_EVENT_TEXT];
} ms_event_t;


typedef struct {
    int kind;                 /* 0 audio, 1 video */
    uint32_t ssrc, rtx_ssrc;  /* 0 = learn from the mid header extension */
    uint8_t codec_of_pt[MS_PT_COUNT]; /* CODEC_* per payload type, 0 unknown/other */
    uint8_t apt_of_rtx[MS_PT_COUNT];  /* rtx payload type -> media payload type, 0xff none */
    uint32_t clock_rate;
    uint8_t ext_mid, ext_rid, ext_rrid, ext_abs, ext_twcc, ext_alevel;
    char mid[MS_MID_LEN];
    int nack;                 /* the publisher answers NACKs: the worker NACKs upstream loss */
    /* simulcast: up to MS_MAX_LAYERS encodings of one source, each its own SSRC, told apart by the rid
     * header extension (a=rid / a=simulcast) or by SSRC (a=ssrc-group:SIM); 0 or 1 layer = no simulcast.
     * Layers are ranked by their measured bitrate, so the order they are given in does not matter. */
    int nlayers;
    char rids[MS_MAX_LAYERS][MS_RID_LEN];
    uint32_t layer_ssrc[MS_MAX_LAYERS], layer_rtx_ssrc[MS_MAX_LAYERS];
} ms_producer_params_t;

typedef struct {
    uint32_t ssrc, rtx_ssrc;
    uint8_t pt_map[MS_PT_COUNT];      /* producer payload type -> consumer payload type, 0xff drop */
    uint8_t rtx_pt_of[MS_PT_COUNT];   /* consumer media payload type -> consumer rtx payload type, 0xff none */
    uint8_t ext_mid, ext_abs, ext_twcc, ext_alevel;
    uint8_t ext_playout;      /* playout-delay: asks a lossy receiver to wait for retransmissions */
    uint8_t first;            /* served before the others every batch, in the order made: a link to another
                               * node carries the packet on to that node's whole audience (issue 19) */
    char mid[MS_MID_LEN];
} ms_consumer_params_t;

typedef struct {
    uint64_t packets, bytes, lost, nacks, plis, rtx, keyframes;
    uint32_t ssrc;
    int32_t fraction_lost;    /* last value a receiver report gave, 0..255 */
    uint32_t jitter;
    int64_t rtt_us;
    /* simulcast. Producers: per layer (in the order given) SSRC, measured bit/s, active flag and rank
     * (0 = lowest bitrate). Consumers: the layer (producer's order) forwarded now and the one wanted,
     * -1 = none (video off), and the forwarded bit/s. */
    int nlayers;
    uint32_t layer_ssrc[MS_MAX_LAYERS], layer_bps[MS_MAX_LAYERS];
    int layer_active[MS_MAX_LAYERS], layer_rank[MS_MAX_LAYERS];
    int cur_layer, target_layer;
    uint32_t bps;
    int temporal;              /* consumers: highest VP8 temporal layer forwarded, -1 = all (no filtering) */
    uint64_t frames_dropped;   /* consumers: frames left out by temporal-layer filtering */
    uint64_t rtx_refused;      /* consumers: retransmissions asked for that the NACK budget refused */
} ms_stream_stats_t;

typedef struct {
    int ice_state, dtls_state, srtp_profile;
    int dtls_frozen;                  /* the SSL object is freed: the peer proved its handshake done */
    int remote_port, over_tcp;        /* the selected path's remote port, and whether it is ICE-TCP */
    uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
    /* client ("sink") transports: received media accounting for tests and the bench */
    uint64_t sink_packets, sink_bytes, sink_lost, sink_decrypt_errors;
    uint32_t sink_ssrc[MS_SINK_SSRCS], sink_max_seq[MS_SINK_SSRCS];   /* per received SSRC: highest extended sequence number */
    uint64_t sink_received[MS_SINK_SSRCS];
    uint64_t latency_hist[MS_LAT_BUCKETS]; /* see ms_latency_bucket(); from abs-send-time */
    /* subscriber side: the bandwidth estimate (0 = none yet), its state, what the allocation wants */
    uint32_t bwe_bps, bwe_acked_bps, wanted_bps;
    int bwe_state, bwe_feedback;
} ms_transport_stats_t;

ms_worker_t *ms_worker_new(const char *ip, int port, char *err, int errlen);
int ms_worker_start(ms_worker_t *w);
void ms_worker_stop(ms_worker_t *w);
void ms_worker_free(ms_worker_t *w);
void ms_worker_lock(ms_worker_t *w);
void ms_worker_unlock(ms_worker_t *w);
int ms_worker_port(ms_worker_t *w);
/* Issue 18: run the worker's thread on this CPU only (after ms_worker_start); 0, or -1 (errno). */
int ms_worker_set_cpu(ms_worker_t *w, int cpu);
int ms_worker_tcp_enabled(ms_worker_t *w);
int ms_worker_gso_enabled(ms_worker_t *w);  /* UDP GSO in use for bursts to one destination */
void ms_worker_set_gso(ms_worker_t *w, int on);
void ms_worker_set_consent_timeout(ms_worker_t *w, uint64_t us);  /* default 30 s (RFC 7675) */  /* ICE-TCP listening on the same port number */
int ms_worker_eventfd(ms_worker_t *w);
const char *ms_worker_fingerprint(ms_worker_t *w);
int ms_worker_poll_events(ms_worker_t *w, ms_event_t *out, int max);
void ms_worker_stats(ms_worker_t *w, ms_stats_t *out);

/* Server transport (ICE-lite, shared port). dtls_client: 1 when the peer's SDP said setup:passive. */
int ms_transport_create(ms_worker_t *w, const char *ufrag, const char *pwd, int dtls_client, const char *fp_alg,
                        const uint8_t *fp, int fp_len, char *err, int errlen);
/* Client transport (own socket bound to local_ip, NULL for 127.0.0.1; controlling ICE agent, DTLS client).
 * Without relay it sinks what it receives (the bench and tests: counted, captured); with relay its producers
 * (ms_producer_create) take the packets in as a server transport's do: a cluster edge's link to the owner. */
/* A recorder transport: consumers on it append their packets (rewritten, not encrypted) to a buffer of
 * buffer_bytes, drained with ms_transport_recorder_drain: records of u32 length, u64 time (µs), packet. */
int ms_transport_create_recorder(ms_worker_t *w, uint32_t buffer_bytes, char *err, int errlen);
/* Moves whole records (at most cap bytes) out of a recorder's buffer; returns the bytes, -1 if no such
 * recorder; *dropped: packets left out so far because the buffer was full. With out NULL: the bytes waiting. */
int ms_transport_recorder_drain(ms_worker_t *w, uint32_t id, uint8_t *out, int cap, uint64_t *dropped);
int ms_transport_create_client(ms_worker_t *w, const char *remote_ip, int remote_port, const char *local_ufrag,
                               const char *remote_ufrag, const char *remote_pwd, const char *fp_alg,
                               const uint8_t *fp, int fp_len, int sink_abs_ext, const char *local_ip, int relay,
                               char *err, int errlen);
/* The peer's DTLS role and certificate fingerprint, for a transport created without them (so that ICE can
 * start as soon as the server's offer is out, before the answer brings the fingerprint). */
int ms_transport_set_dtls(ms_worker_t *w, uint32_t id, int dtls_client, const char *fp_alg, const uint8_t *fp,
                          int fp_len, char *err, int errlen);
int ms_transport_close(ms_worker_t *w, uint32_t id);
int ms_transport_stats(ms_worker_t *w, uint32_t id, ms_transport_stats_t *out);
/* Client transports only: protect and send one RTP packet; stamps abs-send-time into ext id abs_ext. */
int ms_transport_send_rtp(ms_worker_t *w, uint32_t id, const uint8_t *pkt, int len, int abs_ext);
int ms_transport_send_rtcp(ms_worker_t *w, uint32_t id, const uint8_t *pkt, int len);
/* Client transports only: the RTP packets received since the last call (at most MS_CAPTURE kept, oldest
 * dropped), decrypted, header fields and the first payload bytes: for tests and the bench. */
#define MS_CAPTURE 2048
typedef struct {
    uint64_t arrival_us;
    uint32_t ts, ssrc;
    uint16_t seq;
    uint8_t pt, marker;
    int16_t len;               /* whole packet, after SRTP */
    uint8_t payload[MS_CAPTURE_PAYLOAD];
    uint8_t npayload;
} ms_capture_t;
int ms_transport_capture(ms_worker_t *w, uint32_t id, ms_capture_t *out, int max);

int ms_producer_create(ms_worker_t *w, uint32_t transport_id, const ms_producer_params_t *p);
int ms_producer_close(ms_worker_t *w, uint32_t id);
int ms_producer_stats(ms_worker_t *w, uint32_t id, ms_stream_stats_t *out);
int ms_producer_request_keyframe(ms_worker_t *w, uint32_t id);

/* Issue 18: the producer's stream (every layer) handed on to worker dst of the same process, where it is a
 * producer of its own (the returned id; its consumers are made there). Both workers must be locked (in a
 * fixed order). ms_pipe_close takes it down with that producer and its consumers. */
int ms_pipe_create(ms_worker_t *src, uint32_t producer_id, ms_worker_t *dst, char *err, int errlen);
int ms_pipe_close(ms_worker_t *src, ms_worker_t *dst, uint32_t pipe_producer_id);

int ms_consumer_create(ms_worker_t *w, uint32_t transport_id, uint32_t producer_id, const ms_consumer_params_t *p);
int ms_consumer_close(ms_worker_t *w, uint32_t id);
int ms_consumer_pause(ms_worker_t *w, uint32_t id, int paused);
int ms_consumer_stats(ms_worker_t *w, uint32_t id, ms_stream_stats_t *out);
/* Pin a consumer to a simulcast layer (producer's order; -1 video off), or MS_LAYER_AUTO to let the
 * allocator choose from the bandwidth estimate and the budgets. */
#define MS_LAYER_AUTO 255
int ms_consumer_set_layer(ms_worker_t *w, uint32_t id, int layer);
/* VP8 temporal layers: forward TID <= tl (down at once, up at a layer-sync frame); MS_LAYER_AUTO = all. */
int ms_consumer_set_temporal(ms_worker_t *w, uint32_t id, int tl);
/* Budget of one stream in bit/s (R-MEDIA-3; 0 = none) and its priority in the allocation (higher first:
 * the stage before other cameras). */
int ms_consumer_set_budget(ms_worker_t *w, uint32_t id, uint32_t max_bps, int priority);
/* Total budget of a subscriber transport in bit/s (R-MEDIA-3 "attendee down"; 0 = none). */
int ms_transport_set_budget(ms_worker_t *w, uint32_t id, uint32_t max_bps);
#endif
