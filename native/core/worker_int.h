/* The media worker's internals, shared by its units (not a public header: worker.h is):
 *   worker.c    the loop, the demultiplexer, objects' life cycle and the public API
 *   io.c/io.h   batched UDP I/O (recvmmsg, sendmmsg, UDP GSO) and the event queue to Python
 *   tcp.c       ICE-TCP (RFC 6544 framing, passive candidates)
 *   ice.c       ICE-lite and DTLS glue: binding requests, consent, the handshake, SRTP keys
 *   forward.c   RTP in, the retransmission cache, forwarding to consumers, retransmissions
 *   feedback.c  RTCP in (typed parsers of rtcp_fb.h) and out: reports, NACKs, keyframe requests
 *   layers.c    simulcast layers' rates and ranks, and the allocation (alloc.h) applied to consumers
 *   probe.c     bandwidth probes (padding on an RTX stream)
 *   recorder.c  the recorder transport (a buffer instead of a network)
 *   pipe.c      a published stream handed to another worker of the process (ring.h; issue 18)
 * with the pure units they use: translate.h (sequence/timestamp/picture-ID translation), alloc.h, rtcp_fb.h,
 * bwe.h, rtp.h, rtcp.h, srtp.h, dtls.h, stun.h. */
#ifndef MS_WORKER_INT_H
#define MS_WORKER_INT_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "worker.h"

#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include "alloc.h"
#include "bwe.h"
#include "dtls.h"
#include "rtcp.h"
#include "ring.h"
#include "rtp.h"
#include "srtp.h"
#include "translate.h"
#include "util.h"

#define MS_HIDDEN __attribute__((visibility("hidden")))

#define MTU 1500
#define RXB 64                 /* datagrams per recvmmsg */
#define TXB 512                /* datagrams the send buffers hold */
#define TX_FLUSH_MSGS 64       /* hand the kernel a batch this many messages long: the first receivers of a
                                * wide fan-out do not wait for the encryption of the whole buffer */
#define RX_ROUNDS 16           /* recvmmsg rounds per wake-up; a socket still full after them = saturated */
#define OVERLOAD_HOLD_US 200000 /* how long a saturated worker sheds retransmissions and probes */
#define GSO_MAX_SEG 1452       /* a GSO segment must fit the path MTU: 1500 - 40 (IPv6) - 8 (UDP) */
#define CACHE 1024             /* retransmission cache slots per producer (power of two) */
#define NACK_MAX 128
#define EVQ 4096
#define CONSENT_TIMEOUT_US 30000000ull   /* RFC 7675 */
/* Keyframe requests to one publisher layer: at most one a second whatever the audience (issue 18), merged
 * over every consumer and every worker the layer is piped to. The first after a quiet second goes at once;
 * later ones wait, and a keyframe that arrives meanwhile serves them all (pli_pending cleared). */
#define PLI_INTERVAL_US 1010000ull   /* 10 ms over: still one a second where delivery jitters that much */
#define REPORT_INTERVAL_US 1000000ull
#define SR_WALK_US 100000ull       /* consumers' reports and playout delays: looked at every 100 ms */
#define SERVER_SSRC 0x5eed0001u

typedef struct ms_consumer ms_consumer_t;
typedef struct ms_producer ms_producer_t;
typedef struct ms_pipe ms_pipe_t;

struct tcp_conn;

/* A client transport either sinks what it receives (tests and the bench: counted, captured) or relays it:
 * its producers take the packets in like a server transport's (a cluster edge's link to the room's owner). */
enum { CLIENT_SINK = 1, CLIENT_RELAY = 2 };

