/* The media worker loop: demux, ICE-lite, DTLS, SRTP, routing and batched I/O. */
#define _GNU_SOURCE
#include "worker.h"
#include "alloc.h"
#include "bwe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dtls.h"
#include "rtcp.h"
#include "rtp.h"
#include "srtp.h"
#include "stun.h"
#include "util.h"

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
#define PLI_INTERVAL_US 300000ull      /* keyframe requests to one publisher layer, at most */
#define REPORT_INTERVAL_US 1000000ull
#define SERVER_SSRC 0x5eed0001u

typedef struct ms_consumer ms_consumer_t;
typedef struct ms_producer ms_producer_t;

typedef struct { uint32_t ssrc; uint16_t max_seq; uint32_t cycles, base, received; int init; } seq_track_t;

struct tcp_conn;

typedef struct ms_transport {
    uint32_t id;
    struct tcp_conn *tcp;      /* ICE-TCP (RFC 6544) connection carrying this transport, or NULL */
    char ufrag[256], pwd[256];
    int client_mode, fd;       /* client transports own a socket */
    char remote_ufrag[256], remote_pwd[256];
    uint64_t tiebreaker;
    struct sockaddr_storage remote;
    socklen_t remote_len;
    int has_remote;
    int ice_state;
    uint64_t last_consent_us, last_check_us;
    uint8_t seen_txid[8][12];  /* recent binding-request transaction ids and where they came from: */
    struct sockaddr_storage seen_from[8];  /* the same request from elsewhere is a replay and moves nothing */
    int seen_i;
    dtls_conn_t dtls;
    int dtls_ready;            /* dtls_conn_init succeeded */
    srtp_ctx_t *srtp_in, *srtp_out;
    uint16_t twcc_seq;
    uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
    /* subscriber side: its consumers, and the allocation of its bandwidth across them (alloc.h) */
    struct ms_consumer *cons;
    uint32_t budget_bps;       /* R-MEDIA-3 "attendee down", 0 = none */
    uint32_t alloc_bps;        /* the estimate the last allocation used */
    uint64_t next_alloc_us, hold_until_us;
    uint32_t wanted_bps;       /* what the best layers within the budgets would take: the probing goal */
    bwe_t *bwe;                /* send-side estimate (transport-cc, or REMB), made with the first consumer */
    twcc_rx_t *twcc_rx;        /* publisher side: arrivals to report in transport-cc feedback */
    uint32_t twcc_media_ssrc;
    uint8_t twcc_ext;          /* the transport-cc header extension id its publishers negotiated */
    int probe_id, probe_rounds, probe_per_round;   /* a bandwidth probe under way */
    uint64_t probe_next_us, next_probe_us, probe_gap_us;
    uint32_t probe_at_bps;     /* the validated rate when the latest probe started */
    uint64_t cons_since_us;    /* when it got its first consumer */
    int expect_fb, got_fb;     /* a consumer negotiated transport-cc; feedback (or REMB) arrived */
    int congested;             /* the last allocation found it sending more than its estimate */
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
    seq_track_t sink[8];
    uint64_t sink_packets, sink_bytes, sink_decrypt_errors, latency_hist[MS_LAT_BUCKETS];
    ms_capture_t *cap;         /* ring of MS_CAPTURE received packets, allocated on first use */
    /* a recorder: no network; its consumers' packets, rewritten but not encrypted, are appended to a
     * buffer as records (u32 length, u64 time in µs, the RTP packet; little-endian) that the control
     * plane drains now and then into a file, so the media thread never touches a disk */
    uint8_t *rec_buf;
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

typedef struct { uint16_t seq; int16_t len; uint8_t valid; uint32_t ext; uint8_t data[MTU]; } cache_slot_t;
struct ms_producer;
typedef struct { struct ms_producer *p; cache_slot_t *slot; rtp_hdr_t h; int is_key; } pend_t;
#define PEND_MAX 128
typedef struct { uint16_t seq; uint8_t tries; uint64_t sent_us, added_us; } nack_item_t;

struct ms_producer {
    uint32_t id;
    ms_transport_t *t;
    ms_producer_params_t prm;
    ms_consumer_t **cons;
    int ncons, capcons;
    cache_slot_t *cache;
    seq_track_t track;
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
    char rid[16];
    int rank;                  /* 0 = lowest measured bitrate among its siblings */
    uint64_t first_rx_us, last_rx_us, rate_bytes, rate_at_us;
    uint32_t bps;              /* measured, smoothed */
    ms_producer_t *next, *prev;
};

#define LAYER_IDLE_US 250000ull       /* a layer without packets for this long is inactive */
#define LAYER_WARMUP_US 300000ull     /* and counts as active again after flowing this long */
#define EPOCHS 8
#define PLAYOUT_MAX_10MS 100            /* 1 s */
#define PLAYOUT_HOLD_US 10000000ull     /* asked for 10 s after the last NACK */
#define TWCC_RES_MAX 2048
#define TWCC_FB_INTERVAL_US 50000ull
#define BWE_START_BPS 1000000u
#define BWE_MIN_BPS 50000u
#define BWE_MAX_BPS 50000000u

/* A stretch of a consumer's output taken from one layer with one sequence/timestamp/picture offset. */
typedef struct {
    uint16_t out_start, seq_off, pic_off;
    uint8_t tl0_off;
    int8_t layer;
    uint32_t start_ext, ts_off;
} epoch_t;

struct ms_consumer {
    uint32_t id;
    ms_transport_t *t;
    ms_producer_t *p;
    ms_consumer_params_t prm;
    int mid_len;
    int paused, started;
    uint16_t seq_off, rtx_seq, last_seq_out;
    uint32_t start_ext;        /* extended producer sequence number this consumer started at */
    int has_sent;
    uint32_t ts_off, last_ts_out;
    uint64_t last_send_us, last_sr_us;
    uint64_t packets, bytes, nacks, plis, rtx, keyframes;
    uint32_t sr_packets, sr_octets;            /* originals only, payload octets (RFC 3550 6.4.1) */
    int32_t fraction_lost;
    uint32_t jitter;
    int64_t rtt_us;
    uint32_t sr_ntp_mid[4]; uint64_t sr_sent_us[4]; int sr_i;
    /* simulcast layer selection; the layer indexes are the producer's order */
    int cur_layer, target_layer, forced_layer;  /* -1 none; forced MS_LAYER_AUTO = the allocator decides */
    uint32_t max_bps;
    int priority;
    epoch_t ep[EPOCHS];
    int nep;
    int pic_resync, has_pic;   /* VP8: picture ID / TL0PICIDX continuity across switches */
    uint16_t last_pic_out;
    uint8_t last_tl0_out;
    uint64_t rate_bytes, rate_at_us;
    uint32_t bps;
    /* playout delay asked of the receiver (10 ms units, 0 = none): set while it loses packets, so that its
     * jitter buffer waits one retransmission round trip rather than skip frames */
    uint32_t playout_10ms;
    uint64_t last_nack_us;
    uint64_t off_since_us;     /* the allocation first wanted its video off (0 = it does not) */
    /* VP8 temporal layers: forward frames of TID <= tl_cur; tl_cur follows tl_target down at once and up
     * at a layer-sync frame (Y bit); dropped frames are compensated in sequence numbers and picture IDs */
    int tl_target, tl_cur, tl_pic, tl_drop;
    uint32_t tl_seqs_dropped, tl_pics_dropped;
    uint64_t tl_frames_dropped;
    ms_consumer_t *next, *prev;
    ms_consumer_t *tnext, *tprev;  /* in its transport's list */
};

#define TAG_TCP_LISTEN (1ull << 63)
#define TAG_TCP_CONN (1ull << 62)
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
    ms_map_t cons_by_ssrc;     /* ssrc -> consumer (our SSRCs are unique per worker) */
    ms_transport_t *transports;
    ms_producer_t *producers;
    ms_consumer_t *consumers;
    uint64_t now_us, last_tick_us, last_measure_us;
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
    /* events to Python */
    ms_event_t evq[EVQ];
    int ev_head, ev_tail;
    ms_stats_t st;
};