typedef struct ms_transport {
    /* what every packet sent to it reads and writes comes first: two cache lines, which forward_pending
     * prefetches ahead of its consumer's turn (an IPv4 address ends within the second) */
    uint32_t id;
    int has_remote;
    int ice_state;
    int client_mode, fd;       /* client transports own a socket; CLIENT_SINK or CLIENT_RELAY */
    uint16_t twcc_seq;
    struct tcp_conn *tcp;      /* ICE-TCP (RFC 6544) connection carrying this transport, or NULL */
    uint8_t *rec_buf;          /* a recorder's buffer (below), or NULL */
    srtp_ctx_t *srtp_out;
    bwe_t *bwe;                /* send-side estimate (transport-cc, or REMB), made with the first consumer */
    uint64_t tx_packets, tx_bytes;
    socklen_t remote_len;
    struct sockaddr_storage remote;
    char ufrag[256], pwd[256];
    char remote_ufrag[256], remote_pwd[256];
    uint64_t tiebreaker;
    uint64_t last_consent_us, last_check_us;
    uint8_t seen_txid[8][12];  /* recent binding-request transaction ids and where they came from: */
    struct sockaddr_storage seen_from[8];  /* the same request from elsewhere is a replay and moves nothing */
    int seen_i;
    dtls_conn_t dtls;
    int dtls_ready;            /* dtls_conn_init succeeded */
    srtp_ctx_t *srtp_in;
    uint64_t rx_packets, rx_bytes;
    /* subscriber side: its consumers, and the allocation of its bandwidth across them (alloc.h) */
    struct ms_consumer *cons;
    uint32_t budget_bps;       /* R-MEDIA-3 "attendee down", 0 = none */
    ms_alloc_ctx_t alloc;      /* the allocation's state: hold, congestion, the estimate it used, when next */
    twcc_rx_t *twcc_rx;        /* publisher side: arrivals to report in transport-cc feedback */
    uint32_t twcc_media_ssrc;
    uint8_t twcc_ext;          /* the transport-cc header extension id its publishers negotiated */
    int probe_id, probe_rounds, probe_per_round;   /* a bandwidth probe under way */
    uint64_t probe_next_us, next_probe_us, probe_gap_us;
    uint32_t probe_at_bps;     /* the validated rate when the latest probe started */
    uint64_t cons_since_us;    /* when it got its first consumer */
    int expect_fb, got_fb;     /* a consumer negotiated transport-cc; feedback (or REMB) arrived */
    /* RTCP XR (RFC 3611): the receiver's latest reference time, answered with DLRR so that a receive-only
     * peer learns its RTT (and its jitter buffer waits for retransmissions) */
    uint32_t rrtr_ssrc, rrtr_mid;
    uint64_t rrtr_us;
    /* retransmissions may take at most RTX_SHARE_PCT of the estimate, so that a congested path does not
     * spiral (losses, NACKs, more to send, more losses) */
    double rtx_tokens;
    uint64_t rtx_refill_us;
    uint64_t last_twcc_fb_us;
    /* sink accounting (client transports) */
    int sink_abs_ext;
    ms_seq_track_t sink[MS_SINK_SSRCS];
    uint64_t sink_packets, sink_bytes, sink_decrypt_errors, latency_hist[MS_LAT_BUCKETS];
    ms_capture_t *cap;         /* ring of MS_CAPTURE received packets, allocated on first use */
    /* a recorder: no network; its consumers' packets, rewritten but not encrypted, are appended to a
     * buffer as records (u32 length, u64 time in µs, the RTP packet; little-endian) that the control
     * plane drains now and then into a file, so the media thread never touches a disk */
    uint32_t rec_cap, rec_len;
    uint64_t rec_packets, rec_dropped;
    uint32_t cap_head, cap_tail;
    struct ms_transport *next, *prev;
} ms_transport_t;

typedef struct tcp_conn {
    uint64_t tag;              /* epoll tag */
    int fd;
    struct sockaddr_storage peer;
    ms_transport_t *t;         /* bound by the first valid binding request */
    uint64_t opened_us;
    int rlen, wlen, wcap;
    uint8_t rbuf[4096];
    uint8_t *wbuf;
    struct tcp_conn *next, *prev;
} tcp_conn_t;

/* A cached packet. abs_off and alevel_off: where its abs-send-time and audio-level extension values are in
 * data (0 = it has none), found once when it arrives instead of once per consumer. */
typedef struct {
    uint16_t seq; int16_t len; uint8_t valid;
    uint16_t abs_off, alevel_off;
    uint32_t ext;
    uint8_t data[MTU];
} cache_slot_t;
struct ms_producer;
typedef struct { struct ms_producer *p; cache_slot_t *slot; rtp_hdr_t h; int is_key; } pend_t;
#define PEND_MAX 128
typedef struct { uint16_t seq; uint8_t tries; uint64_t sent_us, added_us; } nack_item_t;