/* ---------- helpers ---------- */

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    while (*s) { h ^= (uint8_t)*s++; h *= 1099511628211ull; }
    return h ? h : 1;
}
static uint64_t hash_addr(const struct sockaddr_storage *a) {
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
static int addr_eq(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
    if (a->ss_family != b->ss_family) return 0;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const struct sockaddr_in *)a, *y = (const struct sockaddr_in *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a, *y = (const struct sockaddr_in6 *)b;
    return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
}
static socklen_t addr_len(const struct sockaddr_storage *a) {
    return a->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

static void push_event(ms_worker_t *w, int type, uint32_t id, int64_t a, int64_t b, const char *text) {
    int nt = (w->ev_tail + 1) % EVQ;
    if (nt == w->ev_head) { w->st.events_dropped++; return; }
    ms_event_t *e = &w->evq[w->ev_tail];
    e->type = type; e->id = id; e->a = a; e->b = b;
    snprintf(e->text, sizeof(e->text), "%s", text ? text : "");
    w->ev_tail = nt;
    uint64_t one = 1;
    ssize_t r = write(w->evfd, &one, sizeof(one));
    (void)r;
}

/* ---------- sending ---------- */

typedef struct { ms_worker_t *w; ms_transport_t t; } transport_box_t;

/* Send one message's segments one by one (GSO refused by the kernel or the route). */
static void tx_send_split(ms_worker_t *w, struct msghdr *m) {
    for (size_t k = 0; k < m->msg_iovlen; k++) {
        ssize_t r = sendto(w->udp_fd, m->msg_iov[k].iov_base, m->msg_iov[k].iov_len, 0, m->msg_name, m->msg_namelen);
        if (r < 0) w->st.drops[DROP_SEND_FAILED]++;
        else { w->st.tx_packets++; w->st.tx_bytes += (uint64_t)r; }
    }
}

static void tx_flush(ms_worker_t *w) {
    int off = 0;
    while (off < w->tx_m) {
        int r = sendmmsg(w->udp_fd, w->tx_msg + off, w->tx_m - off, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                struct pollfd pfd = {w->udp_fd, POLLOUT, 0};
                if (poll(&pfd, 1, 5) > 0) continue;
            }
            struct msghdr *m = &w->tx_msg[off].msg_hdr;
            if (m->msg_controllen) {              /* a GSO message: send its segments one by one */
                if (errno == EIO && w->gso) {     /* the device cannot segment at all: stop asking, say so */
                    w->gso = 0;
                    push_event(w, EV_NOTICE, 0, errno, 0, "UDP GSO refused by the kernel; sending segments one by one");
                }
                tx_send_split(w, m);
            } else {                              /* e.g. an unreachable address: skip it, go on */
                w->st.drops[DROP_SEND_FAILED] += m->msg_iovlen;
            }
            off++;
            continue;
        }
        for (int i = 0; i < r; i++) {
            w->st.tx_messages++;
            if (w->tx_msg[off + i].msg_hdr.msg_iovlen > 1) w->st.tx_gso_messages++;
            w->st.tx_packets += w->tx_msg[off + i].msg_hdr.msg_iovlen;
            w->st.tx_bytes += w->tx_msg[off + i].msg_len;
        }
        off += r;
    }
    if (w->tx_m) w->st.tx_batches++;
    w->tx_n = w->tx_m = 0;
}

/* A scratch buffer for one outgoing datagram to t; commit with tx_commit. */
static uint8_t *tx_slot(ms_worker_t *w) {
    if (w->tx_n == TXB || w->tx_m >= TX_FLUSH_MSGS) tx_flush(w);
    return w->tx_buf[w->tx_n];
}

static void tcp_write(ms_worker_t *w, tcp_conn_t *c, const uint8_t *buf, int len);

static void tx_commit(ms_worker_t *w, ms_transport_t *t, int len) {
    if (t->rec_buf) {
        uint32_t need = 12 + (uint32_t)len;
        if (t->rec_len + need > t->rec_cap) { t->rec_dropped++; return; }   /* not drained in time */
        uint8_t *r = t->rec_buf + t->rec_len;
        uint32_t l32 = (uint32_t)len;
        uint64_t now = w->now_us;
        memcpy(r, &l32, 4); memcpy(r + 4, &now, 8); memcpy(r + 12, w->tx_buf[w->tx_n], len);
        t->rec_len += need;
        t->rec_packets++;
        t->tx_packets++; t->tx_bytes += len;
        return;
    }
    if (t->tcp) {
        tcp_write(w, t->tcp, w->tx_buf[w->tx_n], len);
        t->tx_packets++; t->tx_bytes += len;
        return;
    }
    if (t->client_mode) {
        ssize_t r = sendto(t->fd, w->tx_buf[w->tx_n], len, 0, (struct sockaddr *)&t->remote, t->remote_len);
        if (r < 0) w->st.drops[DROP_SEND_FAILED]++;
        else { w->st.tx_packets++; w->st.tx_bytes += len; }
        t->tx_packets++; t->tx_bytes += len;
        return;
    }
    int i = w->tx_n++;
    w->tx_iov[i].iov_base = w->tx_buf[i];
    w->tx_iov[i].iov_len = len;
    t->tx_packets++; t->tx_bytes += len;
    /* UDP GSO: a burst to one destination rides in one message when all its segments but the last have
     * the first one's size (the buffers are consecutive, so the message's iovecs are too). */
    if (w->gso && w->tx_m) {
        int m = w->tx_m - 1;
        struct msghdr *h = &w->tx_msg[m].msg_hdr;
        int seg = (int)h->msg_iov[0].iov_len;
        int last = (int)h->msg_iov[h->msg_iovlen - 1].iov_len;
        if (t->id && seg <= GSO_MAX_SEG && h->msg_iov + h->msg_iovlen == &w->tx_iov[i] && w->tx_tid[m] == t->id &&
            len <= seg && last == seg &&
            memcmp(&w->tx_addr[m], &t->remote, t->remote_len) == 0 &&
            h->msg_iovlen < 64 && w->tx_bytes_m[m] + len <= 60000) {
            h->msg_iovlen++;
            w->tx_bytes_m[m] += len;
            if (h->msg_iovlen == 2) {
                struct cmsghdr *cm = (struct cmsghdr *)w->tx_cmsg[m];
                cm->cmsg_level = SOL_UDP;
                cm->cmsg_type = UDP_SEGMENT;
                cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
                *(uint16_t *)CMSG_DATA(cm) = (uint16_t)seg;
                h->msg_control = w->tx_cmsg[m];
                h->msg_controllen = CMSG_SPACE(sizeof(uint16_t));
            }
            return;
        }
    }
    int m = w->tx_m++;
    memcpy(&w->tx_addr[m], &t->remote, t->remote_len);
    w->tx_tid[m] = t->id;
    w->tx_bytes_m[m] = len;
    w->tx_msg[m].msg_hdr.msg_name = &w->tx_addr[m];
    w->tx_msg[m].msg_hdr.msg_namelen = t->remote_len;
    w->tx_msg[m].msg_hdr.msg_iov = &w->tx_iov[i];
    w->tx_msg[m].msg_hdr.msg_iovlen = 1;
    w->tx_msg[m].msg_hdr.msg_control = NULL;
    w->tx_msg[m].msg_hdr.msg_controllen = 0;
}

static void tx_raw(ms_worker_t *w, ms_transport_t *t, const uint8_t *buf, int len) {
    if (!t->has_remote || len > MTU + 64) return;
    uint8_t *o = tx_slot(w);
    memcpy(o, buf, len);
    tx_commit(w, t, len);
}

static void dtls_send_cb(void *opaque, const uint8_t *buf, int len) {
    ms_transport_t *t = opaque;
    transport_box_t *b = (transport_box_t *)((char *)t - offsetof(transport_box_t, t));
    tx_raw(b->w, t, buf, len);
}

/* Encrypt and queue an RTCP packet already written into the current tx slot. */
static void tx_rtcp_commit(ms_worker_t *w, ms_transport_t *t, int len) {
    if (!t->srtp_out || !t->has_remote) return;
    int n = srtp_protect_rtcp(t->srtp_out, w->tx_buf[w->tx_n], len, MTU + 64);
    if (n < 0) return;
    w->st.rtcp_tx++;
    tx_commit(w, t, n);
}

/* ---------- lifecycle of objects ---------- */


static ms_transport_t *transport_alloc(ms_worker_t *w) {
    transport_box_t *b = calloc(1, sizeof(*b));
    b->w = w;
    return &b->t;
}
static void transport_free_mem(ms_transport_t *t) {
    free(t->cap);
    free(t->rec_buf);
    bwe_free(t->bwe);
    free(t->bwe);
    free(t->twcc_rx);
    free((char *)t - offsetof(transport_box_t, t));
}

static uint32_t new_id(ms_worker_t *w) { return ++w->next_id; }

static void link_transport(ms_worker_t *w, ms_transport_t *t) {
    t->next = w->transports; t->prev = NULL;
    if (w->transports) w->transports->prev = t;
    w->transports = t;
}

static void set_remote(ms_worker_t *w, ms_transport_t *t, const struct sockaddr_storage *a) {
    if (t->has_remote && !t->client_mode && ms_map_get(&w->by_addr, hash_addr(&t->remote)) == t)
        ms_map_del(&w->by_addr, hash_addr(&t->remote));
    memcpy(&t->remote, a, addr_len(a));
    t->remote_len = addr_len(a);
    t->has_remote = 1;
    if (!t->client_mode) ms_map_put(&w->by_addr, hash_addr(a), t);
}

/* ---------- ICE ---------- */

static void on_ice_connected(ms_worker_t *w, ms_transport_t *t) {
    if (t->ice_state != ICE_CONNECTED) {
        t->ice_state = ICE_CONNECTED;
        push_event(w, EV_ICE, t->id, ICE_CONNECTED, 0, NULL);
    }
    if (t->dtls_ready && t->dtls.client && t->dtls.state == DTLS_NEW) dtls_start(&t->dtls);
}

static void handle_stun(ms_worker_t *w, ms_transport_t *known, tcp_conn_t *conn, const uint8_t *buf, int len,
                        const struct sockaddr_storage *from) {
    stun_msg_t m;
    w->st.stun_rx++;
    if (stun_parse(buf, len, &m) < 0) { w->st.drops[DROP_STUN_MALFORMED]++; return; }
    if (m.type == STUN_BINDING_SUCCESS && known && known->client_mode) {
        if (!m.has_integrity ||
            !stun_check_integrity(buf, len, &m, known->remote_pwd, (int)strlen(known->remote_pwd))) {
            w->st.drops[DROP_STUN_AUTH]++;
            return;
        }
        known->last_consent_us = w->now_us;
        on_ice_connected(w, known);
        return;
    }
    if (m.type == STUN_BINDING_INDICATION) return;
    if (m.type != STUN_BINDING_REQUEST || known) { w->st.drops[DROP_STUN_MALFORMED]++; return; }
    if (!m.username || m.username_len == 0 || m.username_len > 512 || !m.has_integrity) {
        w->st.drops[DROP_STUN_MALFORMED]++;
        if (conn) return;                    /* no replies into a TCP connection nobody has proven */
        uint8_t *o = tx_slot(w);
        int n = stun_build_error(o, MTU, m.txid, 400, "Bad Request");
        if (n > 0) {
            ms_transport_t tmp; memset(&tmp, 0, sizeof(tmp));
            memcpy(&tmp.remote, from, addr_len(from)); tmp.remote_len = addr_len(from); tmp.has_remote = 1; tmp.tcp = conn;
            tx_commit(w, &tmp, n);
        }
        return;
    }
    char uname[513];
    memcpy(uname, m.username, m.username_len);
    uname[m.username_len] = 0;
    char *colon = strchr(uname, ':');
    if (colon) *colon = 0;
    ms_transport_t *t = ms_map_get(&w->by_ufrag, hash_str(uname));
    if (!t || strcmp(t->ufrag, uname) != 0) { w->st.drops[DROP_STUN_UNKNOWN_UFRAG]++; return; }
    if (!stun_check_integrity(buf, len, &m, t->pwd, (int)strlen(t->pwd))) {
        w->st.drops[DROP_STUN_AUTH]++;
        if (conn) return;
        uint8_t *o = tx_slot(w);
        int n = stun_build_error(o, MTU, m.txid, 401, "Unauthorized");
        if (n > 0) {
            ms_transport_t tmp; memset(&tmp, 0, sizeof(tmp));
            memcpy(&tmp.remote, from, addr_len(from)); tmp.remote_len = addr_len(from); tmp.has_remote = 1; tmp.tcp = conn;
            tx_commit(w, &tmp, n);
        }
        return;
    }
    if (conn && conn->t && conn->t != t) { w->st.drops[DROP_STUN_AUTH]++; return; }
    int replayed = 0, seen = 0;
    for (int k = 0; k < 8; k++)
        if (memcmp(t->seen_txid[k], m.txid, 12) == 0) { seen = 1; replayed |= !addr_eq(&t->seen_from[k], from); }
    if (!seen) {
        memcpy(t->seen_txid[t->seen_i], m.txid, 12);
        memcpy(&t->seen_from[t->seen_i], from, addr_len(from));
        t->seen_i = (t->seen_i + 1) & 7;
    }
    if (conn) conn->t = t;
    /* ICE-lite: the controlling peer nominates; the first valid check selects a path until one is nominated. */
    if (!replayed && (!t->has_remote || m.use_candidate || t->ice_state != ICE_CONNECTED)) {
        if (!t->has_remote || !addr_eq(&t->remote, from) || t->tcp != conn) {
            if (conn) {
                if (t->has_remote && !t->tcp && ms_map_get(&w->by_addr, hash_addr(&t->remote)) == t)
                    ms_map_del(&w->by_addr, hash_addr(&t->remote));
                memcpy(&t->remote, from, addr_len(from));
                t->remote_len = addr_len(from);
                t->has_remote = 1;
                t->tcp = conn;
            } else {
                t->tcp = NULL;
                set_remote(w, t, from);
            }
        }
    }
    if (!replayed && addr_eq(&t->remote, from) && t->tcp == conn) t->last_consent_us = w->now_us;
    uint8_t *o = tx_slot(w);
    ms_transport_t tmp; memset(&tmp, 0, sizeof(tmp));
    memcpy(&tmp.remote, from, addr_len(from)); tmp.remote_len = addr_len(from); tmp.has_remote = 1; tmp.tcp = conn;
    int n = stun_build_success(o, MTU, m.txid, (const struct sockaddr *)from, t->pwd, (int)strlen(t->pwd));
    if (n > 0) { tx_commit(w, &tmp, n); t->tx_packets++; t->tx_bytes += n; }
    if (!replayed && addr_eq(&t->remote, from) && t->tcp == conn) on_ice_connected(w, t);
}

static void send_check(ms_worker_t *w, ms_transport_t *t, int use_candidate) {
    uint8_t txid[12];
    RAND_bytes(txid, 12);
    char uname[520];
    snprintf(uname, sizeof(uname), "%s:%s", t->remote_ufrag, t->ufrag);
    uint8_t *o = tx_slot(w);
    int n = stun_build_request(o, MTU, txid, uname, t->remote_pwd, (int)strlen(t->remote_pwd), t->tiebreaker,
                               use_candidate, 0x6e7f1eff);
    if (n > 0) tx_commit(w, t, n);
    t->last_check_us = w->now_us;
}

/* ---------- DTLS ---------- */

static void request_keyframe(ms_worker_t *w, ms_producer_t *p);
static void consumer_keyframe(ms_worker_t *w, ms_consumer_t *c);

static void handle_dtls(ms_worker_t *w, ms_transport_t *t, const uint8_t *buf, int len) {
    w->st.dtls_rx++;
    if (!t->dtls_ready) { w->st.drops[DROP_DTLS]++; return; }
    int before = t->dtls.state;
    int r = dtls_feed(&t->dtls, buf, len);
    if (r == 1) {
        int prof = t->dtls.srtp_profile;
        uint8_t ck[32], cs[14], sk[32], ss[14];
        srtp_split_keying_material(prof, t->dtls.keying, ck, cs, sk, ss);
        if (t->dtls.client) { t->srtp_out = srtp_ctx_new(prof, ck, cs); t->srtp_in = srtp_ctx_new(prof, sk, ss); }
        else { t->srtp_out = srtp_ctx_new(prof, sk, ss); t->srtp_in = srtp_ctx_new(prof, ck, cs); }
        memset(t->dtls.keying, 0, sizeof(t->dtls.keying));
        push_event(w, EV_DTLS, t->id, DTLS_CONNECTED, prof, NULL);
        /* consumers waiting for this transport can start now: ask their publishers for a keyframe */
        for (ms_consumer_t *c = w->consumers; c; c = c->next)
            if (c->t == t && !c->started && !c->paused) consumer_keyframe(w, c);
    } else if (r < 0) {
        w->st.drops[DROP_DTLS]++;
        if (before != DTLS_FAILED && before != DTLS_CLOSED && t->dtls.state == DTLS_FAILED)
            push_event(w, EV_DTLS, t->id, DTLS_FAILED, 0, t->dtls.error);
    } else if (t->dtls.state == DTLS_CLOSED && before != DTLS_CLOSED) {
        push_event(w, EV_DTLS, t->id, DTLS_CLOSED, 0, "closed by peer");
    }
}

/* ---------- RTP in ---------- */

static void track_seq(seq_track_t *s, uint16_t seq) {
    if (!s->init) { s->init = 1; s->max_seq = seq; s->base = seq; s->cycles = 0; s->received = 1; return; }
    s->received++;
    if (seq_newer(seq, s->max_seq)) {
        if (seq < s->max_seq) s->cycles += 65536;
        s->max_seq = seq;
    }
}
static uint32_t track_expected(const seq_track_t *s) {
    return s->init ? s->cycles + s->max_seq - s->base + 1 : 0;
}

/* A keyframe of the layer consumer c waits for. */
static void consumer_keyframe(ms_worker_t *w, ms_consumer_t *c) {
    int l = c->target_layer;
    if (l >= 0 && l < c->p->nlayers) request_keyframe(w, c->p->layer[l]);
}

static void request_keyframe(ms_worker_t *w, ms_producer_t *p) {
    if (p->prm.kind != 1) return;
    if (w->now_us - p->last_pli_us < PLI_INTERVAL_US) { p->pli_pending = 1; return; }
    ms_transport_t *t = p->t;
    p->pli_pending = 0;
    p->last_pli_us = w->now_us;
    if (!t->srtp_out || !p->prm.ssrc) { p->pli_pending = 1; return; }
    uint8_t *o = tx_slot(w);
    int n = rtcp_build_rr(o, MTU, SERVER_SSRC, NULL, 0);
    n += rtcp_build_pli(o + n, SERVER_SSRC, p->prm.ssrc);
    p->plis_tx++;
    w->st.plis_tx++;
    tx_rtcp_commit(w, t, n);
}

static void write_abs_time(uint8_t *v, uint64_t now_us) {
    uint64_t t = ((now_us << 18) / 1000000ull) & 0xffffff;
    wr24(v, (uint32_t)t);
}

/* VP8 payload descriptor (RFC 7741 4.2): rewrite picture ID and TL0PICIDX by the epoch's offsets, so
 * that a receiver sees one continuous stream across layer switches. Same width, in place. */
static void vp8_rewrite(ms_consumer_t *c, epoch_t *e, uint8_t *d, int len, int original) {
    if (len < 2 || !(d[0] & 0x80)) return;
    uint8_t x = d[1];
    int off = 2;
    if (x & 0x80) {
        if (off >= len) return;
        int wide = d[off] & 0x80;
        if (wide && off + 1 >= len) return;
        uint16_t pic = wide ? (uint16_t)(((d[off] & 0x7f) << 8) | d[off + 1]) : (uint16_t)(d[off] & 0x7f);
        uint16_t mask = wide ? 0x7fff : 0x7f;
        if (original && c->pic_resync) e->pic_off = c->has_pic ? (uint16_t)(c->last_pic_out + 1 - pic) : 0;
        uint16_t out = (uint16_t)(pic + e->pic_off) & mask;
        if (wide) { d[off] = (uint8_t)(0x80 | (out >> 8)); d[off + 1] = (uint8_t)out; off += 2; }
        else { d[off] = (uint8_t)out; off += 1; }
        if (original) c->last_pic_out = out;
    }
    if (x & 0x40) {
        if (off >= len) return;
        if (original && c->pic_resync) e->tl0_off = c->has_pic ? (uint8_t)(c->last_tl0_out + 1 - d[off]) : 0;
        d[off] = (uint8_t)(d[off] + e->tl0_off);
        if (original) c->last_tl0_out = d[off];
    }
    if (original && (x & 0xc0)) { c->pic_resync = 0; c->has_pic = 1; }
}

/* Build the consumer's packet: our header and extensions, the producer's payload; then SRTP. */
static void send_to_consumer(ms_worker_t *w, ms_consumer_t *c, const uint8_t *src, const rtp_hdr_t *h,
                             int is_rtx, int original, uint16_t out_seq, epoch_t *e, int codec) {
    ms_transport_t *t = c->t;
    uint8_t pt = c->prm.pt_map[h->pt];
    if (pt == 0xff) { w->st.drops[DROP_UNKNOWN_PT]++; return; }
    uint8_t *o = tx_slot(w);
    uint32_t ssrc = c->prm.ssrc;
    uint16_t seq = out_seq;
    if (is_rtx) { pt = c->prm.rtx_pt_of[pt]; ssrc = c->prm.rtx_ssrc; seq = c->rtx_seq++; }
    o[0] = 0x80 | h->cc;
    o[1] = (uint8_t)((h->marker << 7) | pt);
    wr16(o + 2, seq);
    wr32(o + 4, h->ts + e->ts_off);
    wr32(o + 8, ssrc);
    int off = 12;
    if (h->cc) { memcpy(o + 12, src + 12, 4 * h->cc); off += 4 * h->cc; }
    /* one-byte header extensions the consumer negotiated */
    int xstart = off;
    off += 4;
    if (c->prm.ext_mid && c->mid_len) {
        o[off++] = (uint8_t)((c->prm.ext_mid << 4) | (c->mid_len - 1));
        memcpy(o + off, c->prm.mid, c->mid_len); off += c->mid_len;
    }
    int vl;
    const uint8_t *v;
    ms_producer_t *sp = c->p;
    if (c->prm.ext_abs && (v = rtp_ext(src, h, sp->prm.ext_abs, &vl)) && vl == 3) {
        o[off++] = (uint8_t)((c->prm.ext_abs << 4) | 2); memcpy(o + off, v, 3); off += 3;
    }
    if (c->prm.ext_alevel && (v = rtp_ext(src, h, sp->prm.ext_alevel, &vl)) && vl == 1) {
        o[off++] = (uint8_t)(c->prm.ext_alevel << 4); o[off++] = v[0];
    }
    if (c->prm.ext_playout && c->playout_10ms) {  /* min and max playout delay, 12 bits each, 10 ms units */
        uint32_t mn = c->playout_10ms, mx = PLAYOUT_MAX_10MS;
        o[off++] = (uint8_t)((c->prm.ext_playout << 4) | 2);
        wr24(o + off, (mn << 12) | mx); off += 3;
    }
    int twcc = -1;
    if (c->prm.ext_twcc) {
        twcc = t->twcc_seq++;
        o[off++] = (uint8_t)((c->prm.ext_twcc << 4) | 1); wr16(o + off, (uint16_t)twcc); off += 2;
    }
    if (off == xstart + 4) {
        off = xstart;                    /* no extension block at all */
    } else {
        while ((off - xstart) & 3) o[off++] = 0;
        o[0] |= 0x10;
        wr16(o + xstart, 0xBEDE);
        wr16(o + xstart + 2, (uint16_t)((off - xstart - 4) / 4));
    }
    if (is_rtx) { wr16(o + off, out_seq); off += 2; }
    int body = h->payload_len; /* padding is not forwarded */
    if (off + body + 16 > MTU + 64) { w->st.drops[DROP_TOO_BIG]++; return; }
    memcpy(o + off, src + h->header_len, body);
    if (codec == CODEC_VP8) vp8_rewrite(c, e, o + off, body, original);
    off += body;
    int n = t->rec_buf ? off : srtp_protect_rtp(t->srtp_out, o, off, MTU + 64);
    if (n < 0) return;
    if (twcc >= 0 && t->bwe) bwe_on_sent(t->bwe, (uint16_t)twcc, n + 28, w->now_us, w->probe_cluster);
    w->st.rtp_tx++;
    c->packets++;
    c->bytes += n;
    if (!original) { c->rtx++; w->st.rtx_tx++; }
    else {
        c->rate_bytes += (uint64_t)n;
        c->last_ts_out = h->ts + e->ts_off; c->last_send_us = w->now_us; c->last_seq_out = out_seq; c->has_sent = 1;
        c->sr_packets++; c->sr_octets += (uint32_t)body;
    }
    tx_commit(w, t, n);
}

static int can_send(const ms_transport_t *t) {
    return t->rec_buf || (t->srtp_out && t->has_remote && t->ice_state == ICE_CONNECTED);
}

/* Start a new epoch of c's output at this (keyframe) packet of layer producer p: sequence numbers and
 * timestamps carry on where the output stopped, or start at random values for a new consumer. */
static epoch_t *start_epoch(ms_worker_t *w, ms_consumer_t *c, ms_producer_t *p, const rtp_hdr_t *h, uint32_t ext) {
    uint16_t first;
    uint32_t ts0;
    if (c->has_sent) {
        uint32_t clock = p->prm.clock_rate ? p->prm.clock_rate : 90000;
        uint64_t gap = w->now_us > c->last_send_us ? w->now_us - c->last_send_us : 0;
        first = (uint16_t)(c->last_seq_out + 1);
        ts0 = c->last_ts_out + (uint32_t)(gap * clock / 1000000ull) + 1;
    } else {
        RAND_bytes((uint8_t *)&first, 2);
        RAND_bytes((uint8_t *)&ts0, 4);
        first &= 0x7fff;
    }
    if (c->nep == EPOCHS) { memmove(c->ep, c->ep + 1, (EPOCHS - 1) * sizeof(epoch_t)); c->nep--; }
    epoch_t *e = &c->ep[c->nep++];
    memset(e, 0, sizeof(*e));
    e->out_start = first;
    e->seq_off = (uint16_t)(first - h->seq);
    e->ts_off = ts0 - h->ts;
    e->layer = (int8_t)p->layer_idx;
    e->start_ext = ext;
    c->start_ext = ext;
    c->seq_off = e->seq_off;
    c->ts_off = e->ts_off;
    c->started = 1;
    c->cur_layer = p->layer_idx;
    c->pic_resync = 1;
    c->keyframes++;
    c->tl_cur = c->tl_target;                   /* a keyframe is a sync point for every temporal layer */
    c->tl_drop = 0; c->tl_seqs_dropped = c->tl_pics_dropped = 0; c->tl_pic = -1;
    return e;
}

/* After temporal-layer drops: carry on with the next forwarded packet in a new epoch of the same layer,
 * sequence numbers closing the gap and picture IDs skipping the dropped frames. */
static void continue_epoch(ms_consumer_t *c, const rtp_hdr_t *h, uint32_t ext) {
    epoch_t prev = c->ep[c->nep - 1];
    if (c->nep == EPOCHS) { memmove(c->ep, c->ep + 1, (EPOCHS - 1) * sizeof(epoch_t)); c->nep--; }
    epoch_t *e = &c->ep[c->nep++];
    *e = prev;
    e->out_start = (uint16_t)(c->last_seq_out + 1);
    e->seq_off = (uint16_t)(e->out_start - h->seq);
    e->pic_off = (uint16_t)(prev.pic_off - c->tl_pics_dropped);
    e->start_ext = ext;
    c->start_ext = ext;
    c->seq_off = e->seq_off;
    c->tl_seqs_dropped = c->tl_pics_dropped = 0;
}

/* 1 when temporal-layer filtering drops this VP8 packet. */
static int temporal_drop(ms_consumer_t *c, const uint8_t *pkt, const rtp_hdr_t *h) {
    vp8_desc_t d;
    if (rtp_vp8_desc(pkt + h->header_len, h->payload_len, &d) < 0 || !d.has_tid || !d.has_pic) return 0;
    if (d.start && d.pic != c->tl_pic) {         /* a new picture: decide its fate once */
        c->tl_pic = d.pic;
        if (c->tl_target < c->tl_cur) c->tl_cur = c->tl_target;
        else if (c->tl_target > c->tl_cur && d.y && d.tid <= c->tl_target) c->tl_cur = c->tl_target;
        c->tl_drop = d.tid > c->tl_cur;
        if (c->tl_drop) { c->tl_pics_dropped++; c->tl_frames_dropped++; }
    }
    if (c->tl_drop && d.pic == c->tl_pic) { c->tl_seqs_dropped++; return 1; }
    return 0;
}

static void forward_one(ms_worker_t *w, ms_consumer_t *c, ms_producer_t *p, const uint8_t *pkt, const rtp_hdr_t *h,
                        uint32_t ext, int is_key) {
    if (c->paused || !can_send(c->t)) return;
    int layer = p->layer_idx;
    if (c->target_layer < 0) { c->started = 0; return; }          /* video off */
    /* a downgrade for congestion: stop feeding the queue at once; the picture holds until the lower
     * layer's keyframe (a short freeze rather than a growing backlog with losses) */
    if (c->started && layer == c->cur_layer && c->target_layer < c->cur_layer && c->t->congested &&
        c->p->nlayers > 1)
        return;
    if (!c->started || layer != c->cur_layer) {
        if (layer != c->target_layer) return;                      /* not this consumer's layer */
        if (!is_key) { request_keyframe(w, p); return; }           /* switch on a keyframe only */
        start_epoch(w, c, p, h, ext);
    } else if (ext < c->start_ext) {
        return;                                  /* older than the point this consumer (re)started */
    }
    int codec = p->prm.codec_of_pt[h->pt];
    if (codec == CODEC_VP8 && c->tl_target != MS_LAYER_AUTO) {
        if (temporal_drop(c, pkt, h)) return;
        if (c->tl_seqs_dropped) continue_epoch(c, h, ext);
    }
    send_to_consumer(w, c, pkt, h, 0, 1, (uint16_t)(h->seq + c->seq_off), &c->ep[c->nep - 1], codec);
}

/* Forward what this receive batch brought, consumer by consumer: each consumer's packets leave as one
 * burst, which UDP GSO can carry in a single message. */
static void forward_pending(ms_worker_t *w) {
    for (int i = 0; i < w->npend; i++) {
        ms_producer_t *p = w->pend[i].p, *hd;
        if (!p) continue;
        hd = p->head;
        /* start at a different consumer each batch, so the wait for a long burst is shared by all */
        int n = hd->ncons, first = n ? (int)(hd->rotate++ % (uint32_t)n) : 0;
        for (int k = 0; k < n; k++) {
            ms_consumer_t *c = hd->cons[(first + k) % n];
            for (int j = i; j < w->npend; j++)
                if (w->pend[j].p == p && w->pend[j].slot->seq == w->pend[j].h.seq)
                    forward_one(w, c, p, w->pend[j].slot->data, &w->pend[j].h, w->pend[j].slot->ext,
                                w->pend[j].is_key);
        }
        for (int j = i; j < w->npend; j++)
            if (w->pend[j].p == p) w->pend[j].p = NULL;
    }
    w->npend = 0;
}

static void nack_upstream_gap(ms_producer_t *p, uint16_t from, uint16_t to, uint64_t now) {
    for (uint16_t s = from; s != to && p->nnack < NACK_MAX; s++) {
        nack_item_t *n = &p->nack[p->nnack++];
        n->seq = s; n->tries = 0; n->sent_us = 0; n->added_us = now;
    }
}
static void nack_remove(ms_producer_t *p, uint16_t seq) {
    for (int i = 0; i < p->nnack; i++)
        if (p->nack[i].seq == seq) { p->nack[i] = p->nack[--p->nnack]; return; }
}

static ms_producer_t *learn_ssrc(ms_worker_t *w, ms_transport_t *t, const uint8_t *buf, const rtp_hdr_t *h) {
    for (ms_producer_t *p = w->producers; p; p = p->next) {
        if (p->t != t || !p->prm.ext_mid) continue;
        int l;
        const uint8_t *v = rtp_ext(buf, h, p->prm.ext_mid, &l);
        if (!v || l != (int)strlen(p->prm.mid) || memcmp(v, p->prm.mid, l) != 0) continue;
        int is_rtx = p->prm.apt_of_rtx[h->pt] != 0xff;
        if (p->rid[0]) {                     /* a simulcast layer: its rid (or repaired rid for RTX) */
            int rl;
            const uint8_t *r = rtp_ext(buf, h, is_rtx ? p->prm.ext_rrid : p->prm.ext_rid, &rl);
            if (!r || rl != (int)strlen(p->rid) || memcmp(r, p->rid, rl) != 0) continue;
        }
        if (is_rtx && !p->prm.rtx_ssrc) p->prm.rtx_ssrc = h->ssrc;
        else if (!is_rtx && !p->prm.ssrc) p->prm.ssrc = h->ssrc;
        else continue;
        ms_map_put(&w->prod_by_ssrc, ((uint64_t)t->id << 32) | h->ssrc, p);
        push_event(w, EV_PRODUCER_SSRC, p->id, h->ssrc, is_rtx, NULL);
        return p;
    }
    return NULL;
}

/* An authentic SRTP/SRTCP packet from the peer: it has finished its DTLS handshake, so ours needs no
 * retransmission any more and the SSL object can go (dtls_freeze). */
static inline void peer_proved(ms_transport_t *t) {
    if (!t->dtls.frozen && t->dtls_ready && t->dtls.state == DTLS_CONNECTED) dtls_freeze(&t->dtls);
}

static void sink_rtp(ms_worker_t *w, ms_transport_t *t, uint8_t *buf, int len) {
    int n = srtp_unprotect_rtp(t->srtp_in, buf, len);
    if (n < 0) { t->sink_decrypt_errors++; return; }
    peer_proved(t);
    rtp_hdr_t h;
    if (rtp_parse(buf, n, &h) < 0) { w->st.drops[DROP_RTP_MALFORMED]++; return; }
    t->sink_packets++;
    t->sink_bytes += n;
    if (t->cap) {
        ms_capture_t *r = &t->cap[t->cap_head++ % MS_CAPTURE];
        if (t->cap_head - t->cap_tail > MS_CAPTURE) t->cap_tail = t->cap_head - MS_CAPTURE;
        r->arrival_us = w->now_us; r->ts = h.ts; r->ssrc = h.ssrc; r->seq = h.seq; r->pt = h.pt;
        r->marker = h.marker; r->len = (int16_t)n;
        r->npayload = (uint8_t)(h.payload_len < 14 ? h.payload_len : 14);
        memcpy(r->payload, buf + h.header_len, r->npayload);
    }
    for (int i = 0; i < 8; i++) {
        if (t->sink[i].init && t->sink[i].ssrc != h.ssrc) continue;
        t->sink[i].ssrc = h.ssrc;
        track_seq(&t->sink[i], h.seq);
        break;
    }
    int vl;
    const uint8_t *v;
    if (t->sink_abs_ext && (v = rtp_ext(buf, &h, t->sink_abs_ext, &vl)) && vl == 3) {
        uint32_t now = (uint32_t)(((w->now_us << 18) / 1000000ull) & 0xffffff);
        uint32_t d = (now - rd24(v)) & 0xffffff;
        uint64_t us = ((uint64_t)d * 1000000ull) >> 18;
        t->latency_hist[ms_latency_bucket(us)]++;
    }
}

static void handle_rtp(ms_worker_t *w, ms_transport_t *t, uint8_t *buf, int len) {
    w->st.rtp_rx++;
    if (t->client_mode) { sink_rtp(w, t, buf, len); return; }
    int n = srtp_unprotect_rtp(t->srtp_in, buf, len);
    if (n < 0) { w->st.drops[n == SRTP_ERR_REPLAY ? DROP_SRTP_REPLAY : DROP_SRTP_AUTH]++; return; }
    peer_proved(t);
    rtp_hdr_t h;
    if (rtp_parse(buf, n, &h) < 0) { w->st.drops[DROP_RTP_MALFORMED]++; return; }
    if (t->twcc_ext) {            /* every authentic packet counts for the sender's estimate, padding too */
        int tl;
        const uint8_t *tv = rtp_ext(buf, &h, t->twcc_ext, &tl);
        if (tv && tl == 2) {
            if (!t->twcc_rx && (t->twcc_rx = malloc(sizeof(twcc_rx_t)))) twcc_rx_init(t->twcc_rx);
            if (t->twcc_rx) { twcc_rx_on_packet(t->twcc_rx, rd16(tv), w->now_us); t->twcc_media_ssrc = h.ssrc; }
        }
    }
    ms_producer_t *p = ms_map_get(&w->prod_by_ssrc, ((uint64_t)t->id << 32) | h.ssrc);
    if (!p && !(p = learn_ssrc(w, t, buf, &h))) { w->st.drops[DROP_UNKNOWN_SSRC]++; return; }
    if (h.ssrc == p->prm.rtx_ssrc && p->prm.rtx_ssrc != p->prm.ssrc) {
        /* RTX (RFC 4588): restore the original packet in place */
        uint8_t apt = p->prm.apt_of_rtx[h.pt];
        if (h.payload_len < 2 || apt == 0xff) { w->st.drops[DROP_RTP_MALFORMED]++; return; }
        uint16_t osn = rd16(buf + h.header_len);
        int plen = n - h.header_len - 2;
        memmove(buf + h.header_len, buf + h.header_len + 2, plen);
        n -= 2;
        buf[1] = (uint8_t)((buf[1] & 0x80) | apt);
        wr16(buf + 2, osn);
        wr32(buf + 8, p->prm.ssrc);
        if (rtp_parse(buf, n, &h) < 0) { w->st.drops[DROP_RTP_MALFORMED]++; return; }
    } else if (h.ssrc != p->prm.ssrc) {
        w->st.drops[DROP_UNKNOWN_SSRC]++;
        return;
    }
    if (n > MTU) { w->st.drops[DROP_TOO_BIG]++; return; }
    cache_slot_t *slot = &p->cache[h.seq & (CACHE - 1)];
    if (slot->valid && slot->seq == h.seq) { w->st.drops[DROP_DUPLICATE]++; return; }
    if (slot->valid && seq_newer(slot->seq, h.seq)) { w->st.drops[DROP_TOO_OLD]++; return; }  /* >1024 late */
    /* receive statistics (RFC 3550 A.1, A.8) */
    if (p->track.init && seq_newer(h.seq, p->track.max_seq)) {
        uint16_t expect = (uint16_t)(p->track.max_seq + 1);
        if (h.seq != expect && p->prm.nack && p->prm.kind == 1 && seq_diff(h.seq, expect) < NACK_MAX)
            nack_upstream_gap(p, expect, h.seq, w->now_us);
    } else if (p->nnack) {
        nack_remove(p, h.seq);
    }
    track_seq(&p->track, h.seq);
    uint32_t ext = p->track.cycles + h.seq;
    if (h.seq > p->track.max_seq && h.seq - p->track.max_seq >= 0x8000) ext -= 65536;  /* from before a wrap */
    uint32_t clock = p->prm.clock_rate ? p->prm.clock_rate : 90000;
    int64_t arrival = (int64_t)(w->now_us * clock / 1000000ull);
    int64_t transit = arrival - (int64_t)h.ts;
    if (p->packets) {
        int64_t d = transit - p->last_transit;
        if (d < 0) d = -d;
        if (d < (int64_t)clock * 10) p->jitter += ((double)d - p->jitter) / 16.0;
    }
    p->last_transit = transit;
    p->packets++;
    p->bytes += n;
    p->rate_bytes += n + 44;      /* as it goes on the wire: SRTP tag, UDP and IPv4 headers */
    if (!p->last_rx_us || w->now_us - p->last_rx_us > LAYER_IDLE_US) p->first_rx_us = w->now_us;
    p->last_rx_us = w->now_us;
    slot->seq = h.seq;
    slot->ext = ext;
    slot->len = (int16_t)n;
    slot->valid = 1;
    memcpy(slot->data, buf, n);
    int is_key = 1;
    if (p->prm.kind == 1) {
        is_key = rtp_is_keyframe(p->prm.codec_of_pt[h.pt], slot->data + h.header_len, h.payload_len);
        if (is_key) { p->keyframes++; p->pli_pending = 0; }   /* whoever was waiting starts on this one */
    }
    if (w->npend == PEND_MAX) forward_pending(w);
    pend_t *pe = &w->pend[w->npend++];
    pe->p = p;
    pe->slot = slot;
    pe->h = h;
    pe->is_key = is_key;
}

/* ---------- RTCP in ---------- */

/* The epoch an output sequence number belongs to: the newest one that started at or before it. */
static epoch_t *epoch_of(ms_consumer_t *c, uint16_t out_seq) {
    for (int i = c->nep - 1; i >= 0; i--)
        if ((uint16_t)(out_seq - c->ep[i].out_start) < 0x8000) return &c->ep[i];
    return NULL;
}

static uint32_t transport_estimate(const ms_transport_t *t);
#define RTX_SHARE_PCT 15

static int rtx_allowed(ms_worker_t *w, ms_transport_t *t, int bytes) {
    if (!t->bwe || !t->expect_fb) return 1;
    double rate = (double)transport_estimate(t) * RTX_SHARE_PCT / 100.0 / 8.0;   /* bytes per second */
    t->rtx_tokens += rate * (double)(w->now_us - t->rtx_refill_us) / 1e6;
    t->rtx_refill_us = w->now_us;
    if (t->rtx_tokens > rate / 10.0 + 1500.0) t->rtx_tokens = rate / 10.0 + 1500.0;   /* 100 ms of burst */
    if (t->rtx_tokens < bytes) { w->st.rtx_skipped++; return 0; }
    t->rtx_tokens -= bytes;
    return 1;
}

static void retransmit(ms_worker_t *w, ms_consumer_t *c, uint16_t out_seq) {
    if (!c->started || c->paused || !can_send(c->t)) return;
    if (w->now_us < w->overload_until_us) { w->st.rtx_shed++; return; }   /* saturated: fresh media first */
    epoch_t *e = epoch_of(c, out_seq);
    if (!e || e->layer < 0 || e->layer >= c->p->nlayers) return;
    ms_producer_t *p = c->p->layer[e->layer];
    uint16_t seq = (uint16_t)(out_seq - e->seq_off);
    cache_slot_t *s = &p->cache[seq & (CACHE - 1)];
    if (!s->valid || s->seq != seq || s->ext < e->start_ext) return;
    rtp_hdr_t h;
    if (rtp_parse(s->data, s->len, &h) < 0) return;
    uint8_t cpt = c->prm.pt_map[h.pt];
    int rtx = c->prm.rtx_ssrc && cpt != 0xff && c->prm.rtx_pt_of[cpt] != 0xff;
    if (!rtx_allowed(w, c->t, s->len + 60)) return;
    send_to_consumer(w, c, s->data, &h, rtx, 0, out_seq, e, p->prm.codec_of_pt[h.pt]);
}

static void handle_rtcp(ms_worker_t *w, ms_transport_t *t, uint8_t *buf, int len) {
    w->st.rtcp_rx++;
    if (!t->srtp_in) { w->st.drops[DROP_NOT_READY]++; return; }
    int n = srtp_unprotect_rtcp(t->srtp_in, buf, len);
    if (n < 0) { w->st.drops[n == SRTP_ERR_REPLAY ? DROP_SRTP_REPLAY : DROP_SRTP_AUTH]++; return; }
    peer_proved(t);
    if (t->client_mode) return;
    int off = 0, pl;
    int any = 0;
    while ((off = rtcp_next(buf, n, off, &pl)) >= 0) {
        const uint8_t *q = buf + off;
        int type = q[1], fmt = q[0] & 0x1f;
        any = 1;
        if ((type == RTCP_SR || type == RTCP_RR) && pl >= 8) {
            int base = type == RTCP_SR ? 28 : 8;
            if (type == RTCP_SR && pl >= 28) {
                ms_producer_t *p = ms_map_get(&w->prod_by_ssrc, ((uint64_t)t->id << 32) | rd32(q + 4));
                if (p && p->prm.ssrc == rd32(q + 4)) {
                    p->last_sr_mid = (rd32(q + 8) << 16) | (rd32(q + 12) >> 16);
                    p->last_sr_us = w->now_us;
                }
            }
            for (int i = 0; i < fmt && base + 24 * (i + 1) <= pl; i++) {
                rtcp_report_t r;
                rtcp_parse_report(q + base + 24 * i, &r);
                ms_consumer_t *c = ms_map_get(&w->cons_by_ssrc, r.ssrc);
                if (!c || c->t != t) continue;
                c->fraction_lost = r.fraction_lost;
                c->jitter = r.jitter;
                if (t->bwe && c->p->prm.kind == 1) bwe_on_loss(t->bwe, r.fraction_lost, w->now_us);
                if (r.lsr) {
                    for (int k = 0; k < 4; k++) {
                        if (c->sr_ntp_mid[k] != r.lsr) continue;
                        int64_t rtt = (int64_t)(w->now_us - c->sr_sent_us[k]) - (int64_t)((uint64_t)r.dlsr * 1000000ull >> 16);
                        c->rtt_us = rtt < 0 ? 0 : rtt;
                        if (t->bwe) bwe_on_rtt(t->bwe, c->rtt_us);
                    }
                }
            }
        } else if (type == RTCP_RTPFB && fmt == 1 && pl >= 12) {
            ms_consumer_t *c = ms_map_get(&w->cons_by_ssrc, rd32(q + 8));
            if (c && c->t == t) {
                c->nacks++;
                c->last_nack_us = w->now_us;
                w->st.nacks_rx++;
                int budget = 64;                 /* a NACK is no amplifier: at most 64 packets each */
                for (int k = 12; k + 4 <= pl && budget > 0; k += 4) {
                    uint16_t pid = rd16(q + k), blp = rd16(q + k + 2);
                    retransmit(w, c, pid);
                    budget--;
                    for (int b = 0; b < 16 && budget > 0; b++)
                        if (blp & (1 << b)) { retransmit(w, c, (uint16_t)(pid + b + 1)); budget--; }
                }
            }
        } else if (type == RTCP_RTPFB && fmt == 15 && pl >= 20) {       /* transport-cc feedback */
            if (t->bwe) {
                twcc_result_t *res = w->twcc_res;
                uint8_t fbc;
                int nr = twcc_parse(q, pl, res, TWCC_RES_MAX, &fbc);
                if (nr > 0) { bwe_on_feedback(t->bwe, res, nr, w->now_us); t->got_fb = 1; w->st.twcc_rx++; }
                else w->st.drops[DROP_RTCP_MALFORMED]++;
            }
        } else if (type == RTCP_XR && pl >= 8) {                          /* RRTR blocks */
            for (int k = 8; k + 4 <= pl;) {
                int bt = q[k], bl = 4 * (rd16(q + k + 2) + 1);
                if (k + bl > pl) break;
                if (bt == 4 && bl == 12) {
                    t->rrtr_ssrc = rd32(q + 4);
                    t->rrtr_mid = (rd32(q + k + 4) << 16) | (rd32(q + k + 8) >> 16);
                    t->rrtr_us = w->now_us;
                }
                k += bl;
            }
        } else if (type == RTCP_PSFB && fmt == 15 && pl >= 20) {         /* REMB */
            uint32_t bps;
            if (t->bwe && remb_parse(q, pl, &bps) == 0) { bwe_on_remb(t->bwe, bps, w->now_us); t->got_fb = 1; w->st.remb_rx++; }
        } else if (type == RTCP_PSFB && (fmt == 1 || fmt == 4) && pl >= 12) {
            uint32_t media = fmt == 1 ? rd32(q + 8) : (pl >= 20 ? rd32(q + 12) : 0);
            ms_consumer_t *c = ms_map_get(&w->cons_by_ssrc, media);
            if (c && c->t == t) {
                c->plis++;
                w->st.plis_rx++;
                if (c->started && c->cur_layer >= 0 && c->cur_layer < c->p->nlayers)
                    request_keyframe(w, c->p->layer[c->cur_layer]);
                consumer_keyframe(w, c);
            }
        }
        off += pl;
    }
    if (!any) w->st.drops[DROP_RTCP_MALFORMED]++;
}

/* ---------- demux ---------- */

static void on_datagram(ms_worker_t *w, ms_transport_t *known, tcp_conn_t *conn, uint8_t *buf, int len,
                        const struct sockaddr_storage *from) {
    w->st.rx_packets++;
    w->st.rx_bytes += len;
    if (stun_is_stun(buf, len)) { handle_stun(w, conn ? NULL : known, conn, buf, len, from); return; }
    ms_transport_t *t = conn ? conn->t : known ? known : ms_map_get(&w->by_addr, hash_addr(from));
    if (t && !conn && !known && (!t->has_remote || t->tcp || !addr_eq(&t->remote, from))) t = NULL;
    if (!t) { w->st.drops[DROP_UNKNOWN_ADDR]++; return; }
    t->rx_packets++;
    t->rx_bytes += len;
    if (dtls_is_dtls(buf, len)) { handle_dtls(w, t, buf, len); return; }
    if (rtp_is_rtp_or_rtcp(buf, len)) {
        if (!t->srtp_in) { w->st.drops[DROP_NOT_READY]++; return; }
        if (rtp_is_rtcp(buf, len)) handle_rtcp(w, t, buf, len);
        else handle_rtp(w, t, buf, len);
        return;
    }
    w->st.drops[DROP_UNKNOWN_TYPE]++;
}

/* ---------- ICE-TCP (RFC 6544 framing, passive candidates) ---------- */

static void tcp_close(ms_worker_t *w, tcp_conn_t *c, const char *why) {
    if (c->t && c->t->tcp == c) {
        c->t->tcp = NULL;
        c->t->has_remote = 0;
        if (c->t->ice_state == ICE_CONNECTED) {
            c->t->ice_state = ICE_DISCONNECTED;
            push_event(w, EV_ICE, c->t->id, ICE_DISCONNECTED, 0, why);
        }
    }
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    ms_map_del(&w->conn_by_tag, c->tag);
    if (c->prev) c->prev->next = c->next; else w->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    w->nconns--;
    free(c->wbuf);
    free(c);
}

static void tcp_flush(tcp_conn_t *c) {
    int off = 0;
    while (off < c->wlen) {
        ssize_t r = send(c->fd, c->wbuf + off, c->wlen - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r <= 0) break;
        off += (int)r;
    }
    if (off) { memmove(c->wbuf, c->wbuf + off, c->wlen - off); c->wlen -= off; }
}

static void tcp_write(ms_worker_t *w, tcp_conn_t *c, const uint8_t *buf, int len) {
    if (c->wlen + len + 2 > TCP_WBUF_MAX) { w->st.drops[DROP_SEND_FAILED]++; return; }
    if (c->wlen + len + 2 > c->wcap) {
        int cap = c->wcap ? c->wcap : 16384;
        while (cap < c->wlen + len + 2) cap *= 2;
        c->wbuf = realloc(c->wbuf, cap);
        c->wcap = cap;
    }
    wr16(c->wbuf + c->wlen, (uint16_t)len);
    memcpy(c->wbuf + c->wlen + 2, buf, len);
    c->wlen += len + 2;
    w->st.tx_packets++;
    w->st.tx_bytes += len;
    tcp_flush(c);
}

static int same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
    if (a->ss_family != b->ss_family) return 0;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr == ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
}