struct ms_producer {
    uint32_t id;
    ms_transport_t *t;
    ms_producer_params_t prm;
    ms_consumer_t **cons;      /* those made `first` lead, in the order made; the others rotate after them */
    int ncons, capcons;
    cache_slot_t *cache;
    ms_seq_track_t track;
    uint64_t packets, bytes, nacks_tx, plis_tx, keyframes;
    double jitter;
    int64_t last_transit;
    uint32_t last_sr_mid;
    uint64_t last_sr_us, last_rr_us, last_pli_us;
    uint32_t expected_prior, received_prior;   /* at the last receiver report (RFC 3550 A.3) */
    int pli_pending;
    uint32_t rotate;           /* first consumer served in the next batch */
    uint8_t fir_seq;
    nack_item_t nack[NACK_MAX];
    int nnack;
    /* simulcast: the head holds the layers (itself first) and the consumers; a layer points at its head */
    ms_producer_t *head;
    ms_producer_t *layer[MS_MAX_LAYERS];
    int nlayers, layer_idx;
    char rid[MS_RID_LEN];
    int rank;                  /* 0 = lowest measured bitrate among its siblings */
    uint64_t first_rx_us, last_rx_us, rate_bytes, rate_at_us;
    uint32_t bps;              /* measured, smoothed */
    /* issue 18: a pipe producer (on the receiving worker) is fed by the pipe it mirrors a stream of another
     * worker through; a source (the head, on the sending worker) hands every layer to its pipes */
    ms_pipe_t *pipe_in;
    ms_pipe_t **pipes;
    int npipes;
    int nfirst;                /* the leaders of cons (at the end: the fields above keep their places) */
    ms_producer_t *next, *prev;
};

#define LAYER_IDLE_US 250000ull       /* a layer without packets for this long is inactive */
#define LAYER_WARMUP_US 300000ull     /* and counts as active again after flowing this long */
#define PLAYOUT_MAX_10MS 100            /* 1 s */
#define PLAYOUT_HOLD_US 10000000ull     /* asked for 10 s after the last NACK */
#define TWCC_RES_MAX 2048
#define TWCC_FB_INTERVAL_US 50000ull
#define BWE_START_BPS 1000000u
#define BWE_MIN_BPS 50000u
#define BWE_MAX_BPS 50000000u

#define RTX_SEEN 256           /* a consumer's retransmission times (2 KB): slots, by outgoing sequence number */
typedef struct { uint32_t at_ms; uint16_t seq; uint16_t used; } rtx_seen_t;

struct ms_consumer {
    /* what every forwarded packet reads and writes comes first, in a few cache lines that forward_pending
     * prefetches ahead of the consumer's turn (CONSUMER_HOT_BYTES); the parameters follow */
    uint32_t id;
    int paused, started;
    /* simulcast layer selection; the layer indexes are the producer's order */
    int cur_layer, target_layer, forced_layer;  /* -1 none; forced MS_LAYER_AUTO = the allocator decides */
    ms_transport_t *t;
    ms_producer_t *p;
    int mid_len;
    uint16_t rtx_seq;
    uint32_t playout_10ms;     /* playout delay asked of the receiver (10 ms units, 0 = none), see below */
    uint64_t last_send_us;
    uint64_t packets, bytes, rtx;
    uint64_t rate_bytes, rate_at_us;
    uint32_t sr_packets, sr_octets;            /* originals only, payload octets (RFC 3550 6.4.1) */
    ms_xlate_t x;              /* sequence number, timestamp and picture-ID translation (translate.h) */
    ms_consumer_params_t prm;
    uint64_t last_sr_us;
    uint64_t nacks, plis, keyframes;
    int32_t fraction_lost;
    uint32_t jitter;
    int64_t rtt_us;
    uint32_t sr_ntp_mid[4]; uint64_t sr_sent_us[4]; int sr_i;
    uint32_t max_bps;
    int priority;
    uint32_t bps;
    /* playout_10ms (above) is set while it loses packets, so that its jitter buffer waits one
     * retransmission round trip rather than skip frames */
    uint64_t last_nack_us;
    uint64_t off_since_us;     /* the allocation first wanted its video off (0 = it does not) */
    /* its NACK budget (worker.h, MS_RTX_*): tokens in bytes, when each recent outgoing sequence number was
     * last retransmitted (allocated with the first retransmission), the requests refused */
    double rtx_tokens;
    uint64_t rtx_refill_us;
    rtx_seen_t *rtx_seen;
    uint64_t rtx_refused;
    int rtt_known;             /* rtt_us comes from a receiver report, not the zero it starts at */
    ms_consumer_t *next, *prev;
    ms_consumer_t *tnext, *tprev;  /* in its transport's list */
};

#define TAG_TCP_LISTEN (1ull << 63)
#define TAG_TCP_CONN (1ull << 62)
#define TAG_PIPE (1ull << 61)    /* the pipes' eventfd */
#define PIPE_DIRTY_MAX 64
#define PIPE_SLOTS 1024          /* a pipe's ring: about 1.5 MB, a second of a 10 Mbit/s stream */
#define TCP_MAX_CONNS 4096     /* and at most a quarter of RLIMIT_NOFILE */
#define TCP_MAX_PER_IP 16
#define TCP_UNBOUND_US 3000000ull
#define TCP_WBUF_MAX (1 << 20)

struct ms_worker {
    int udp_fd, epfd, evfd, tcp_fd;
    tcp_conn_t *conns;
    ms_map_t conn_by_tag;
    uint64_t next_conn;
    int nconns, max_conns;
    uint64_t listen_paused_until;   /* accept paused after EMFILE/ENFILE */
    int port;
    pthread_t thread;
    volatile int running;
    pthread_mutex_t lock;
    dtls_cert_t cert;
    uint32_t next_id;
    ms_map_t by_id;            /* id -> transport */
    ms_map_t prod_by_id, cons_by_id;
    ms_map_t by_ufrag;         /* hash(ufrag) -> transport */
    ms_map_t by_addr;          /* hash(remote address) -> transport */
    ms_map_t prod_by_ssrc;     /* (transport id << 32 | ssrc) -> producer */
    ms_map_t cons_by_ssrc;     /* (transport id, ssrc) -> consumer: an SSRC is unique per subscriber, not per worker */
    ms_transport_t *transports;
    ms_producer_t *producers;
    ms_consumer_t *consumers;
    uint64_t now_us, last_tick_us, last_measure_us, last_sr_walk_us;
    uint64_t tx_clock_us;       /* the clock at the last sendmmsg: send times for transport-cc (tx_time) */
    uint64_t overload_until_us; /* saturated until then: retransmissions and probes are shed */
    /* batched receive */
    struct mmsghdr rx_msg[RXB];
    struct iovec rx_iov[RXB];
    struct sockaddr_storage rx_addr[RXB];
    uint8_t rx_buf[RXB][2048];
    /* batched send (UDP server socket only) */
    struct mmsghdr tx_msg[TXB];
    struct iovec tx_iov[TXB];
    struct sockaddr_storage tx_addr[TXB];
    uint8_t tx_buf[TXB][MTU + 64];
    uint32_t tx_tid[TXB];      /* transport of each message (0 for replies to unknown peers) */
    int tx_bytes_m[TXB];
    uint8_t tx_cmsg[TXB][CMSG_SPACE(sizeof(uint16_t))];
    int tx_n, tx_m;            /* buffers used, messages built (a GSO message spans several buffers) */
    int gso;                   /* the kernel accepts UDP_SEGMENT on this socket */
    uint64_t consent_timeout_us;
    int probe_cluster;         /* while sending a bandwidth probe: its cluster id, else -1 */
    int probing;               /* transports with a probe under way */
    twcc_result_t twcc_res[TWCC_RES_MAX];
    pend_t pend[PEND_MAX];     /* packets received this batch, forwarded at its end */
    int npend;
    /* issue 18, pipes (pipe.c): the streams of other workers this one receives (their rings), its eventfd
     * they wake it with, the transport their producers hang on (no network), and the pipes this batch
     * filled (woken once at its end) */
    ms_pipe_t *pipes_in;
    int pipe_evfd;
    _Atomic int parked;        /* in (or about to enter) epoll_wait: a pipe that fills must wake it */
    ms_transport_t *pipe_t;
    ms_pipe_t *dirty[PIPE_DIRTY_MAX];
    int ndirty;
    /* events to Python */
    ms_event_t evq[EVQ];
    int ev_head, ev_tail;
    ms_stats_t st;
};