static void tcp_accept(ms_worker_t *w) {
    for (;;) {
        struct sockaddr_storage peer;
        socklen_t pl = sizeof(peer);
        int fd = accept4(w->tcp_fd, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* out of descriptors: stop listening for a moment instead of spinning on the ready socket */
                epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->tcp_fd, NULL);
                w->listen_paused_until = w->now_us + 100000;
                w->st.drops[DROP_SEND_FAILED]++;
            }
            return;
        }
        int same = 0;
        for (tcp_conn_t *c = w->conns; c && same < TCP_MAX_PER_IP; c = c->next) same += same_ip(&c->peer, &peer);
        if (w->nconns >= w->max_conns || same >= TCP_MAX_PER_IP) { close(fd); continue; }
        tcp_conn_t *c = calloc(1, sizeof(*c));
        c->fd = fd;
        c->peer = peer;
        c->tag = TAG_TCP_CONN | ++w->next_conn;
        c->opened_us = w->now_us;
        c->next = w->conns; if (w->conns) w->conns->prev = c; w->conns = c;
        w->nconns++;
        ms_map_put(&w->conn_by_tag, c->tag, c);
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = c->tag};
        epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev);
    }
}

static void tcp_read(ms_worker_t *w, tcp_conn_t *c) {
    for (;;) {
        ssize_t r = recv(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen, MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            tcp_close(w, c, "tcp connection closed");
            return;
        }
        if (r < 0) return;
        c->rlen += (int)r;
        int off = 0;
        while (c->rlen - off >= 2) {
            int flen = rd16(c->rbuf + off);
            if (flen == 0 || flen > 2048) { w->st.drops[DROP_TOO_BIG]++; tcp_close(w, c, "bad tcp framing"); return; }
            if (c->rlen - off < 2 + flen) break;
            uint8_t *frame = w->rx_buf[0];
            memcpy(frame, c->rbuf + off + 2, flen);
            off += 2 + flen;
            on_datagram(w, NULL, c, frame, flen, &c->peer);
        }
        if (off) { memmove(c->rbuf, c->rbuf + off, c->rlen - off); c->rlen -= off; }
    }
}