_Static_assert(MS_XLATE_TL_ALL == MS_LAYER_AUTO, "temporal filtering off is the same value on both sides");

/* ---------- small helpers ---------- */

static inline uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    while (*s) { h ^= (uint8_t)*s++; h *= 1099511628211ull; }
    return h ? h : 1;
}
static inline uint64_t hash_addr(const struct sockaddr_storage *a) {
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)a;
        return ((uint64_t)s->sin_addr.s_addr << 16 | s->sin_port) | (1ull << 60);
    }
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)a;
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < 16; i++) { h ^= s6->sin6_addr.s6_addr[i]; h *= 1099511628211ull; }
    h ^= s6->sin6_port; h *= 1099511628211ull;
    return h | (1ull << 61);
}
static inline int addr_eq(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
    if (a->ss_family != b->ss_family) return 0;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const struct sockaddr_in *)a, *y = (const struct sockaddr_in *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a, *y = (const struct sockaddr_in6 *)b;
    return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
}
static inline socklen_t addr_len(const struct sockaddr_storage *a) {
    return a->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}


static inline uint32_t new_id(ms_worker_t *w) { return ++w->next_id; }

static inline int can_send(const ms_transport_t *t) {
    return t->rec_buf || (t->srtp_out && t->has_remote && t->ice_state == ICE_CONNECTED);
}

/* An authentic SRTP/SRTCP packet from the peer: it has finished its DTLS handshake, so ours needs no
 * retransmission any more and the SSL object can go (dtls_freeze). */
static inline void peer_proved(ms_transport_t *t) {
    if (!t->dtls.frozen && t->dtls_ready && t->dtls.state == DTLS_CONNECTED) dtls_freeze(&t->dtls);
}

/* A transport lives in a box with its worker, so that callbacks given only the transport find the worker. */
typedef struct { ms_worker_t *w; ms_transport_t t; } transport_box_t;
static inline ms_worker_t *transport_worker(ms_transport_t *t) {
    return ((transport_box_t *)((char *)t - offsetof(transport_box_t, t)))->w;
}

/* ---------- between the units ---------- */

/* worker.c */
MS_HIDDEN void on_datagram(ms_worker_t *w, ms_transport_t *known, tcp_conn_t *conn, uint8_t *buf, int len,
                           const struct sockaddr_storage *from);
/* io.c */
MS_HIDDEN void push_event(ms_worker_t *w, int type, uint32_t id, int64_t a, int64_t b, const char *text);
MS_HIDDEN void tx_flush(ms_worker_t *w);
MS_HIDDEN void tx_raw(ms_worker_t *w, ms_transport_t *t, const uint8_t *buf, int len);
MS_HIDDEN void tx_rtcp_commit(ms_worker_t *w, ms_transport_t *t, int len);
MS_HIDDEN void recv_batch(ms_worker_t *w, int fd, ms_transport_t *known);
MS_HIDDEN int bind_udp(const char *ip, int port, int *out_port, char *err, int errlen);
/* tcp.c */
MS_HIDDEN void tcp_close(ms_worker_t *w, tcp_conn_t *c, const char *why);
MS_HIDDEN void tcp_flush(tcp_conn_t *c);
MS_HIDDEN void tcp_write(ms_worker_t *w, tcp_conn_t *c, const uint8_t *buf, int len);
MS_HIDDEN void tcp_accept(ms_worker_t *w);
MS_HIDDEN void tcp_read(ms_worker_t *w, tcp_conn_t *c);
MS_HIDDEN int bind_tcp(const struct sockaddr_storage *ss, socklen_t sl);
MS_HIDDEN void tcp_tick(ms_worker_t *w);
/* ice.c */
MS_HIDDEN void set_remote(ms_worker_t *w, ms_transport_t *t, const struct sockaddr_storage *a);
MS_HIDDEN void handle_stun(ms_worker_t *w, ms_transport_t *known, tcp_conn_t *conn, const uint8_t *buf, int len,
                           const struct sockaddr_storage *from);