static int bind_tcp(const struct sockaddr_storage *ss, socklen_t sl) {
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)ss, sl) < 0 || listen(fd, 128) < 0) { close(fd); return -1; }
    return fd;
}

/* ---------- timers ---------- */

static void send_reports(ms_worker_t *w) {
    for (ms_producer_t *p = w->producers; p; p = p->next) {
        ms_transport_t *t = p->t;
        if (p->pli_pending && w->now_us - p->last_pli_us >= PLI_INTERVAL_US) request_keyframe(w, p);
        if (!t->srtp_out || !p->prm.ssrc || !p->track.init) continue;
        /* upstream NACKs: retry each missing packet a few times, 30 ms apart */
        if (p->nnack) {
            uint16_t seqs[NACK_MAX];
            int ns = 0;
            for (int i = 0; i < p->nnack;) {
                nack_item_t *it = &p->nack[i];
                if (it->tries >= 8 || w->now_us - it->added_us > 1000000ull) { *it = p->nack[--p->nnack]; continue; }
                if (w->now_us - it->sent_us >= 30000) { seqs[ns++] = it->seq; it->tries++; it->sent_us = w->now_us; }
                i++;
            }
            if (ns) {
                for (int a = 1; a < ns; a++)  /* sort by sequence order near max_seq */
                    for (int b = a; b > 0 && seq_newer(seqs[b - 1], seqs[b]); b--) {
                        uint16_t tmp = seqs[b]; seqs[b] = seqs[b - 1]; seqs[b - 1] = tmp;
                    }
                uint8_t *o = tx_slot(w);
                int n = rtcp_build_rr(o, MTU, SERVER_SSRC, NULL, 0);
                n += rtcp_build_nack(o + n, MTU - n, SERVER_SSRC, p->prm.ssrc, seqs, ns);
                p->nacks_tx++;
                w->st.nacks_tx++;
                tx_rtcp_commit(w, t, n);
            }
        }
        if (w->now_us - p->last_rr_us < REPORT_INTERVAL_US) continue;
        p->last_rr_us = w->now_us;
        rtcp_report_t r;
        memset(&r, 0, sizeof(r));
        r.ssrc = p->prm.ssrc;
        uint32_t expected = track_expected(&p->track);
        int64_t lost = (int64_t)expected - (int64_t)p->track.received;
        r.cumulative_lost = lost < 0 ? 0 : (int32_t)lost;
        uint32_t exp_iv = expected - p->expected_prior, rcv_iv = p->track.received - p->received_prior;
        int64_t lost_iv = (int64_t)exp_iv - (int64_t)rcv_iv;
        r.fraction_lost = (exp_iv && lost_iv > 0) ? (uint8_t)(lost_iv * 256 / exp_iv > 255 ? 255 : lost_iv * 256 / exp_iv) : 0;
        p->expected_prior = expected;
        p->received_prior = p->track.received;
        r.highest_seq = p->track.cycles + p->track.max_seq;
        r.jitter = (uint32_t)p->jitter;
        if (p->last_sr_us) {
            r.lsr = p->last_sr_mid;
            r.dlsr = (uint32_t)(((w->now_us - p->last_sr_us) << 16) / 1000000ull);
        }
        uint8_t *o = tx_slot(w);
        int n = rtcp_build_rr(o, MTU, SERVER_SSRC, &r, 1);
        tx_rtcp_commit(w, t, n);
    }
    for (ms_consumer_t *c = w->consumers; c; c = c->next) {
        if (c->prm.ext_playout) {
            uint32_t want = 0;
            if (c->last_nack_us && w->now_us - c->last_nack_us < PLAYOUT_HOLD_US) {
                int64_t rtt = c->rtt_us > 0 ? c->rtt_us : 150000;
                want = (uint32_t)((rtt * 3 / 2 + 50000) / 10000);
                if (want < 5) want = 5;
                if (want > 50) want = 50;
            }
            c->playout_10ms = want;
        }
        if (!c->started || !can_send(c->t) || w->now_us - c->last_sr_us < REPORT_INTERVAL_US) continue;
        c->last_sr_us = w->now_us;
        uint64_t ntp = rtcp_ntp_now();
        uint32_t clock = c->p->prm.clock_rate ? c->p->prm.clock_rate : 90000;
        uint32_t ts = c->last_ts_out + (uint32_t)((w->now_us - c->last_send_us) * clock / 1000000ull);
        uint8_t *o = tx_slot(w);
        int n = rtcp_build_sr(o, c->prm.ssrc, ntp, ts, c->sr_packets, c->sr_octets);
        ms_transport_t *ct = c->t;
        if (ct->rrtr_us && w->now_us - ct->rrtr_us < 10000000ull) {   /* XR DLRR for the latest RRTR */
            uint8_t *x = o + n;
            x[0] = 0x80; x[1] = RTCP_XR; wr16(x + 2, 5);
            wr32(x + 4, c->prm.ssrc);
            x[8] = 5; x[9] = 0; wr16(x + 10, 3);
            wr32(x + 12, ct->rrtr_ssrc);
            wr32(x + 16, ct->rrtr_mid);
            wr32(x + 20, (uint32_t)(((w->now_us - ct->rrtr_us) << 16) / 1000000ull));
            n += 24;
        }
        c->sr_ntp_mid[c->sr_i] = (uint32_t)(ntp >> 16);
        c->sr_sent_us[c->sr_i] = w->now_us;
        c->sr_i = (c->sr_i + 1) & 3;
        tx_rtcp_commit(w, c->t, n);
    }
}

/* ---------- layers and allocation ---------- */

#define RATE_WINDOW_US 500000ull
#define ALLOC_INTERVAL_US 1000000ull
#define ALLOC_HOLD_US 4000000ull      /* no upgrade this long after a downgrade */
#define VIDEO_OFF_AFTER_US 1500000ull /* video goes off after the estimate stayed too low this long */
#define NO_ESTIMATE_BPS 1000000000u   /* until a transport has an estimate: the budgets alone decide */

static uint32_t smooth_rate(uint32_t old, uint64_t bytes, uint64_t dt_us) {
    uint64_t inst = bytes * 8ull * 1000000ull / (dt_us ? dt_us : 1);
    if (inst > 0xffffffffull) inst = 0xffffffffull;
    return old ? (uint32_t)((old + inst) / 2) : (uint32_t)inst;
}

static int layer_active(const ms_worker_t *w, const ms_producer_t *p) {
    return p->last_rx_us && w->now_us - p->last_rx_us <= LAYER_IDLE_US && w->now_us - p->first_rx_us >= LAYER_WARMUP_US;
}

static void measure_rates(ms_worker_t *w) {
    for (ms_producer_t *p = w->producers; p; p = p->next) {
        if (w->now_us - p->rate_at_us < RATE_WINDOW_US) continue;
        p->bps = p->rate_at_us ? smooth_rate(p->bps, p->rate_bytes, w->now_us - p->rate_at_us) : 0;
        if (p->last_rx_us && w->now_us - p->last_rx_us > LAYER_IDLE_US) p->bps = 0;
        p->rate_bytes = 0;
        p->rate_at_us = w->now_us;
    }
    for (ms_producer_t *p = w->producers; p; p = p->next) {   /* rank the layers of each head */
        if (p->head != p || p->nlayers < 2) continue;
        for (int i = 0; i < p->nlayers; i++) {
            int r = 0;
            for (int j = 0; j < p->nlayers; j++)
                if (p->layer[j]->bps < p->layer[i]->bps || (p->layer[j]->bps == p->layer[i]->bps && j < i)) r++;
            p->layer[i]->rank = r;
        }
    }
    for (ms_consumer_t *c = w->consumers; c; c = c->next) {
        if (w->now_us - c->rate_at_us < RATE_WINDOW_US) continue;
        c->bps = c->rate_at_us ? smooth_rate(c->bps, c->rate_bytes, w->now_us - c->rate_at_us) : 0;
        c->rate_bytes = 0;
        c->rate_at_us = w->now_us;
    }
}

#define PROBE_FRESH_US 3000000ull
#define START_PHASE_US 5000000ull
#define PROBE_GAP_MIN_US 500000ull
#define PROBE_GAP_MAX_US 2000000ull

/* The rate t's path has been seen to carry: a quarter above what it delivered lately, or the latest probe
 * result; never above the estimate. Without transport-cc: the estimate itself. */
static uint32_t validated_bps(ms_worker_t *w, ms_transport_t *t) {
    uint32_t e = transport_estimate(t);
    if (!t->bwe || !t->expect_fb) return e;
    uint64_t acked = bwe_acked_bps(t->bwe);
    uint64_t v = acked + acked / 4;
    uint32_t pr = bwe_probe_bps(t->bwe, w->now_us, PROBE_FRESH_US);
    if (pr > v) v = pr;
    return v < e ? (uint32_t)v : e;
}

/* The estimate the allocation works with: none (the budgets alone) for a peer that gives no feedback. */
static uint32_t transport_estimate(const ms_transport_t *t) {
    return t->bwe && (t->expect_fb || t->got_fb) ? bwe_estimate(t->bwe) : NO_ESTIMATE_BPS;
}

/* A padding-only packet on c's RTX stream (RFC 4588 receivers drop it after counting it for transport-cc):
 * what bandwidth probes are made of, whether or not video flows. */
static int send_padding(ms_worker_t *w, ms_consumer_t *c, int pad) {
    ms_transport_t *t = c->t;
    uint8_t pt = 0xff;
    for (int i = 0; i < 128 && pt == 0xff; i++) pt = c->prm.rtx_pt_of[i];
    if (pt == 0xff || !c->prm.rtx_ssrc || !c->prm.ext_twcc) return -1;
    uint8_t *o = tx_slot(w);
    o[0] = 0x80 | 0x20 | 0x10;                      /* P and X */
    o[1] = pt;
    wr16(o + 2, c->rtx_seq++);
    wr32(o + 4, c->last_ts_out);
    wr32(o + 8, c->prm.rtx_ssrc);
    int off = 16;
    if (c->prm.ext_mid && c->mid_len) {
        o[off++] = (uint8_t)((c->prm.ext_mid << 4) | (c->mid_len - 1));
        memcpy(o + off, c->prm.mid, c->mid_len); off += c->mid_len;
    }
    uint16_t twcc = t->twcc_seq++;
    o[off++] = (uint8_t)((c->prm.ext_twcc << 4) | 1); wr16(o + off, twcc); off += 2;
    while ((off - 12) & 3) o[off++] = 0;
    wr16(o + 12, 0xBEDE);
    wr16(o + 14, (uint16_t)((off - 16) / 4));
    memset(o + off, 0, pad - 1);
    o[off + pad - 1] = (uint8_t)pad;
    off += pad;
    int n = srtp_protect_rtp(t->srtp_out, o, off, MTU + 64);
    if (n < 0) return -1;
    if (t->bwe) bwe_on_sent(t->bwe, twcc, n + 28, w->now_us, w->probe_cluster);
    w->st.rtp_tx++;
    tx_commit(w, t, n);
    return n;
}

/* A bandwidth probe (issue 5): padding at the target rate, paced in PROBE_ROUNDS rounds PROBE_GAP_US
 * apart (about 15 ms, at least 5 packets), marked with the cluster id; the feedback on it tells how fast
 * the path delivers. */
#define PROBE_ROUNDS 4
#define PROBE_GAP_US 5000ull
#define PROBE_PAD 255

static ms_consumer_t *probe_carrier(ms_transport_t *t) {
    ms_consumer_t *c = t->cons;
    while (c && !(c->prm.rtx_ssrc && c->prm.ext_twcc && c->p->prm.kind == 1)) c = c->tnext;
    return c;
}