MS_HIDDEN void handle_dtls(ms_worker_t *w, ms_transport_t *t, const uint8_t *buf, int len);
MS_HIDDEN void ice_dtls_tick(ms_worker_t *w, ms_transport_t *t);
MS_HIDDEN int transport_common(ms_worker_t *w, ms_transport_t *t, int dtls_client, const char *fp_alg,
                               const uint8_t *fp, int fp_len, char *err, int errlen);
MS_HIDDEN ms_transport_t *transport_alloc(ms_worker_t *w);
MS_HIDDEN void transport_free_mem(ms_transport_t *t);
/* forward.c */
MS_HIDDEN void handle_rtp(ms_worker_t *w, ms_transport_t *t, uint8_t *buf, int len);
MS_HIDDEN void forward_pending(ms_worker_t *w);
MS_HIDDEN void request_keyframe(ms_worker_t *w, ms_producer_t *p);
MS_HIDDEN void consumer_keyframe(ms_worker_t *w, ms_consumer_t *c);
MS_HIDDEN void retransmit(ms_worker_t *w, ms_consumer_t *c, uint16_t out_seq);  /* within its NACK budget */
MS_HIDDEN void write_abs_time(uint8_t *v, uint64_t now_us);
/* feedback.c */
MS_HIDDEN void handle_rtcp(ms_worker_t *w, ms_transport_t *t, uint8_t *buf, int len);
MS_HIDDEN void send_reports(ms_worker_t *w);
MS_HIDDEN void send_twcc_feedback(ms_worker_t *w, ms_transport_t *t);
/* layers.c */
MS_HIDDEN int layer_active(const ms_worker_t *w, const ms_producer_t *p);
MS_HIDDEN uint32_t transport_estimate(const ms_transport_t *t);
MS_HIDDEN uint32_t validated_bps(ms_worker_t *w, ms_transport_t *t);
MS_HIDDEN void measure_rates(ms_worker_t *w);
MS_HIDDEN void allocate_all(ms_worker_t *w);
/* probe.c */
MS_HIDDEN void maybe_probe(ms_worker_t *w, ms_transport_t *t);
MS_HIDDEN void pace_probes(ms_worker_t *w);
/* recorder.c */
MS_HIDDEN void recorder_append(ms_worker_t *w, ms_transport_t *t, const uint8_t *pkt, int len);
/* forward.c: a decrypted RTP packet of producer (layer) p, into its cache and this batch's forwarding */
MS_HIDDEN void ingest_rtp(ms_worker_t *w, ms_producer_t *p, uint8_t *buf, int n, rtp_hdr_t *h);
/* worker.c: a pipe producer */
MS_HIDDEN int producer_mirror(ms_worker_t *w, ms_transport_t *t, const ms_producer_params_t *prm,
                              const ms_producer_t *like);
/* pipe.c */
MS_HIDDEN void pipe_push(ms_worker_t *w, ms_producer_t *p, const cache_slot_t *slot);
MS_HIDDEN void pipe_wake(ms_worker_t *w);
MS_HIDDEN void pipe_drain(ms_worker_t *w);
MS_HIDDEN int pipe_pending(ms_worker_t *w);
MS_HIDDEN void pipe_keyframe(ms_worker_t *w, ms_producer_t *p);
MS_HIDDEN void pipe_source_tick(ms_worker_t *w, ms_producer_t *hd);
MS_HIDDEN void pipe_source_gone(ms_worker_t *w, ms_producer_t *hd);
MS_HIDDEN void pipe_worker_free(ms_worker_t *w);

/* The key of a consumer in cons_by_ssrc: its subscriber transport and its SSRC (rooms choose consumer SSRCs
 * unique per subscriber, so two subscribers may share one). Producers are keyed the same way. */
static inline uint64_t cons_key(uint32_t transport_id, uint32_t ssrc) {
    return ((uint64_t)transport_id << 32) | ssrc;
}

#endif