static void start_probe(ms_worker_t *w, ms_transport_t *t, uint32_t target_bps) {
    if (t->probe_rounds || !probe_carrier(t) || !can_send(t)) return;
    int per_round = (int)((uint64_t)target_bps * PROBE_GAP_US / 1000000ull / 8 / (PROBE_PAD + 40));
    if (per_round < 2) per_round = 2;
    if (per_round > 12) per_round = 12;
    t->probe_id = bwe_probe_start(t->bwe, target_bps, w->now_us);
    t->probe_per_round = per_round;
    t->probe_rounds = PROBE_ROUNDS;
    t->probe_next_us = w->now_us;
    w->probing++;
    w->st.probes_tx++;
}

static void pace_probes(ms_worker_t *w) {
    for (ms_transport_t *t = w->transports; t && w->probing; t = t->next) {
        if (!t->probe_rounds || w->now_us < t->probe_next_us) continue;
        ms_consumer_t *c = probe_carrier(t);
        if (c && can_send(t) && w->now_us >= w->overload_until_us) {
            w->probe_cluster = t->probe_id;
            for (int i = 0; i < t->probe_per_round; i++) if (send_padding(w, c, PROBE_PAD) < 0) break;
            w->probe_cluster = -1;
        }
        t->probe_next_us = w->now_us + PROBE_GAP_US;
        if (--t->probe_rounds == 0 || !c) { t->probe_rounds = 0; w->probing--; }
    }
}

/* Transport-cc feedback to a publisher, every TWCC_FB_INTERVAL_US. */
static void send_twcc_feedback(ms_worker_t *w, ms_transport_t *t) {
    if (!t->twcc_rx || w->now_us - t->last_twcc_fb_us < TWCC_FB_INTERVAL_US || !t->srtp_out) return;
    t->last_twcc_fb_us = w->now_us;
    for (int guard = 0; guard < 16; guard++) {
        uint8_t *o = tx_slot(w);
        int n = twcc_rx_build(t->twcc_rx, o, MTU - 64, SERVER_SSRC, t->twcc_media_ssrc);
        if (n <= 0) break;
        w->st.twcc_tx++;
        tx_rtcp_commit(w, t, n);
    }
}

static void allocate(ms_worker_t *w, ms_transport_t *t) {
    ms_alloc_stream_t st[256];
    ms_consumer_t *cs[256];
    int n = 0, downgraded = 0;
    uint32_t estimate = transport_estimate(t);
    for (ms_consumer_t *c = t->cons; c && n < 256; c = c->tnext) {
        if (c->paused) continue;
        ms_producer_t *hd = c->p;
        if (c->forced_layer != MS_LAYER_AUTO) {
            c->target_layer = c->forced_layer < hd->nlayers ? c->forced_layer : hd->nlayers - 1;
            continue;
        }
        ms_alloc_stream_t *a = &st[n];
        memset(a, 0, sizeof(*a));
        a->kind = hd->prm.kind;
        a->priority = c->priority;
        a->max_bps = c->max_bps;
        a->nlayers = hd->nlayers;
        int any = 0;
        for (int i = 0; i < hd->nlayers; i++) {
            ms_producer_t *l = hd->layer[i];
            int r = hd->nlayers > 1 ? l->rank : 0;
            a->layer_bps[r] = l->bps;
            a->layer_active[r] = (uint8_t)(hd->prm.kind == 0 || layer_active(w, l));
            any |= a->layer_active[r];
        }
        if (!any) continue;                         /* nothing flows: keep what was chosen */
        a->current = c->started && c->cur_layer >= 0 ? (hd->nlayers > 1 ? hd->layer[c->cur_layer]->rank : 0) : -1;
        if (!c->started && c->target_layer < 0) a->current = -1;
        cs[n++] = c;
    }
    /* the probing goal: what the best layers within the budgets would take */
    ms_alloc_stream_t best[256];
    memcpy(best, st, sizeof(ms_alloc_stream_t) * n);
    t->wanted_bps = ms_allocate(best, n, NO_ESTIMATE_BPS, t->budget_bps, 0, 1);
    /* video off only on an estimate that can climb back by probing (transport-cc) */
    int hold = w->now_us < t->hold_until_us;
    /* congestion (the estimate under what t is being sent): aim lower, so that the queue drains */
    uint64_t sending = 0;
    for (ms_consumer_t *c = t->cons; c; c = c->tnext) if (!c->paused) sending += c->bps;
    int over = t->expect_fb && estimate != NO_ESTIMATE_BPS && sending > estimate;
    t->congested = over && sending * 7 / 10 > estimate;     /* far over: a downgrade stops feeding at once */
    if (over) estimate = estimate / 4 * 3;
    ms_alloc_stream_t trial[256];
    memcpy(trial, st, sizeof(ms_alloc_stream_t) * n);
    uint32_t total = ms_allocate(trial, n, estimate, t->budget_bps, hold, t->expect_fb && !t->tcp);
    /* an upgrade needs the rate proven: delivered lately, or measured by a probe (an estimate that went
     * unused for a while is only a guess); else allocate what was proven, and let a probe find out */
    int upgrades = 0;
    for (int k = 0; k < n; k++) upgrades |= trial[k].target > trial[k].current;
    uint32_t available = estimate;
    if (upgrades && !hold && total > validated_bps(w, t)) available = validated_bps(w, t);
    /* over ICE-TCP the path's own congestion control distorts the delays transport-cc reports: choose
     * layers by the estimate, but never turn video off on it */
    ms_allocate(st, n, available, t->budget_bps, hold, t->expect_fb && !t->tcp);
    for (int k = 0; k < n; k++) {
        ms_consumer_t *c = cs[k];
        ms_producer_t *hd = c->p;
        int layer = -1;
        if (st[k].target >= 0)
            for (int i = 0; i < hd->nlayers; i++)
                if ((hd->nlayers > 1 ? hd->layer[i]->rank : 0) == st[k].target) layer = i;
        int before = c->target_layer;
        int before_rank = before >= 0 && before < hd->nlayers ? (hd->nlayers > 1 ? hd->layer[before]->rank : 0) : -1;
        /* video off only when the estimate stays too low for VIDEO_OFF_AFTER_US: one dip of a noisy
         * estimate must not cost seconds of picture; until then the lowest active layer */
        if (layer < 0 && hd->prm.kind == 1 && c->started && c->cur_layer >= 0) {
            if (!c->off_since_us) c->off_since_us = w->now_us;
            if (w->now_us - c->off_since_us < VIDEO_OFF_AFTER_US) {
                for (int r = 0; r < hd->nlayers && layer < 0; r++)
                    for (int i = 0; i < hd->nlayers; i++)
                        if ((hd->nlayers > 1 ? hd->layer[i]->rank : 0) == r && layer_active(w, hd->layer[i])) layer = i;
                t->next_alloc_us = w->now_us + 250000;
            }
        } else {
            c->off_since_us = 0;
        }
        if (st[k].target < before_rank) downgraded = 1;
        c->target_layer = layer;
        if (layer >= 0 && layer != before) consumer_keyframe(w, c);
    }
    if (downgraded) t->hold_until_us = w->now_us + ALLOC_HOLD_US;
    t->alloc_bps = estimate;
    t->next_alloc_us = w->now_us + ALLOC_INTERVAL_US;
}

static void allocate_all(ms_worker_t *w) {
    for (ms_transport_t *t = w->transports; t; t = t->next) {
        send_twcc_feedback(w, t);
        if (!t->cons) continue;
        if (t->bwe && t->expect_fb && t->wanted_bps && w->now_us >= t->next_probe_us && !t->probe_rounds) {
            /* probe when the allocation wants more than the path has been seen to carry: at most twice
             * that; sooner again after a probe that found more, backing off after one that did not */
            uint32_t v = validated_bps(w, t), pr = bwe_probe_bps(t->bwe, w->now_us, PROBE_FRESH_US);
            if (pr && t->probe_at_bps && pr > t->probe_at_bps) t->probe_gap_us = PROBE_GAP_MIN_US;
            if ((uint64_t)t->wanted_bps * 10 > (uint64_t)v * 11 && bwe_detector(t->bwe) != BWE_OVERUSE) {
                uint64_t target = (uint64_t)t->wanted_bps * 11 / 10;
                /* at most twice what was seen; in the first seconds of a transport up to 2 Mbit/s at once */
                uint64_t cap = 2ull * v;
                if (w->now_us - t->cons_since_us < START_PHASE_US && cap < 2ull * BWE_START_BPS) cap = 2ull * BWE_START_BPS;
                if (target > cap) target = cap;
                if (!t->probe_gap_us) t->probe_gap_us = PROBE_GAP_MIN_US;
                else if (!(pr && t->probe_at_bps && pr > t->probe_at_bps)) {
                    t->probe_gap_us *= 2;
                    if (t->probe_gap_us > PROBE_GAP_MAX_US) t->probe_gap_us = PROBE_GAP_MAX_US;
                }
                t->probe_at_bps = v;
                t->next_probe_us = w->now_us + t->probe_gap_us;
                start_probe(w, t, (uint32_t)target);
            }
        }
        uint32_t e = transport_estimate(t);
        uint32_t d = e > t->alloc_bps ? e - t->alloc_bps : t->alloc_bps - e;
        if (w->now_us >= t->next_alloc_us || (uint64_t)d * 100 > (uint64_t)t->alloc_bps * 15) allocate(w, t);
    }
}

static void tick(ms_worker_t *w) {
    for (tcp_conn_t *c = w->conns, *nx; c; c = nx) {
        nx = c->next;
        if (!c->t && w->now_us - c->opened_us > TCP_UNBOUND_US) tcp_close(w, c, "no binding request");
    }
    if (w->listen_paused_until && w->now_us >= w->listen_paused_until) {
        struct epoll_event tev = {.events = EPOLLIN, .data.u64 = TAG_TCP_LISTEN};
        epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->tcp_fd, &tev);
        w->listen_paused_until = 0;
    }
    for (ms_transport_t *t = w->transports; t; t = t->next) {
        if (t->dtls_ready && (t->dtls.state == DTLS_CONNECTING || (t->dtls.state == DTLS_NEW && t->dtls.client && t->ice_state == ICE_CONNECTED))) {
            int before = t->dtls.state;
            if (t->dtls.state == DTLS_NEW) dtls_start(&t->dtls);
            dtls_timer(&t->dtls);
            if (t->dtls.state == DTLS_FAILED && before != DTLS_FAILED)
                push_event(w, EV_DTLS, t->id, DTLS_FAILED, 0, t->dtls.error);
        }
        if (t->client_mode) {
            uint64_t every = t->ice_state == ICE_CONNECTED ? 2500000ull : 50000ull;
            if (w->now_us - t->last_check_us >= every) send_check(w, t, 1);
        } else if (t->ice_state == ICE_CONNECTED && w->now_us - t->last_consent_us > w->consent_timeout_us) {
            t->ice_state = ICE_DISCONNECTED;
            push_event(w, EV_ICE, t->id, ICE_DISCONNECTED, 0, "consent expired");
        }
    }
    send_reports(w);
    if (w->now_us - w->last_measure_us >= 50000) {
        w->last_measure_us = w->now_us;
        measure_rates(w);
        allocate_all(w);
    }
}

/* ---------- the loop ---------- */

/* Drain the socket in recvmmsg rounds, then forward what came. Under a backlog the rounds gather several
 * packets of a stream, so each consumer's share leaves as one GSO burst: the busier the worker, the cheaper
 * each packet (a graceful overload rather than a collapse). A socket still full after RX_ROUNDS marks the
 * worker saturated for OVERLOAD_HOLD_US: retransmissions and probes are shed, fresh media goes first. */
static void recv_batch(ms_worker_t *w, int fd, ms_transport_t *known) {
    int round;
    for (round = 0; round < RX_ROUNDS; round++) {
        for (int i = 0; i < RXB; i++) {
            w->rx_iov[i].iov_base = w->rx_buf[i];
            w->rx_iov[i].iov_len = sizeof(w->rx_buf[i]);
            w->rx_msg[i].msg_hdr.msg_name = &w->rx_addr[i];
            w->rx_msg[i].msg_hdr.msg_namelen = sizeof(w->rx_addr[i]);
            w->rx_msg[i].msg_hdr.msg_iov = &w->rx_iov[i];
            w->rx_msg[i].msg_hdr.msg_iovlen = 1;
            w->rx_msg[i].msg_hdr.msg_control = NULL;
            w->rx_msg[i].msg_hdr.msg_controllen = 0;
            w->rx_msg[i].msg_hdr.msg_flags = 0;
        }
        int n = recvmmsg(fd, w->rx_msg, RXB, MSG_DONTWAIT, NULL);
        if (n <= 0) break;
        w->st.rx_batches++;
        w->now_us = ms_now_us();
        for (int i = 0; i < n; i++) {
            int len = (int)w->rx_msg[i].msg_len;
            if (w->rx_msg[i].msg_hdr.msg_flags & MSG_TRUNC) { w->st.drops[DROP_TOO_BIG]++; continue; }
            on_datagram(w, known, NULL, w->rx_buf[i], len, &w->rx_addr[i]);
        }
        if (n < RXB) break;
    }
    if (round == RX_ROUNDS) {
        if (w->now_us >= w->overload_until_us) w->st.overloads++;
        w->overload_until_us = w->now_us + OVERLOAD_HOLD_US;
    }
    forward_pending(w);
    tx_flush(w);
}

static void *worker_main(void *arg) {
    ms_worker_t *w = arg;
    struct epoll_event evs[64];
    while (w->running) {
        int n = epoll_wait(w->epfd, evs, 64, w->probing ? 1 : 10);
        pthread_mutex_lock(&w->lock);
        w->now_us = ms_now_us();
        for (int i = 0; i < n; i++) {
            uint64_t tag = evs[i].data.u64;
            if (tag == 0) { recv_batch(w, w->udp_fd, NULL); continue; }
            if (tag == TAG_TCP_LISTEN) { tcp_accept(w); continue; }
            if (tag & TAG_TCP_CONN) {
                tcp_conn_t *c = ms_map_get(&w->conn_by_tag, tag);
                if (c) tcp_read(w, c);
                forward_pending(w);
                tx_flush(w);
                continue;
            }
            ms_transport_t *t = ms_map_get(&w->by_id, (uint32_t)tag);
            if (t && t->client_mode) recv_batch(w, t->fd, t);
        }
        for (tcp_conn_t *c = w->conns; c; c = c->next) if (c->wlen) tcp_flush(c);
        w->now_us = ms_now_us();
        if (w->now_us - w->last_tick_us >= 10000) { w->last_tick_us = w->now_us; tick(w); }
        if (w->probing) pace_probes(w);
        tx_flush(w);
        pthread_mutex_unlock(&w->lock);
    }
    return NULL;
}

/* ---------- public API ---------- */

static int bind_udp(const char *ip, int port, int *out_port, char *err, int errlen) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t sl;
    int fam;
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = fam = AF_INET6; s6->sin6_port = htons(port);
        if (inet_pton(AF_INET6, ip, &s6->sin6_addr) != 1) { snprintf(err, errlen, "bad address %s", ip); return -1; }
        sl = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = fam = AF_INET; s4->sin_port = htons(port);
        if (inet_pton(AF_INET, ip, &s4->sin_addr) != 1) { snprintf(err, errlen, "bad address %s", ip); return -1; }
        sl = sizeof(*s4);
    }
    int fd = socket(fam, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { snprintf(err, errlen, "socket: %s", strerror(errno)); return -1; }
    int sz = 8 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
        snprintf(err, errlen, "bind %s:%d: %s", ip, port, strerror(errno));
        close(fd);
        return -1;
    }
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *out_port = ntohs(fam == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

ms_worker_t *ms_worker_new(const char *ip, int port, char *err, int errlen) {
    ms_worker_t *w = calloc(1, sizeof(*w));
    if (!w) { snprintf(err, errlen, "out of memory"); return NULL; }
    w->udp_fd = bind_udp(ip, port, &w->port, err, errlen);
    if (w->udp_fd < 0) { free(w); return NULL; }
    /* ICE-TCP listens on the same port number (RFC 6544). With "any free port", a UDP port whose TCP twin
     * is taken (e.g. by another program's outgoing connection) is traded for another, a few times. */
    w->tcp_fd = -1;
    for (int attempt = 0; attempt < 16; attempt++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        getsockname(w->udp_fd, (struct sockaddr *)&ss, &sl);
        w->tcp_fd = bind_tcp(&ss, sl);
        if (w->tcp_fd >= 0 || port != 0) break;
        int fd = bind_udp(ip, 0, &w->port, err, errlen);
        if (fd < 0) break;
        close(w->udp_fd);
        w->udp_fd = fd;
    }
    if (dtls_cert_init(&w->cert) < 0) {
        snprintf(err, errlen, "certificate generation failed");
        close(w->udp_fd);
        if (w->tcp_fd >= 0) close(w->tcp_fd);
        free(w);
        return NULL;
    }
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
    epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->udp_fd, &ev);
    if (w->tcp_fd >= 0) {            /* ICE-TCP for clients whose UDP is blocked */
        struct epoll_event tev = {.events = EPOLLIN, .data.u64 = TAG_TCP_LISTEN};
        epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->tcp_fd, &tev);
    }
    ms_map_init(&w->conn_by_tag);
    {
        struct rlimit rl;
        w->max_conns = TCP_MAX_CONNS;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (int)(rl.rlim_cur / 4) < w->max_conns)
            w->max_conns = (int)(rl.rlim_cur / 4);
    }
#ifdef UDP_SEGMENT
    {
        int probe = 1200;
        w->gso = setsockopt(w->udp_fd, SOL_UDP, UDP_SEGMENT, &probe, sizeof(probe)) == 0;
        probe = 0;
        setsockopt(w->udp_fd, SOL_UDP, UDP_SEGMENT, &probe, sizeof(probe));
    }
#endif
    pthread_mutex_init(&w->lock, NULL);
    ms_map_init(&w->by_id); ms_map_init(&w->prod_by_id); ms_map_init(&w->cons_by_id); ms_map_init(&w->by_ufrag); ms_map_init(&w->by_addr);
    ms_map_init(&w->prod_by_ssrc); ms_map_init(&w->cons_by_ssrc);
    w->now_us = ms_now_us();
    w->consent_timeout_us = CONSENT_TIMEOUT_US;
    w->probe_cluster = -1;
    return w;
}

int ms_worker_start(ms_worker_t *w) {
    if (w->running) return 0;
    w->running = 1;
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) { w->running = 0; return -1; }
    return 0;
}

void ms_worker_stop(ms_worker_t *w) {
    if (!w->running) return;
    w->running = 0;
    pthread_join(w->thread, NULL);
}

void ms_worker_free(ms_worker_t *w) {
    ms_worker_stop(w);
    while (w->transports) ms_transport_close(w, w->transports->id);
    while (w->conns) tcp_close(w, w->conns, "worker closed");
    if (w->tcp_fd >= 0) close(w->tcp_fd);
    ms_map_free(&w->conn_by_tag);
    ms_map_free(&w->by_id); ms_map_free(&w->prod_by_id); ms_map_free(&w->cons_by_id); ms_map_free(&w->by_ufrag); ms_map_free(&w->by_addr);
    ms_map_free(&w->prod_by_ssrc); ms_map_free(&w->cons_by_ssrc);
    dtls_cert_free(&w->cert);
    close(w->udp_fd); close(w->epfd); close(w->evfd);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

void ms_worker_lock(ms_worker_t *w) { pthread_mutex_lock(&w->lock); w->now_us = ms_now_us(); }
void ms_worker_unlock(ms_worker_t *w) { tx_flush(w); pthread_mutex_unlock(&w->lock); }
int ms_worker_port(ms_worker_t *w) { return w->port; }
int ms_worker_tcp_enabled(ms_worker_t *w) { return w->tcp_fd >= 0; }
int ms_worker_gso_enabled(ms_worker_t *w) { return w->gso; }
void ms_worker_set_gso(ms_worker_t *w, int on) { w->gso = on; }
void ms_worker_set_consent_timeout(ms_worker_t *w, uint64_t us) { w->consent_timeout_us = us; }
int ms_worker_eventfd(ms_worker_t *w) { return w->evfd; }
const char *ms_worker_fingerprint(ms_worker_t *w) { return w->cert.fingerprint; }

int ms_worker_poll_events(ms_worker_t *w, ms_event_t *out, int max) {
    uint64_t v;
    ssize_t r = read(w->evfd, &v, sizeof(v));
    (void)r;
    int n = 0;
    while (n < max && w->ev_head != w->ev_tail) { out[n++] = w->evq[w->ev_head]; w->ev_head = (w->ev_head + 1) % EVQ; }
    if (w->ev_head != w->ev_tail) { uint64_t one = 1; r = write(w->evfd, &one, 8); }
    return n;
}

void ms_worker_stats(ms_worker_t *w, ms_stats_t *out) { *out = w->st; out->tcp_conns = (uint64_t)w->nconns; }

static int transport_common(ms_worker_t *w, ms_transport_t *t, int dtls_client, const char *fp_alg,
                            const uint8_t *fp, int fp_len, char *err, int errlen) {
    t->id = new_id(w);
    t->fd = -1;
    if (fp_len > 0) {          /* without a fingerprint yet, ICE runs and DTLS waits for ms_transport_set_dtls */
        if (dtls_conn_init(&t->dtls, &w->cert, dtls_client, fp_alg, fp, fp_len, dtls_send_cb, t) < 0) {
            snprintf(err, errlen, "%s", t->dtls.error);
            return -1;
        }
        t->dtls_ready = 1;
    }
    ms_map_put(&w->by_id, t->id, t);
    link_transport(w, t);
    w->st.transports++;
    return (int)t->id;
}

int ms_transport_set_dtls(ms_worker_t *w, uint32_t id, int dtls_client, const char *fp_alg, const uint8_t *fp,
                          int fp_len, char *err, int errlen) {
    ms_transport_t *t = ms_map_get(&w->by_id, id);
    if (!t || t->id != id) { snprintf(err, errlen, "no transport %u", id); return -1; }
    if (t->dtls_ready) { snprintf(err, errlen, "the transport's DTLS peer is already set"); return -1; }
    if (dtls_conn_init(&t->dtls, &w->cert, dtls_client, fp_alg, fp, fp_len, dtls_send_cb, t) < 0) {
        snprintf(err, errlen, "%s", t->dtls.error);
        return -1;
    }
    t->dtls_ready = 1;
    if (dtls_client && t->ice_state == ICE_CONNECTED) dtls_start(&t->dtls);
    return 0;
}

int ms_transport_create(ms_worker_t *w, const char *ufrag, const char *pwd, int dtls_client, const char *fp_alg,
                        const uint8_t *fp, int fp_len, char *err, int errlen) {
    if (!ufrag[0] || strlen(ufrag) > 255 || strlen(pwd) > 255 || strchr(ufrag, ':')) {
        snprintf(err, errlen, "bad ICE credentials"); return -1;
    }
    ms_transport_t *old = ms_map_get(&w->by_ufrag, hash_str(ufrag));
    if (old) { snprintf(err, errlen, "ICE ufrag already in use"); return -1; }
    ms_transport_t *t = transport_alloc(w);
    snprintf(t->ufrag, sizeof(t->ufrag), "%s", ufrag);
    snprintf(t->pwd, sizeof(t->pwd), "%s", pwd);
    int id = transport_common(w, t, dtls_client, fp_alg, fp, fp_len, err, errlen);
    if (id < 0) { transport_free_mem(t); return -1; }
    ms_map_put(&w->by_ufrag, hash_str(ufrag), t);
    return id;
}

int ms_transport_create_client(ms_worker_t *w, const char *remote_ip, int remote_port, const char *local_ufrag,
                               const char *remote_ufrag, const char *remote_pwd, const char *fp_alg,
                               const uint8_t *fp, int fp_len, int sink_abs_ext, char *err, int errlen) {
    ms_transport_t *t = transport_alloc(w);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons(remote_port);
    if (inet_pton(AF_INET, remote_ip, &s4->sin_addr) != 1) { snprintf(err, errlen, "bad address"); transport_free_mem(t); return -1; }
    int lp;
    int fd = bind_udp("127.0.0.1", 0, &lp, err, errlen);
    if (fd < 0) { transport_free_mem(t); return -1; }
    t->client_mode = 1;
    snprintf(t->ufrag, sizeof(t->ufrag), "%s", local_ufrag);
    snprintf(t->remote_ufrag, sizeof(t->remote_ufrag), "%s", remote_ufrag);
    snprintf(t->remote_pwd, sizeof(t->remote_pwd), "%s", remote_pwd);
    RAND_bytes((uint8_t *)&t->tiebreaker, 8);
    t->sink_abs_ext = sink_abs_ext;
    int id = transport_common(w, t, 1, fp_alg, fp, fp_len, err, errlen);
    if (id < 0) { close(fd); transport_free_mem(t); return -1; }
    t->fd = fd;
    set_remote(w, t, &ss);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = t->id};
    epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev);
    send_check(w, t, 1);
    return id;
}

int ms_transport_create_recorder(ms_worker_t *w, uint32_t buffer_bytes, char *err, int errlen) {
    if (buffer_bytes < 65536 || buffer_bytes > (256u << 20)) {
        snprintf(err, errlen, "a recorder's buffer takes 64 KB to 256 MB"); return -1;
    }
    ms_transport_t *t = transport_alloc(w);
    t->rec_buf = malloc(buffer_bytes);
    if (!t->rec_buf) { snprintf(err, errlen, "out of memory"); transport_free_mem(t); return -1; }
    t->rec_cap = buffer_bytes;
    int id = transport_common(w, t, 0, "", NULL, 0, err, errlen);
    if (id < 0) { transport_free_mem(t); return -1; }
    return id;
}

int ms_transport_recorder_drain(ms_worker_t *w, uint32_t id, uint8_t *out, int cap, uint64_t *dropped) {
    ms_transport_t *t = ms_map_get(&w->by_id, id);
    if (!t || t->id != id || !t->rec_buf) return -1;
    if (dropped) *dropped = t->rec_dropped;
    if (!out) return (int)t->rec_len;    /* how much waits */
    uint32_t n = 0;                      /* whole records only */
    while (n + 12 <= t->rec_len) {
        uint32_t l;
        memcpy(&l, t->rec_buf + n, 4);
        if (n + 12 + l > (uint32_t)cap) break;
        n += 12 + l;
    }
    memcpy(out, t->rec_buf, n);
    memmove(t->rec_buf, t->rec_buf + n, t->rec_len - n);
    t->rec_len -= n;
    return (int)n;
}

static void consumer_destroy(ms_worker_t *w, ms_consumer_t *c, int notify) {
    ms_producer_t *p = c->p;
    for (int i = 0; i < p->ncons; i++)
        if (p->cons[i] == c) { p->cons[i] = p->cons[--p->ncons]; break; }
    ms_map_del(&w->cons_by_id, c->id);
    ms_map_del(&w->cons_by_ssrc, c->prm.ssrc);
    if (c->tprev) c->tprev->tnext = c->tnext; else c->t->cons = c->tnext;
    if (c->tnext) c->tnext->tprev = c->tprev;
    if (c->prev) c->prev->next = c->next; else w->consumers = c->next;
    if (c->next) c->next->prev = c->prev;
    if (notify) push_event(w, EV_CONSUMER_CLOSED, c->id, 0, 0, NULL);
    w->st.consumers--;
    free(c);
}

static void producer_destroy(ms_worker_t *w, ms_producer_t *p) {
    if (p->head == p)
        for (int i = p->nlayers - 1; i > 0; i--) if (p->layer[i]) producer_destroy(w, p->layer[i]);
    while (p->ncons) consumer_destroy(w, p->cons[0], 1);
    free(p->cons);
    if (p->head == p) ms_map_del(&w->prod_by_id, p->id);
    if (p->prm.ssrc) ms_map_del(&w->prod_by_ssrc, ((uint64_t)p->t->id << 32) | p->prm.ssrc);
    if (p->prm.rtx_ssrc) ms_map_del(&w->prod_by_ssrc, ((uint64_t)p->t->id << 32) | p->prm.rtx_ssrc);
    if (p->prev) p->prev->next = p->next; else w->producers = p->next;
    if (p->next) p->next->prev = p->prev;
    w->st.producers--;
    free(p->cache);
    free(p);
}

int ms_transport_close(ms_worker_t *w, uint32_t id) {
    ms_transport_t *t = ms_map_get(&w->by_id, id);
    if (!t || t->id != id) return -1;
    if (t->probe_rounds) { t->probe_rounds = 0; w->probing--; }
    for (ms_consumer_t *c = w->consumers, *nx; c; c = nx) { nx = c->next; if (c->t == t) consumer_destroy(w, c, 0); }
    for (;;) {                       /* heads only: a head takes its layers with it */
        ms_producer_t *p = w->producers;
        while (p && !(p->t == t && p->head == p)) p = p->next;
        if (!p) break;
        producer_destroy(w, p);
    }
    if (t->dtls_ready) { dtls_close(&t->dtls); dtls_conn_free(&t->dtls); }
    tx_flush(w);
    for (tcp_conn_t *c = w->conns, *nx; c; c = nx) {
        nx = c->next;
        if (c->t == t) { tcp_flush(c); c->t = NULL; t->tcp = NULL; tcp_close(w, c, "transport closed"); }
    }
    if (t->srtp_in) srtp_ctx_free(t->srtp_in);
    if (t->srtp_out) srtp_ctx_free(t->srtp_out);
    ms_map_del(&w->by_id, id);
    if (t->rec_buf) {
        /* a recorder has no ICE name or address */
    } else if (!t->client_mode) {
        ms_map_del(&w->by_ufrag, hash_str(t->ufrag));
        if (t->has_remote && ms_map_get(&w->by_addr, hash_addr(&t->remote)) == t) ms_map_del(&w->by_addr, hash_addr(&t->remote));
    } else {
        epoll_ctl(w->epfd, EPOLL_CTL_DEL, t->fd, NULL);
        close(t->fd);
    }
    if (t->prev) t->prev->next = t->next; else w->transports = t->next;
    if (t->next) t->next->prev = t->prev;
    w->st.transports--;
    transport_free_mem(t);
    return 0;
}

int ms_transport_stats(ms_worker_t *w, uint32_t id, ms_transport_stats_t *o) {
    ms_transport_t *t = ms_map_get(&w->by_id, id);
    if (!t || t->id != id) return -1;
    memset(o, 0, sizeof(*o));
    o->ice_state = t->ice_state;
    o->dtls_state = t->dtls.state;
    o->srtp_profile = t->dtls.srtp_profile;
    o->dtls_frozen = t->dtls.frozen;
    o->over_tcp = t->tcp != NULL;
    if (t->has_remote)
        o->remote_port = ntohs(t->remote.ss_family == AF_INET ? ((struct sockaddr_in *)&t->remote)->sin_port
                                                               : ((struct sockaddr_in6 *)&t->remote)->sin6_port);
    o->rx_packets = t->rx_packets; o->rx_bytes = t->rx_bytes; o->tx_packets = t->tx_packets; o->tx_bytes = t->tx_bytes;
    o->sink_packets = t->sink_packets; o->sink_bytes = t->sink_bytes; o->sink_decrypt_errors = t->sink_decrypt_errors;
    uint64_t lost = 0;
    for (int i = 0; i < 8; i++) {
        if (!t->sink[i].init) continue;
        int64_t l = (int64_t)track_expected(&t->sink[i]) - (int64_t)t->sink[i].received;
        if (l > 0) lost += (uint64_t)l;
        o->sink_ssrc[i] = t->sink[i].ssrc;
        o->sink_max_seq[i] = t->sink[i].cycles + t->sink[i].max_seq;
        o->sink_received[i] = t->sink[i].received;
    }
    o->sink_lost = lost;
    memcpy(o->latency_hist, t->latency_hist, sizeof(o->latency_hist));
    if (t->bwe && (t->expect_fb || t->got_fb)) {
        o->bwe_bps = bwe_estimate(t->bwe);
        o->bwe_acked_bps = bwe_acked_bps(t->bwe);
        o->bwe_state = bwe_state(t->bwe);
    }
    o->bwe_feedback = t->got_fb;
    o->wanted_bps = t->wanted_bps;
    return 0;
}

int ms_transport_send_rtp(ms_worker_t *w, uint32_t id, const uint8_t *pkt, int len, int abs_ext) {
    ms_transport_t *t = ms_map_get(&w->by_id, id);
    if (!t || t->id != id || !t->srtp_out || len > MTU) return -1;
    uint8_t *o = tx_slot(w);
    memcpy(o, pkt, len);
    if (abs_ext) {
        rtp_hdr_t h;
        int vl;
        uint8_t *v;
        if (rtp_parse(o, len, &h) == 0 && (v = (uint8_t *)rtp_ext(o, &h, abs_ext, &vl)) && vl == 3)
            write_abs_time(v, ms_now_us());
    }
    int n = srtp_protect_rtp(t->srtp_out, o, len, MTU + 64);
    if (n < 0) return -1;
    tx_commit(w, t, n);
    return n;
}

int ms_transport_capture(ms_worker_t *w, uint32_t id, ms_capture_t *out, int max) {
    ms_transport_t *t = ms_map_get(&w->by_id, id);
    if (!t || t->id != id || !t->client_mode) return -1;
    if (!t->cap) { t->cap = calloc(MS_CAPTURE, sizeof(ms_capture_t)); return t->cap ? 0 : -1; }
    int n = 0;
    while (t->cap_tail != t->cap_head && n < max) out[n++] = t->cap[t->cap_tail++ % MS_CAPTURE];
    return n;
}

int ms_transport_send_rtcp(ms_worker_t *w, uint32_t id, const uint8_t *pkt, int len) {
    ms_transport_t *t = ms_map_get(&w->by_id, id);
    if (!t || t->id != id || !t->srtp_out || len > MTU) return -1;
    uint8_t *o = tx_slot(w);
    memcpy(o, pkt, len);
    tx_rtcp_commit(w, t, len);
    return 0;
}

static ms_producer_t *producer_new(ms_worker_t *w, ms_transport_t *t, const ms_producer_params_t *prm,
                                   uint32_t ssrc, uint32_t rtx_ssrc) {
    ms_producer_t *p = calloc(1, sizeof(*p));
    if (!p) return NULL;
    p->cache = calloc(CACHE, sizeof(cache_slot_t));
    if (!p->cache) { free(p); return NULL; }
    p->id = new_id(w);
    p->t = t;
    p->prm = *prm;
    p->prm.ssrc = ssrc;
    p->prm.rtx_ssrc = rtx_ssrc;
    p->head = p;
    p->layer[0] = p;
    p->nlayers = 1;
    if (ssrc) ms_map_put(&w->prod_by_ssrc, ((uint64_t)t->id << 32) | ssrc, p);
    if (rtx_ssrc) ms_map_put(&w->prod_by_ssrc, ((uint64_t)t->id << 32) | rtx_ssrc, p);
    p->next = w->producers; if (w->producers) w->producers->prev = p; w->producers = p;
    w->st.producers++;
    return p;
}

static void producer_destroy(ms_worker_t *w, ms_producer_t *p);

int ms_producer_create(ms_worker_t *w, uint32_t transport_id, const ms_producer_params_t *prm) {
    ms_transport_t *t = ms_map_get(&w->by_id, transport_id);
    if (!t || t->id != transport_id || t->client_mode) return -1;
    int nl = prm->nlayers > 1 ? prm->nlayers : 1;
    if (nl > MS_MAX_LAYERS) return -4;
    uint32_t ssrc[MS_MAX_LAYERS], rtx[MS_MAX_LAYERS];
    for (int i = 0; i < nl; i++) {
        ssrc[i] = nl > 1 ? prm->layer_ssrc[i] : prm->ssrc;
        rtx[i] = nl > 1 ? prm->layer_rtx_ssrc[i] : prm->rtx_ssrc;
        if (nl > 1 && !ssrc[i] && (!prm->rids[i][0] || !prm->ext_rid || !prm->ext_mid)) return -4;
        if (ssrc[i] && ms_map_get(&w->prod_by_ssrc, ((uint64_t)t->id << 32) | ssrc[i])) return -2;
    }
    ms_producer_t *hd = NULL;
    for (int i = 0; i < nl; i++) {
        ms_producer_t *p = producer_new(w, t, prm, ssrc[i], rtx[i]);
        if (!p) { if (hd) producer_destroy(w, hd); return -3; }
        p->layer_idx = i;
        if (nl > 1) memcpy(p->rid, prm->rids[i], sizeof(p->rid) - 1);
        if (!hd) hd = p;
        p->head = hd;
        hd->layer[i] = p;
    }
    hd->nlayers = nl;
    if (prm->ext_twcc) t->twcc_ext = prm->ext_twcc;
    ms_map_put(&w->prod_by_id, hd->id, hd);
    return (int)hd->id;
}

static ms_producer_t *find_producer(ms_worker_t *w, uint32_t id) { return ms_map_get(&w->prod_by_id, id); }

int ms_producer_close(ms_worker_t *w, uint32_t id) {
    ms_producer_t *p = find_producer(w, id);
    if (!p) return -1;
    producer_destroy(w, p);
    return 0;
}

int ms_producer_request_keyframe(ms_worker_t *w, uint32_t id) {
    ms_producer_t *p = find_producer(w, id);
    if (!p) return -1;
    request_keyframe(w, p);
    return 0;
}

int ms_producer_stats(ms_worker_t *w, uint32_t id, ms_stream_stats_t *o) {
    ms_producer_t *p = find_producer(w, id);
    if (!p) return -1;
    memset(o, 0, sizeof(*o));
    o->packets = p->packets; o->bytes = p->bytes; o->nacks = p->nacks_tx; o->plis = p->plis_tx;
    o->keyframes = p->keyframes; o->ssrc = p->prm.ssrc; o->jitter = (uint32_t)p->jitter;
    int64_t lost = (int64_t)track_expected(&p->track) - (int64_t)p->track.received;
    o->lost = lost > 0 ? (uint64_t)lost : 0;
    o->nlayers = p->nlayers;
    o->cur_layer = o->target_layer = -1;
    for (int i = 0; i < p->nlayers; i++) {
        ms_producer_t *l = p->layer[i];
        o->layer_ssrc[i] = l->prm.ssrc;
        o->layer_bps[i] = l->bps;
        o->layer_active[i] = layer_active(w, l);
        o->layer_rank[i] = p->nlayers > 1 ? l->rank : 0;
        o->bps += l->bps;
        if (i) {
            o->packets += l->packets; o->bytes += l->bytes; o->nacks += l->nacks_tx; o->plis += l->plis_tx;
            o->keyframes += l->keyframes;
            int64_t ll = (int64_t)track_expected(&l->track) - (int64_t)l->track.received;
            o->lost += ll > 0 ? (uint64_t)ll : 0;
        }
    }
    return 0;
}

static ms_consumer_t *find_consumer(ms_worker_t *w, uint32_t id) { return ms_map_get(&w->cons_by_id, id); }

int ms_consumer_create(ms_worker_t *w, uint32_t transport_id, uint32_t producer_id, const ms_consumer_params_t *prm) {
    ms_transport_t *t = ms_map_get(&w->by_id, transport_id);
    if (!t || t->id != transport_id || t->client_mode) return -1;
    ms_producer_t *p = find_producer(w, producer_id);
    if (!p) return -2;
    if (!prm->ssrc || ms_map_get(&w->cons_by_ssrc, prm->ssrc)) return -3;
    ms_consumer_t *c = calloc(1, sizeof(*c));
    c->id = new_id(w);
    c->t = t;
    c->p = p;
    c->prm = *prm;
    c->mid_len = (int)strnlen(prm->mid, 16);
    RAND_bytes((uint8_t *)&c->rtx_seq, 2);
    c->forced_layer = MS_LAYER_AUTO;
    c->tl_target = c->tl_cur = MS_LAYER_AUTO;   /* every temporal layer */
    c->tl_pic = -1;
    c->cur_layer = -1;
    c->target_layer = p->nlayers - 1;      /* until the first allocation: the best the budgets allow */
    c->tnext = t->cons; if (t->cons) t->cons->tprev = c; t->cons = c;
    t->next_alloc_us = 0;
    if (!t->bwe && (t->bwe = malloc(sizeof(bwe_t)))) bwe_init(t->bwe, BWE_START_BPS, BWE_MIN_BPS, BWE_MAX_BPS);
    if (!t->cons_since_us) t->cons_since_us = w->now_us;
    if (prm->ext_twcc) t->expect_fb = 1;
    if (p->ncons == p->capcons) {
        p->capcons = p->capcons ? p->capcons * 2 : 8;
        p->cons = realloc(p->cons, p->capcons * sizeof(*p->cons));
    }
    p->cons[p->ncons++] = c;
    ms_map_put(&w->cons_by_id, c->id, c);
    ms_map_put(&w->cons_by_ssrc, prm->ssrc, c);
    c->next = w->consumers; if (w->consumers) w->consumers->prev = c; w->consumers = c;
    w->st.consumers++;
    if (p->prm.kind == 1 && can_send(t)) consumer_keyframe(w, c);   /* else when its transport is ready */
    return (int)c->id;
}

int ms_consumer_close(ms_worker_t *w, uint32_t id) {
    ms_consumer_t *c = find_consumer(w, id);
    if (!c) return -1;
    consumer_destroy(w, c, 0);
    return 0;
}

int ms_consumer_pause(ms_worker_t *w, uint32_t id, int paused) {
    ms_consumer_t *c = find_consumer(w, id);
    if (!c) return -1;
    if (c->paused && !paused) { c->started = 0; consumer_keyframe(w, c); }
    c->paused = paused;
    return 0;
}

int ms_consumer_set_layer(ms_worker_t *w, uint32_t id, int layer) {
    ms_consumer_t *c = find_consumer(w, id);
    if (!c) return -1;
    if (layer != MS_LAYER_AUTO && (layer < -1 || layer >= c->p->nlayers)) return -2;
    c->forced_layer = layer;
    if (layer != MS_LAYER_AUTO && layer != c->target_layer) {
        c->target_layer = layer;
        consumer_keyframe(w, c);
    }
    c->t->next_alloc_us = 0;
    return 0;
}

int ms_consumer_set_temporal(ms_worker_t *w, uint32_t id, int tl) {
    ms_consumer_t *c = find_consumer(w, id);
    if (!c) return -1;
    if (tl != MS_LAYER_AUTO && (tl < 0 || tl > 3)) return -2;
    if (tl == MS_LAYER_AUTO && c->tl_target != MS_LAYER_AUTO) c->tl_target = 3;  /* all, up at a sync frame */
    else c->tl_target = tl;
    if (c->tl_cur == MS_LAYER_AUTO) c->tl_cur = 3;
    return 0;
}

int ms_consumer_set_budget(ms_worker_t *w, uint32_t id, uint32_t max_bps, int priority) {
    ms_consumer_t *c = find_consumer(w, id);
    if (!c) return -1;
    c->max_bps = max_bps;
    c->priority = priority;
    c->t->next_alloc_us = 0;
    return 0;
}

int ms_transport_set_budget(ms_worker_t *w, uint32_t id, uint32_t max_bps) {
    ms_transport_t *t = ms_map_get(&w->by_id, id);
    if (!t || t->id != id) return -1;
    t->budget_bps = max_bps;
    t->next_alloc_us = 0;
    return 0;
}

int ms_consumer_stats(ms_worker_t *w, uint32_t id, ms_stream_stats_t *o) {
    ms_consumer_t *c = find_consumer(w, id);
    if (!c) return -1;
    memset(o, 0, sizeof(*o));
    o->packets = c->packets; o->bytes = c->bytes; o->nacks = c->nacks; o->plis = c->plis; o->rtx = c->rtx;
    o->keyframes = c->keyframes; o->ssrc = c->prm.ssrc; o->fraction_lost = c->fraction_lost;
    o->jitter = c->jitter; o->rtt_us = c->rtt_us;
    o->nlayers = c->p->nlayers;
    o->cur_layer = c->started ? c->cur_layer : -1;
    o->target_layer = c->target_layer;
    o->bps = c->bps;
    o->temporal = c->tl_cur == MS_LAYER_AUTO ? -1 : c->tl_cur;
    o->frames_dropped = c->tl_frames_dropped;
    return 0;
}
