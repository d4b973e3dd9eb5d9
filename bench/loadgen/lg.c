/* bench/loadgen: native WebRTC-lite load generator. See lg.h and README.md. */
#define _GNU_SOURCE
#include "lg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bwe.h"
#include "dtls.h"
#include "rtcp.h"
#include "rtp.h"
#include "srtp.h"
#include "stun.h"
#include "util.h"

#define RXB 64
#define TXB 64
#define BUFSZ 2048
#define HIST 512
#define MISS 256
#define WIN 1024
#define MAX_RX_STREAMS 4096
#define CHECK_TX 8
#define TICK_US 10000ull
#define NACK_DELAY_US 10000ull
#define NACK_RETRY_US 30000ull
#define NACK_TRIES 3
#define RX_CTL 64                  /* per-message control buffer: one SCM_TIMESTAMPNS (32 bytes) */
#define RT_OFF_REFRESH_US 1000000ull
#define KREQ_KEEP 32                 /* keyframe request times kept per source (a window of one second) */

/* ------------------------------------------------------------------------------------------ types */

typedef struct {
    uint32_t ssrc;
    uint8_t pt, init;
    int64_t base_ext, max_ext;
    int64_t expected_acc;          /* expected packets of earlier epochs (before a sequence number jump) */
    uint32_t bad_run;              /* consecutive packets far behind the window */
    uint64_t unique, total;
    uint64_t bits[WIN / 64];
    struct { int64_t ext; uint64_t next_us; uint8_t tries; } miss[MISS];
    int nmiss;
    /* receiver report state */
    int64_t expected_prior;
    uint64_t unique_prior;
    uint32_t sr_mid; uint64_t sr_arrival_us;
    uint64_t last_pli_us;
} rx_stream_t;

typedef struct {
    int64_t offset_us;
    uint32_t ts_delta;
    int keyframe, first, n;        /* payload indexes first .. first + n - 1 */
    int64_t gap_us;                /* time to the next frame */
} clip_frame_t;

typedef struct {
    int clock_rate, nframes, npayloads;
    clip_frame_t *frames;
    uint8_t *data;
    int *off, *len;
    uint32_t wrap_ts;
} clip_t;

struct peer;

typedef struct {
    uint16_t seq; uint8_t marker, valid;
    uint32_t ts, frame; uint16_t pidx;
} hist_t;

typedef struct source {
    int id, running, drop_every;
    struct peer *p;
    clip_t *clip;
    lg_source_t prm;
    uint8_t mid[16], rid[16];
    uint16_t seq, rtx_seq;
    uint32_t ts;
    int frame, pkt, in_frame, first, want_key, clock_set;
    uint64_t next_us, frame_start_us, last_sr_us, start_delay_us;
    uint64_t packets, octets, sent_count;
    /* keyframe requests (PLI/FIR) for this source: how many, the shortest gap between two, the most within
     * any one second (from the last KREQ_KEEP arrival times), and the keyframes begun */
    uint64_t kreqs, kreq_min_gap_us, keyframes;
    uint64_t kreq_at[KREQ_KEEP]; int kreq_max_1s;
    hist_t hist[HIST];
    struct source *next_in_peer;
} source_t;

typedef struct peer {
    struct lg *lg;
    int id, fd, port;
    char ufrag[256], pwd[256], remote_ufrag[256], remote_pwd[256];
    struct sockaddr_storage remote; socklen_t remote_len; int has_remote;
    int connected_cfg, raw;
    /* ICE */
    int ice, controlling, nominated, check_ok;
    struct sockaddr_storage early_from;  /* where a nomination came from before connect() */
    uint64_t tiebreaker, last_check_us, last_resp_us, checking_since_us;
    uint8_t check_txid[CHECK_TX][12]; int check_i;
    /* DTLS / SRTP */
    int dtls_on; dtls_conn_t dtls; int profile;
    srtp_ctx_t *srtp_in, *srtp_out;
    uint8_t hello[256]; int hello_len; int got_first;
    uint64_t last_hello_us;
    /* receive */
    uint8_t rtx_apt[LG_PT_COUNT];
    int twcc_ext;
    twcc_rx_t *twcc;
    uint32_t twcc_media_ssrc;
    uint16_t twcc_seq;
    uint64_t last_twcc_us, last_rr_us;
    rx_stream_t **rx; int nrx, caprx; ms_map_t rx_by_ssrc; rx_stream_t *rx_last;
    ms_map_t rtx_map;                /* rtx ssrc -> media ssrc | 1 << 32 (given, or learnt) */
    uint32_t rtcp_ssrc;
    uint32_t vcount;
    lg_stats_t st;
    source_t *sources;
    struct peer *next;
} peer_t;

struct lg {
    pthread_t thr; int running;
    pthread_mutex_t mu;
    int epfd, evfd;
    char bind_ip[64];
    int verify_every;
    dtls_cert_t cert;
    peer_t **peers; int npeers, cap_peers;
    peer_t *plist;
    clip_t **clips; int nclips;
    source_t **sources; int nsources;
    uint64_t hist[LG_HIST_BUCKETS];     /* latency from the kernel receive timestamp */
    uint64_t app_hist[LG_HIST_BUCKETS]; /* latency from the I/O thread's receive time (now_us) */
    lg_stats_t closed;               /* totals of closed peers */
    uint64_t now_us, last_tick_us;
    uint64_t next_pump_us;           /* earliest deadline of a running source (0: walk them now) */
    double cpu_s;
    /* rx */
    uint8_t rx_buf[RXB][BUFSZ];
    struct mmsghdr rx_msg[RXB]; struct iovec rx_iov[RXB]; struct sockaddr_storage rx_addr[RXB];
    union { struct cmsghdr h; uint8_t b[RX_CTL]; } rx_ctl[RXB];
    uint64_t rx_kts_us;              /* kernel receive time of the datagram being handled (CLOCK_MONOTONIC us), 0: none */
    int64_t rt_off_ns;               /* CLOCK_REALTIME - CLOCK_MONOTONIC, ns */
    uint64_t rt_off_at_us;           /* when rt_off_ns was sampled */
    /* tx */
    uint8_t tx_buf[TXB][BUFSZ];
    struct mmsghdr tx_msg[TXB]; struct iovec tx_iov[TXB]; struct sockaddr_storage tx_addr[TXB];
    int tx_fd[TXB]; int ntx;
};

static double g_bounds[LG_HIST_BUCKETS];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static void init_bounds(void) {
    for (int i = 0; i < LG_HIST_BUCKETS; i++) g_bounds[i] = 10.0 * pow(10.0, i / 10.0);
}
double lg_hist_bound_us(int i) {
    pthread_once(&g_once, init_bounds);
    return (i >= 0 && i < LG_HIST_BUCKETS) ? g_bounds[i] : 0;
}
static int hist_bucket(uint64_t us) {
    double v = (double)us;
    int lo = 0, hi = LG_HIST_BUCKETS - 1;
    if (v > g_bounds[hi]) return hi;
    while (lo < hi) { int mid = (lo + hi) / 2; if (v <= g_bounds[mid]) hi = mid; else lo = mid + 1; }
    return lo;
}

static inline uint64_t rd64(const uint8_t *p) { return ((uint64_t)rd32(p) << 32) | rd32(p + 4); }
static inline void wr64(uint8_t *p, uint64_t v) { wr32(p, (uint32_t)(v >> 32)); wr32(p + 4, (uint32_t)v); }
static socklen_t addr_len(const struct sockaddr_storage *a) {
    return a->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}
static int addr_eq(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
    if (a->ss_family != b->ss_family) return 0;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
}
static int parse_addr(const char *ip, int port, struct sockaddr_storage *ss) {
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *s4 = (void *)ss;
    struct sockaddr_in6 *s6 = (void *)ss;
    if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) { s4->sin_family = AF_INET; s4->sin_port = htons(port); return 0; }
    if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) { s6->sin6_family = AF_INET6; s6->sin6_port = htons(port); return 0; }
    return -1;
}

/* Kernel receive timestamps (SO_TIMESTAMPNS) are CLOCK_REALTIME; the trailer's send time is CLOCK_MONOTONIC.
 * The offset between the two is sampled here (best of three, bracketing the realtime read by two monotonic
 * reads) and refreshed every second by the I/O thread. */
static void rt_offset_refresh(lg_t *lg) {
    int64_t best_w = INT64_MAX, best = 0;
    for (int i = 0; i < 3; i++) {
        struct timespec a, r, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        clock_gettime(CLOCK_REALTIME, &r);
        clock_gettime(CLOCK_MONOTONIC, &b);
        int64_t an = (int64_t)a.tv_sec * 1000000000ll + a.tv_nsec, bn = (int64_t)b.tv_sec * 1000000000ll + b.tv_nsec;
        int64_t rn = (int64_t)r.tv_sec * 1000000000ll + r.tv_nsec;
        if (bn - an < best_w) { best_w = bn - an; best = rn - (an + (bn - an) / 2); }
    }
    lg->rt_off_ns = best;
    lg->rt_off_at_us = ms_now_us();
}

/* The kernel receive time of message i of the last recvmmsg, in CLOCK_MONOTONIC us (0: no timestamp). No
 * syscall: one cmsg header is looked at (SO_TIMESTAMPNS is the only control message enabled). */
static inline uint64_t rx_kernel_time(lg_t *lg, int i) {
    struct msghdr *m = &lg->rx_msg[i].msg_hdr;
    if (m->msg_controllen < CMSG_LEN(sizeof(struct timespec))) return 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS ||
            c->cmsg_len < CMSG_LEN(sizeof(struct timespec))) continue;
        struct timespec ts;
        memcpy(&ts, CMSG_DATA(c), sizeof(ts));
        int64_t mono_ns = (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec - lg->rt_off_ns;
        if (mono_ns <= 0) return 0;
        uint64_t us = (uint64_t)mono_ns / 1000ull;
        return us < lg->now_us ? us : lg->now_us;   /* never later than when we read it (offset jitter) */
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ tx */

static void tx_flush(lg_t *lg) {
    int i = 0;
    while (i < lg->ntx) {
        int j = i;
        while (j < lg->ntx && lg->tx_fd[j] == lg->tx_fd[i]) j++;
        int k = i;
        while (k < j) {
            int r = sendmmsg(lg->tx_fd[i], &lg->tx_msg[k], j - k, MSG_DONTWAIT);
            if (r <= 0) { if (r < 0 && errno == EINTR) continue; k++; continue; } /* drop one on error */
            k += r;
        }
        i = j;
    }
    lg->ntx = 0;
}
static inline uint8_t *tx_slot(lg_t *lg) {
    if (lg->ntx == TXB) tx_flush(lg);
    return lg->tx_buf[lg->ntx];
}
static void tx_commit_to(lg_t *lg, int fd, const struct sockaddr_storage *to, int len) {
    int i = lg->ntx;
    memcpy(&lg->tx_addr[i], to, addr_len(to));
    lg->tx_iov[i].iov_base = lg->tx_buf[i];
    lg->tx_iov[i].iov_len = len;
    memset(&lg->tx_msg[i], 0, sizeof(lg->tx_msg[i]));
    lg->tx_msg[i].msg_hdr.msg_name = &lg->tx_addr[i];
    lg->tx_msg[i].msg_hdr.msg_namelen = addr_len(to);
    lg->tx_msg[i].msg_hdr.msg_iov = &lg->tx_iov[i];
    lg->tx_msg[i].msg_hdr.msg_iovlen = 1;
    lg->tx_fd[i] = fd;
    lg->ntx++;
}
static inline void tx_commit(lg_t *lg, peer_t *p, int len) { tx_commit_to(lg, p->fd, &p->remote, len); }

/* DTLS writes happen under the loadgen lock; opaque is the peer */
static void dtls_send_cb(void *opaque, const uint8_t *buf, int len) {
    peer_t *p = opaque;
    lg_t *lg = p->lg;
    if (!lg || !p->has_remote || len > BUFSZ) return;
    uint8_t *o = tx_slot(lg);
    memcpy(o, buf, len);
    tx_commit(lg, p, len);
}

/* ------------------------------------------------------------------------------------------ STUN */

static void hmac_sha1(const char *key, int keylen, const uint8_t *data, int len, uint8_t out[20]) {
    unsigned int olen = 20;
    HMAC(EVP_sha1(), key, keylen, data, (size_t)len, out, &olen);
}
static int put_attr(uint8_t *o, int off, int cap, uint16_t type, const void *v, int len) {
    int padded = (len + 3) & ~3;
    if (off + 4 + padded > cap) return -1;
    wr16(o + off, type); wr16(o + off + 2, (uint16_t)len);
    if (len) memcpy(o + off + 4, v, len);
    if (padded > len) memset(o + off + 4 + len, 0, padded - len);
    return off + 4 + padded;
}
static int stun_finish(uint8_t *o, int off, int cap, const char *key) {
    if (off + 32 > cap) return -1;
    wr16(o + 2, (uint16_t)(off - 20 + 24));
    uint8_t mac[20];
    hmac_sha1(key, (int)strlen(key), o, off, mac);
    off = put_attr(o, off, cap, 0x0008, mac, 20);
    wr16(o + 2, (uint16_t)(off - 20 + 8));
    uint8_t fp[4];
    wr32(fp, stun_crc32(o, off) ^ 0x5354554eu);
    return put_attr(o, off, cap, 0x8028, fp, 4);
}
static void stun_header(uint8_t *o, uint16_t type, const uint8_t txid[12]) {
    wr16(o, type); wr16(o + 2, 0); wr32(o + 4, STUN_MAGIC); memcpy(o + 8, txid, 12);
}
static int build_check(peer_t *p, uint8_t *o, int cap, const uint8_t txid[12]) {
    stun_header(o, STUN_BINDING_REQUEST, txid);
    char uname[520];
    snprintf(uname, sizeof(uname), "%s:%s", p->remote_ufrag, p->ufrag);
    int off = put_attr(o, 20, cap, 0x0006, uname, (int)strlen(uname));
    uint8_t v[8];
    wr32(v, 0x6e7f1eff);  /* host candidate priority */
    off = put_attr(o, off, cap, 0x0024, v, 4);
    wr64(v, p->tiebreaker);
    off = put_attr(o, off, cap, p->controlling ? 0x802A : 0x8029, v, 8);
    if (p->controlling) off = put_attr(o, off, cap, 0x0025, NULL, 0);
    if (off < 0) return -1;
    return stun_finish(o, off, cap, p->remote_pwd);
}
static int build_487(peer_t *p, uint8_t *o, int cap, const uint8_t txid[12]) {
    stun_header(o, STUN_BINDING_ERROR, txid);
    uint8_t v[24] = {0, 0, 4, 87};
    memcpy(v + 4, "Role Conflict", 13);
    int off = put_attr(o, 20, cap, 0x0009, v, 17);
    if (off < 0) return -1;
    return stun_finish(o, off, cap, p->pwd);
}
/* The tie-breaker of ICE-CONTROLLING / ICE-CONTROLLED, 0 when absent. */
static uint64_t stun_tiebreaker(const uint8_t *b, int len) {
    int mlen = rd16(b + 2), off = 20, end = 20 + mlen;
    if (end > len) return 0;
    while (off + 4 <= end) {
        uint16_t at = rd16(b + off), al = rd16(b + off + 2);
        if (off + 4 + al > end) return 0;
        if ((at == 0x802A || at == 0x8029) && al == 8) return rd64(b + off + 4);
        off += 4 + ((al + 3) & ~3);
    }
    return 0;
}

static void send_check(lg_t *lg, peer_t *p) {
    uint8_t *txid = p->check_txid[p->check_i];
    p->check_i = (p->check_i + 1) % CHECK_TX;
    RAND_bytes(txid, 12);
    uint8_t *o = tx_slot(lg);
    int n = build_check(p, o, BUFSZ, txid);
    if (n > 0) tx_commit(lg, p, n);
    p->last_check_us = lg->now_us;
}

static void maybe_connected(lg_t *lg, peer_t *p) {
    if (p->ice == LG_ICE_CONNECTED) return;
    if (!p->check_ok) return;
    if (!p->controlling && !p->nominated) return;
    p->ice = LG_ICE_CONNECTED;
    if (p->dtls_on && p->dtls.client && p->dtls.state == DTLS_NEW) dtls_start(&p->dtls);
    (void)lg;
}

static void handle_stun(lg_t *lg, peer_t *p, const uint8_t *buf, int len, const struct sockaddr_storage *from) {
    stun_msg_t m;
    if (stun_parse(buf, len, &m) < 0) { p->st.malformed++; return; }
    if (m.type == STUN_BINDING_INDICATION || p->raw) return;
    if (m.type == STUN_BINDING_SUCCESS || m.type == STUN_BINDING_ERROR) {
        if (!p->connected_cfg) return;
        int mine = 0;
        for (int k = 0; k < CHECK_TX; k++) if (!memcmp(p->check_txid[k], m.txid, 12)) mine = 1;
        if (!mine) return;
        if (!m.has_integrity || !stun_check_integrity(buf, len, &m, p->remote_pwd, (int)strlen(p->remote_pwd))) {
            p->st.malformed++;
            return;
        }
        if (m.type == STUN_BINDING_ERROR) {
            if (m.error_code == 487) {  /* RFC 8445 7.2.5.1: switch roles and check again */
                p->controlling = !p->controlling;
                send_check(lg, p);
            }
            return;
        }
        p->last_resp_us = lg->now_us;
        p->check_ok = 1;
        maybe_connected(lg, p);
        return;
    }
    if (m.type != STUN_BINDING_REQUEST) { p->st.malformed++; return; }
    int ul = (int)strlen(p->ufrag);
    if (!m.username || m.username_len <= ul || memcmp(m.username, p->ufrag, ul) || m.username[ul] != ':' ||
        !m.has_integrity || !stun_check_integrity(buf, len, &m, p->pwd, (int)strlen(p->pwd))) {
        p->st.malformed++;
        uint8_t *o = tx_slot(lg);
        int n = stun_build_error(o, BUFSZ, m.txid, 401, "Unauthorized");
        if (n > 0) tx_commit_to(lg, p->fd, from, n);
        return;
    }
    if (!p->connected_cfg) {
        /* checks that arrive before connect(): answer them, and remember a nomination */
        uint8_t *o = tx_slot(lg);
        int n = stun_build_success(o, BUFSZ, m.txid, (const struct sockaddr *)from, p->pwd, (int)strlen(p->pwd));
        if (n > 0) tx_commit_to(lg, p->fd, from, n);
        if (m.use_candidate && m.ice_controlling) {
            p->nominated = 1;
            memcpy(&p->early_from, from, addr_len(from));
        }
        return;
    }
    /* RFC 8445 7.3.1.1 role conflicts */
    uint64_t tb = stun_tiebreaker(buf, len);
    if (p->controlling && m.ice_controlling) {
        if (p->tiebreaker >= tb) {
            uint8_t *o = tx_slot(lg);
            int n = build_487(p, o, BUFSZ, m.txid);
            if (n > 0) tx_commit_to(lg, p->fd, from, n);
            return;
        }
        p->controlling = 0;
    } else if (!p->controlling && m.ice_controlled) {
        if (p->tiebreaker >= tb) p->controlling = 1;
        else {
            uint8_t *o = tx_slot(lg);
            int n = build_487(p, o, BUFSZ, m.txid);
            if (n > 0) tx_commit_to(lg, p->fd, from, n);
            return;
        }
    }
    uint8_t *o = tx_slot(lg);
    int n = stun_build_success(o, BUFSZ, m.txid, (const struct sockaddr *)from, p->pwd, (int)strlen(p->pwd));
    if (n > 0) tx_commit_to(lg, p->fd, from, n);
    if (!p->controlling && m.use_candidate) {
        if (!addr_eq(from, &p->remote)) {  /* peer-reflexive: the nominated pair is where it came from */
            memcpy(&p->remote, from, addr_len(from));
            p->remote_len = addr_len(from);
            p->check_ok = 0;
            send_check(lg, p);
        }
        p->nominated = 1;
        maybe_connected(lg, p);
    } else if (addr_eq(from, &p->remote) && p->ice != LG_ICE_CONNECTED && lg->now_us - p->last_check_us > 5000) {
        send_check(lg, p);  /* triggered check */
    }
}

/* ------------------------------------------------------------------------------------------ DTLS */

/* Retransmission timer: 100 ms first (as browsers do, instead of OpenSSL's 1 s), doubling up to 3 s, so a
 * ClientHello the peer dropped (e.g. sent before it was ready) is repeated quickly. */
static unsigned int dtls_timer_cb(SSL *ssl, unsigned int timer_us) {
    (void)ssl;
    if (timer_us == 0) return 100000;
    return timer_us >= 1500000 ? 3000000 : timer_us * 2;
}

static void handle_dtls(lg_t *lg, peer_t *p, const uint8_t *buf, int len) {
    (void)lg;
    if (!p->dtls_on) return;
    int r = dtls_feed(&p->dtls, buf, len);
    if (r == 1) {
        int prof = p->dtls.srtp_profile;
        uint8_t ck[32], cs[14], sk[32], ss[14];
        srtp_split_keying_material(prof, p->dtls.keying, ck, cs, sk, ss);
        if (p->dtls.client) { p->srtp_out = srtp_ctx_new(prof, ck, cs); p->srtp_in = srtp_ctx_new(prof, sk, ss); }
        else { p->srtp_out = srtp_ctx_new(prof, sk, ss); p->srtp_in = srtp_ctx_new(prof, ck, cs); }
        memset(p->dtls.keying, 0, sizeof(p->dtls.keying));
        p->profile = prof;
    }
}

/* ------------------------------------------------------------------------------------------ receive */

static rx_stream_t *rx_stream(peer_t *p, uint32_t ssrc, int pt, int create) {
    if (p->rx_last && p->rx_last->ssrc == ssrc) return p->rx_last;
    rx_stream_t *s = ms_map_get(&p->rx_by_ssrc, (uint64_t)ssrc | (1ull << 32));
    if (s) { p->rx_last = s; return s; }
    if (!create || p->nrx >= MAX_RX_STREAMS) return NULL;
    if (p->nrx == p->caprx) {
        int nc = p->caprx ? p->caprx * 2 : 8;
        rx_stream_t **n = realloc(p->rx, nc * sizeof(*n));
        if (!n) return NULL;
        p->rx = n; p->caprx = nc;
    }
    s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    s->ssrc = ssrc; s->pt = (uint8_t)pt;
    p->rx[p->nrx++] = s;
    ms_map_put(&p->rx_by_ssrc, (uint64_t)ssrc | (1ull << 32), s);
    p->rx_last = s;
    return s;
}
static inline int bit_get(rx_stream_t *s, int64_t e) { return (s->bits[(e & (WIN - 1)) >> 6] >> (e & 63)) & 1; }
static inline void bit_set(rx_stream_t *s, int64_t e) { s->bits[(e & (WIN - 1)) >> 6] |= 1ull << (e & 63); }
static inline void bit_clr(rx_stream_t *s, int64_t e) { s->bits[(e & (WIN - 1)) >> 6] &= ~(1ull << (e & 63)); }

static int64_t ext_of(rx_stream_t *s, uint16_t seq) { return s->max_ext + seq_diff(seq, (uint16_t)s->max_ext); }

/* Records one arrival; returns 1 when it is new, 0 duplicate or too old. */
static int rx_mark(lg_t *lg, rx_stream_t *s, uint16_t seq) {
    s->total++;
    if (!s->init) {
        s->init = 1; s->base_ext = s->max_ext = seq + 65536; /* room below for reordering */
        memset(s->bits, 0, sizeof(s->bits));
        bit_set(s, s->max_ext); s->unique = 1;
        s->expected_prior = 0; s->unique_prior = 0;
        return 1;
    }
    int64_t e = ext_of(s, seq);
    if (e > s->max_ext) {
        s->bad_run = 0;
        int64_t gap = e - s->max_ext - 1;
        if (gap >= WIN) memset(s->bits, 0, sizeof(s->bits));
        else for (int64_t k = s->max_ext + 1; k < e; k++) bit_clr(s, k);
        int64_t from = e - (gap > MISS ? MISS : gap);
        for (int64_t k = from; k < e; k++) {
            if (s->nmiss == MISS) { memmove(s->miss, s->miss + 1, (MISS - 1) * sizeof(s->miss[0])); s->nmiss--; }
            s->miss[s->nmiss].ext = k; s->miss[s->nmiss].tries = 0;
            s->miss[s->nmiss].next_us = lg->now_us + NACK_DELAY_US;
            s->nmiss++;
        }
        bit_clr(s, e); bit_set(s, e);
        s->max_ext = e; s->unique++;
        return 1;
    }
    if (e <= s->max_ext - WIN) {
        /* far behind: a sender that jumped its sequence numbers (restart). After a run of them, start over. */
        if (++s->bad_run < 64) return 0;
        s->expected_acc += s->max_ext - s->base_ext + 1;
        s->base_ext = s->max_ext = seq + 65536;
        s->expected_prior = s->expected_acc;
        memset(s->bits, 0, sizeof(s->bits));
        s->nmiss = 0;
        bit_set(s, s->max_ext); s->unique++; s->bad_run = 0;
        return 1;
    }
    s->bad_run = 0;
    if (e < s->base_ext) {
        if (s->base_ext - e > 64) return 0;
        for (int64_t k = e + 1; k < s->base_ext; k++) bit_clr(s, k);
        s->base_ext = e;
        bit_set(s, e); s->unique++;
        return 1;
    }
    if (bit_get(s, e)) return 0;
    bit_set(s, e); s->unique++;
    return 1;
}

static inline int64_t rx_expected(const rx_stream_t *s) { return s->expected_acc + s->max_ext - s->base_ext + 1; }
static inline int64_t rx_lost(const rx_stream_t *s) {
    if (!s->init) return 0;
    int64_t l = rx_expected(s) - (int64_t)s->unique;
    return l > 0 ? l : 0;
}

/* Minimal header read for packets that are not decrypted: seq, ssrc, pt and an extension value. */
typedef struct { int ok; uint8_t pt; uint16_t seq; uint32_t ssrc; int hlen; } qhdr_t;
static int qparse(const uint8_t *b, int len, qhdr_t *h, int want_ext, uint16_t *extval) {
    if (len < 12 || (b[0] >> 6) != 2) return -1;
    h->pt = b[1] & 0x7f; h->seq = rd16(b + 2); h->ssrc = rd32(b + 8);
    int off = 12 + 4 * (b[0] & 0x0f);
    if (off > len) return -1;
    int found = 0;
    if (b[0] & 0x10) {
        if (off + 4 > len) return -1;
        int profile = rd16(b + off), words = rd16(b + off + 2);
        int p = off + 4, end = p + 4 * words;
        if (end > len) return -1;
        if (want_ext && profile == 0xBEDE) {
            while (p < end) {
                uint8_t idl = b[p];
                if (idl == 0) { p++; continue; }
                int id = idl >> 4, l = (idl & 15) + 1;
                if (id == 15 || p + 1 + l > end) break;
                if (id == want_ext && l == 2) { *extval = rd16(b + p + 1); found = 1; }
                p += 1 + l;
            }
        } else if (want_ext && (profile & 0xfff0) == 0x1000) {
            while (p < end) {
                if (b[p] == 0) { p++; continue; }
                if (p + 2 > end) break;
                int id = b[p], l = b[p + 1];
                if (p + 2 + l > end) break;
                if (id == want_ext && l == 2) { *extval = rd16(b + p + 2); found = 1; }
                p += 2 + l;
            }
        }
        off = end;
    }
    h->hlen = off;
    return found;
}

static uint32_t rtx_media(peer_t *p, uint32_t rtx_ssrc, uint8_t apt, uint16_t osn) {
    void *v = ms_map_get(&p->rtx_map, (uint64_t)rtx_ssrc | (1ull << 32));
    if (v) return (uint32_t)(uintptr_t)v;
    /* learn: the media stream of that payload type that misses this sequence number */
    for (int i = 0; i < p->nrx; i++) {
        rx_stream_t *s = p->rx[i];
        if (s->pt != apt || !s->init) continue;
        int64_t e = ext_of(s, osn);
        if (e <= s->max_ext && e > s->max_ext - WIN && !bit_get(s, e)) {
            ms_map_put(&p->rtx_map, (uint64_t)rtx_ssrc | (1ull << 32), (void *)(uintptr_t)((uint64_t)s->ssrc | (1ull << 32)));
            return s->ssrc;
        }
    }
    return 0;
}

static void handle_rtp(lg_t *lg, peer_t *p, uint8_t *buf, int len) {
    if (!p->srtp_in) return;
    qhdr_t h;
    uint16_t tseq = 0;
    int f = qparse(buf, len, &h, p->twcc_ext, &tseq);
    if (f < 0) { p->st.malformed++; return; }
    int is_rtx = p->rtx_apt[h.pt] != 0xff, n = 0, decrypted = 0;
    rx_stream_t *s = NULL;
    if (is_rtx || !(s = rx_stream(p, h.ssrc, h.pt, 0))) {
        /* RTX is always decrypted (for its OSN); a new SSRC is tracked once one of its packets authenticates */
        n = srtp_unprotect_rtp(p->srtp_in, buf, len);
        if (n < 0) { p->st.decrypt_errors++; return; }
        decrypted = 1;
    }
    uint64_t rx_us = lg->rx_kts_us ? lg->rx_kts_us : lg->now_us;   /* when it reached our socket */
    if (f > 0 && p->twcc) twcc_rx_on_packet(p->twcc, tseq, rx_us);
    p->st.rx_packets++;
    p->st.rx_bytes += len;
    if (is_rtx) {
        rtp_hdr_t h2;
        if (rtp_parse(buf, n, &h2) < 0) { p->st.malformed++; return; }
        if (h2.payload_len <= 2) return;   /* a padding-only probe */
        uint16_t osn = rd16(buf + h2.header_len);
        uint8_t apt = p->rtx_apt[h.pt];
        p->st.rx_rtx++;
        uint32_t media = rtx_media(p, h.ssrc, apt, osn);
        if (!media) return;
        rx_stream_t *m = rx_stream(p, media, apt, 0);
        if (m) rx_mark(lg, m, osn);
        if (f > 0) p->twcc_media_ssrc = media;
        return;
    }
    if (!s && !(s = rx_stream(p, h.ssrc, h.pt, 1))) return;
    if (f > 0) p->twcc_media_ssrc = h.ssrc;
    int64_t before_max = s->max_ext;
    int isnew = rx_mark(lg, s, h.seq);
    if (isnew && s->unique > 1 && s->max_ext == before_max) {
        /* a gap filled on the same SSRC: not verified (it may be older than the SRTP replay window) */
        p->st.rx_rtx++;
        return;
    }
    if (!isnew) return;                 /* a duplicate: SRTP would call it a replay */
    if (!decrypted) {
        if (p->vcount++ % (uint32_t)lg->verify_every) return;
        n = srtp_unprotect_rtp(p->srtp_in, buf, len);
        if (n < 0) { p->st.decrypt_errors++; return; }
    }
    rtp_hdr_t rh;
    if (rtp_parse(buf, n, &rh) < 0) { p->st.malformed++; return; }
    int end = rh.header_len + rh.payload_len;
    if (rh.payload_len >= 16 && !memcmp(buf + end - 16, "LGTS", 4)) {
        uint64_t sent = rd64(buf + end - 8);
        lg->hist[hist_bucket(rx_us > sent ? rx_us - sent : 0)]++;
        lg->app_hist[hist_bucket(lg->now_us > sent ? lg->now_us - sent : 0)]++;
    }
}

static source_t *source_by_ssrc(peer_t *p, uint32_t ssrc) {
    for (source_t *s = p->sources; s; s = s->next_in_peer) if (s->prm.ssrc == ssrc) return s;
    return NULL;
}
static void retransmit(lg_t *lg, source_t *s, uint16_t seq);

static void note_kreq(source_t *s, uint64_t now) {
    if (s->kreqs) {
        uint64_t gap = now - s->kreq_at[(s->kreqs - 1) % KREQ_KEEP];
        if (s->kreqs == 1 || gap < s->kreq_min_gap_us) s->kreq_min_gap_us = gap;
    }
    int in_1s = 1;
    for (uint64_t k = s->kreqs > KREQ_KEEP ? s->kreqs - KREQ_KEEP : 0; k < s->kreqs; k++)
        if (now - s->kreq_at[k % KREQ_KEEP] < 1000000ull) in_1s++;
    if (in_1s > s->kreq_max_1s) s->kreq_max_1s = in_1s;
    s->kreq_at[s->kreqs % KREQ_KEEP] = now;
    s->kreqs++;
}

static void handle_rtcp(lg_t *lg, peer_t *p, uint8_t *buf, int len) {
    if (!p->srtp_in) return;
    int n = srtp_unprotect_rtcp(p->srtp_in, buf, len);
    if (n < 0) { p->st.decrypt_errors++; return; }
    int off = 0, pl;
    while (off < n) {
        if (rtcp_next(buf, n, off, &pl) < 0) { p->st.malformed++; break; }
        const uint8_t *q = buf + off;
        int type = q[1], fmt = q[0] & 31;
        if (type == RTCP_RTPFB && fmt == 1 && pl >= 16) {
            p->st.nacks_rx++;
            source_t *s = source_by_ssrc(p, rd32(q + 8));
            if (s) for (int k = 12; k + 4 <= pl; k += 4) {
                uint16_t pid = rd16(q + k), blp = rd16(q + k + 2);
                retransmit(lg, s, pid);
                for (int b = 0; b < 16; b++) if (blp & (1u << b)) retransmit(lg, s, (uint16_t)(pid + b + 1));
            }
        } else if (type == RTCP_PSFB && (fmt == 1 || fmt == 4) && pl >= 12) {
            uint32_t media = fmt == 1 ? rd32(q + 8) : (pl >= 20 ? rd32(q + 12) : 0);
            p->st.plis_rx++;
            source_t *s = source_by_ssrc(p, media);
            if (!s && p->sources && !p->sources->next_in_peer) s = p->sources;
            if (s) { s->want_key = 1; note_kreq(s, lg->rx_kts_us ? lg->rx_kts_us : lg->now_us); }   /* next frame */
        } else if (type == RTCP_SR && pl >= 28) {
            rx_stream_t *r = rx_stream(p, rd32(q + 4), 0, 0);
            if (r) { r->sr_mid = (uint32_t)(rd64(q + 8) >> 16); r->sr_arrival_us = lg->rx_kts_us ? lg->rx_kts_us : lg->now_us; }
        }
        off += pl;
    }
}

static void on_datagram(lg_t *lg, peer_t *p, uint8_t *buf, int len, const struct sockaddr_storage *from) {
    if (len <= 0) { p->st.malformed++; return; }
    if (p->raw && !p->got_first) p->got_first = 1;
    uint8_t b0 = buf[0];
    if (b0 < 4) { if (stun_is_stun(buf, len)) handle_stun(lg, p, buf, len, from); else p->st.malformed++; return; }
    if (b0 >= 20 && b0 <= 63) { if (dtls_is_dtls(buf, len)) handle_dtls(lg, p, buf, len); else p->st.malformed++; return; }
    if (b0 >= 128 && b0 <= 191 && len >= 12) {
        if (rtp_is_rtcp(buf, len)) handle_rtcp(lg, p, buf, len); else handle_rtp(lg, p, buf, len);
        return;
    }
    p->st.malformed++;
}

/* ------------------------------------------------------------------------------------------ send */

static void send_rtcp(lg_t *lg, peer_t *p, uint8_t *o, int n) {
    if (!p->srtp_out || !p->has_remote) return;
    int m = srtp_protect_rtcp(p->srtp_out, o, n, BUFSZ);
    if (m > 0) tx_commit(lg, p, m);
}

/* Builds the plain packet of payload pidx (frame fi) of a source; returns its length. */
static int build_packet(lg_t *lg, source_t *s, uint8_t *o, uint32_t ssrc, uint8_t pt, uint16_t seq, uint32_t ts,
                        int marker, int pidx, int rtx_osn) {
    peer_t *p = s->p;
    clip_t *c = s->clip;
    o[0] = 0x80; o[1] = (uint8_t)((marker ? 0x80 : 0) | pt);
    wr16(o + 2, seq); wr32(o + 4, ts); wr32(o + 8, ssrc);
    int off = 12;
    int have_ext = s->prm.mid_ext || (s->prm.rid_ext && rtx_osn < 0) || (s->prm.rrid_ext && rtx_osn >= 0) ||
                   s->prm.abs_ext || p->twcc_ext;
    if (have_ext) {
        o[0] |= 0x10;
        int start = off;
        wr16(o + off, 0xBEDE);
        off += 4;
        if (s->prm.mid_ext && s->prm.mid_len) {
            o[off++] = (uint8_t)((s->prm.mid_ext << 4) | (s->prm.mid_len - 1));
            memcpy(o + off, s->mid, s->prm.mid_len); off += s->prm.mid_len;
        }
        if (s->prm.rid_ext && s->prm.rid_len && rtx_osn < 0) {
            o[off++] = (uint8_t)((s->prm.rid_ext << 4) | (s->prm.rid_len - 1));
            memcpy(o + off, s->rid, s->prm.rid_len); off += s->prm.rid_len;
        }
        if (s->prm.rrid_ext && s->prm.rid_len && rtx_osn >= 0) {  /* RTX: the rid it repairs */
            o[off++] = (uint8_t)((s->prm.rrid_ext << 4) | (s->prm.rid_len - 1));
            memcpy(o + off, s->rid, s->prm.rid_len); off += s->prm.rid_len;
        }
        if (s->prm.abs_ext) {
            o[off++] = (uint8_t)((s->prm.abs_ext << 4) | 2);
            wr24(o + off, (uint32_t)(((lg->now_us << 18) / 1000000ull) & 0xffffff)); off += 3;
        }
        if (p->twcc_ext) {
            o[off++] = (uint8_t)((p->twcc_ext << 4) | 1);
            wr16(o + off, p->twcc_seq++); off += 2;
        }
        while ((off - start) & 3) o[off++] = 0;
        wr16(o + start + 2, (uint16_t)((off - start - 4) / 4));
    }
    if (rtx_osn >= 0) { wr16(o + off, (uint16_t)rtx_osn); off += 2; }
    int plen = c->len[pidx];
    memcpy(o + off, c->data + c->off[pidx], plen);
    off += plen;
    memcpy(o + off, "LGTS", 4);
    wr32(o + off + 4, s->prm.stream_id);
    off += 16;  /* send time stamped just before encryption */
    return off;
}

static void send_built(lg_t *lg, source_t *s, uint8_t *o, int n, int count_media) {
    peer_t *p = s->p;
    /* the send time, as late as the trailer can be written (it is encrypted); the I/O loop flushes each
     * source's packets right after pumping it, so only the encryption of the packets queued after this one
     * in the same frame separates it from sendmmsg */
    wr64(o + n - 8, ms_now_us());
    int m = srtp_protect_rtp(p->srtp_out, o, n, BUFSZ);
    if (m <= 0) return;
    if (count_media) { s->packets++; s->octets += n - 12; }
    if (s->drop_every && count_media && (++s->sent_count % (uint64_t)s->drop_every) == 0) return;  /* test drop */
    p->st.tx_packets++;
    p->st.tx_bytes += m;
    tx_commit(lg, p, m);
}

static void retransmit(lg_t *lg, source_t *s, uint16_t seq) {
    hist_t *h = &s->hist[seq % HIST];
    if (!h->valid || h->seq != seq || !s->p->srtp_out) return;
    uint8_t *o = tx_slot(lg);
    int n;
    if (s->prm.rtx_ssrc)
        n = build_packet(lg, s, o, s->prm.rtx_ssrc, (uint8_t)s->prm.rtx_pt, s->rtx_seq++, h->ts, h->marker, h->pidx, seq);
    else
        n = build_packet(lg, s, o, s->prm.ssrc, (uint8_t)s->prm.pt, seq, h->ts, h->marker, h->pidx, -1);
    s->p->st.retransmits++;
    send_built(lg, s, o, n, 0);
}

static void send_one(lg_t *lg, source_t *s, int pidx, int marker) {
    uint8_t *o = tx_slot(lg);
    uint16_t seq = s->seq++;
    int n = build_packet(lg, s, o, s->prm.ssrc, (uint8_t)s->prm.pt, seq, s->ts, marker, pidx, -1);
    hist_t *h = &s->hist[seq % HIST];
    h->seq = seq; h->ts = s->ts; h->marker = (uint8_t)marker; h->valid = 1; h->frame = s->frame; h->pidx = (uint16_t)pidx;
    send_built(lg, s, o, n, 1);
}

static void pump_source(lg_t *lg, source_t *s) {
    peer_t *p = s->p;
    if (!s->running || !p || !p->srtp_out || !p->has_remote || p->ice == LG_ICE_FAILED) return;
    clip_t *c = s->clip;
    uint64_t now = lg->now_us;
    if (!s->clock_set) {
        s->clock_set = 1; s->next_us = now + s->start_delay_us; s->first = 1; s->in_frame = 0; s->frame = 0;
    }
    if (now > s->next_us + 1000000) s->next_us = now;   /* far behind (stalled): resync */
    int guard = 0;
    while (now >= s->next_us && guard++ < 10000) {
        if (!s->in_frame) {
            if (!s->first) {
                s->frame++;
                if (s->frame >= c->nframes) s->frame = 0;
            }
            if (s->want_key) {
                s->want_key = 0;
                s->keyframes++;
                for (int k = 0; k < c->nframes; k++) {
                    int fi = (s->frame + k) % c->nframes;
                    if (c->frames[fi].keyframe) { s->frame = fi; break; }
                }
            }
            if (!s->first) s->ts += c->frames[s->frame].ts_delta ? c->frames[s->frame].ts_delta : c->wrap_ts;
            s->first = 0;
            s->in_frame = 1; s->pkt = 0; s->frame_start_us = s->next_us;
        }
        clip_frame_t *fr = &c->frames[s->frame];
        if (!s->prm.pace_kbps) {
            for (int k = 0; k < fr->n; k++) send_one(lg, s, fr->first + k, k == fr->n - 1);
            s->pkt = fr->n;
        } else if (s->pkt < fr->n) {
            int pidx = fr->first + s->pkt;
            send_one(lg, s, pidx, s->pkt == fr->n - 1);
            s->pkt++;
            s->next_us += (uint64_t)(c->len[pidx] + 60) * 8000ull / s->prm.pace_kbps;
        }
        if (s->pkt >= fr->n) {
            s->in_frame = 0;
            uint64_t nxt = s->frame_start_us + (uint64_t)fr->gap_us;
            s->next_us = nxt > s->next_us ? nxt : s->next_us;
        }
    }
}

/* ------------------------------------------------------------------------------------------ timers */

static void peer_tick(lg_t *lg, peer_t *p) {
    uint64_t now = lg->now_us;
    if (!p->connected_cfg) return;
    if (p->raw) {
        if (!p->got_first && p->hello_len && now - p->last_hello_us >= 200000) {
            uint8_t *o = tx_slot(lg);
            memcpy(o, p->hello, p->hello_len);
            tx_commit(lg, p, p->hello_len);
            p->last_hello_us = now;
        }
    } else {
        if (p->ice == LG_ICE_CHECKING) {
            if (now - p->last_check_us >= 50000) send_check(lg, p);
            if (now - p->checking_since_us > 30000000ull) p->ice = LG_ICE_FAILED;
        } else if (p->ice == LG_ICE_CONNECTED) {
            if (now - p->last_check_us >= 2500000) send_check(lg, p);
            /* RFC 7675: consent expires 30 s after the last answer; then no more media */
            if (p->last_resp_us && now - p->last_resp_us > 30000000ull) p->ice = LG_ICE_FAILED;
        }
        if (p->dtls_on && (p->dtls.state == DTLS_CONNECTING ||
                           (p->dtls.state == DTLS_NEW && p->dtls.client && p->ice == LG_ICE_CONNECTED))) {
            if (p->dtls.state == DTLS_NEW) dtls_start(&p->dtls);
            dtls_timer(&p->dtls);
        }
    }
    if (!p->srtp_out) return;
    uint8_t *o;
    /* NACKs */
    for (int i = 0; i < p->nrx; i++) {
        rx_stream_t *s = p->rx[i];
        if (!s->nmiss) continue;
        uint16_t seqs[MISS];
        int ns = 0, w = 0, expired = 0;
        for (int k = 0; k < s->nmiss; k++) {
            int64_t e = s->miss[k].ext;
            if (e <= s->max_ext - WIN || bit_get(s, e) || e < s->base_ext) continue;  /* repaired or out of window */
            if (now >= s->miss[k].next_us) {
                if (s->miss[k].tries >= NACK_TRIES) { expired = 1; continue; }
                seqs[ns++] = (uint16_t)e;
                s->miss[k].tries++;
                s->miss[k].next_us = now + NACK_RETRY_US;
            }
            s->miss[w++] = s->miss[k];
        }
        s->nmiss = w;
        if (ns) {
            o = tx_slot(lg);
            int n = rtcp_build_nack(o, 1200, p->rtcp_ssrc, s->ssrc, seqs, ns);
            if (n > 0) { p->st.nacks_tx++; send_rtcp(lg, p, o, n); }
        }
        if (expired && now - s->last_pli_us >= 1000000) {
            s->last_pli_us = now;
            o = tx_slot(lg);
            int n = rtcp_build_pli(o, p->rtcp_ssrc, s->ssrc);
            p->st.plis_tx++;
            send_rtcp(lg, p, o, n);
        }
    }
    /* transport-cc feedback */
    if (p->twcc && now - p->last_twcc_us >= 50000) {
        p->last_twcc_us = now;
        for (int k = 0; k < 8; k++) {
            o = tx_slot(lg);
            int n = twcc_rx_build(p->twcc, o, 1200, p->rtcp_ssrc, p->twcc_media_ssrc);
            if (n <= 0) break;
            p->st.twcc_fb_tx++;
            send_rtcp(lg, p, o, n);
        }
    }
    /* sender reports */
    for (source_t *s = p->sources; s; s = s->next_in_peer) {
        if (!s->packets || now - s->last_sr_us < 1000000) continue;
        s->last_sr_us = now;
        o = tx_slot(lg);
        int n = rtcp_build_sr(o, s->prm.ssrc, rtcp_ntp_now(), s->ts, (uint32_t)s->packets, (uint32_t)s->octets);
        send_rtcp(lg, p, o, n);
    }
    /* receiver report */
    if (p->nrx && now - p->last_rr_us >= 1000000) {
        p->last_rr_us = now;
        rtcp_report_t b[31];
      for (int i0 = 0; i0 < p->nrx; i0 += 31) {
        int nb = 0;
        for (int i = i0; i < p->nrx && i < i0 + 31; i++) {
            rx_stream_t *s = p->rx[i];
            if (!s->init) continue;
            int64_t expected = rx_expected(s);
            int64_t exp_int = expected - s->expected_prior;
            int64_t rec_int = (int64_t)(s->unique - s->unique_prior);
            s->expected_prior = expected; s->unique_prior = s->unique;
            int64_t lost_int = exp_int - rec_int;
            memset(&b[nb], 0, sizeof(b[nb]));
            b[nb].ssrc = s->ssrc;
            b[nb].fraction_lost = (exp_int > 0 && lost_int > 0) ? (uint8_t)((lost_int << 8) / exp_int) : 0;
            b[nb].cumulative_lost = (int32_t)rx_lost(s);
            b[nb].highest_seq = (uint32_t)(s->max_ext - 65536);
            if (s->sr_arrival_us) {
                b[nb].lsr = s->sr_mid;
                b[nb].dlsr = (uint32_t)(((now - s->sr_arrival_us) * 65536ull) / 1000000ull);
            }
            nb++;
        }
        o = tx_slot(lg);
        int n = rtcp_build_rr(o, 1200, p->rtcp_ssrc, b, nb);
        if (n > 0) { p->st.rr_tx++; send_rtcp(lg, p, o, n); }
      }
    }
}

/* ------------------------------------------------------------------------------------------ loop */

static void recv_peer(lg_t *lg, peer_t *p) {
    for (int round = 0; round < 8; round++) {
        for (int i = 0; i < RXB; i++) {
            lg->rx_iov[i].iov_base = lg->rx_buf[i];
            lg->rx_iov[i].iov_len = BUFSZ;
            memset(&lg->rx_msg[i].msg_hdr, 0, sizeof(struct msghdr));
            lg->rx_msg[i].msg_hdr.msg_name = &lg->rx_addr[i];
            lg->rx_msg[i].msg_hdr.msg_namelen = sizeof(lg->rx_addr[i]);
            lg->rx_msg[i].msg_hdr.msg_iov = &lg->rx_iov[i];
            lg->rx_msg[i].msg_hdr.msg_iovlen = 1;
            lg->rx_msg[i].msg_hdr.msg_control = lg->rx_ctl[i].b;
            lg->rx_msg[i].msg_hdr.msg_controllen = RX_CTL;
        }
        int n = recvmmsg(p->fd, lg->rx_msg, RXB, MSG_DONTWAIT, NULL);
        if (n <= 0) return;
        lg->now_us = ms_now_us();
        for (int i = 0; i < n; i++) {
            if (lg->rx_msg[i].msg_hdr.msg_flags & MSG_TRUNC) { p->st.malformed++; continue; }
            lg->rx_kts_us = rx_kernel_time(lg, i);
            if (lg->rx_kts_us) p->st.rx_kernel_ts++;
            on_datagram(lg, p, lg->rx_buf[i], (int)lg->rx_msg[i].msg_len, &lg->rx_addr[i]);
        }
        lg->rx_kts_us = 0;
        if (n < RXB) return;
    }
}

static void *io_main(void *arg) {
    lg_t *lg = arg;
    struct epoll_event evs[64];
    int timeout = 10;
    while (1) {
        int n = epoll_wait(lg->epfd, evs, 64, timeout);
        pthread_mutex_lock(&lg->mu);
        if (!lg->running) { pthread_mutex_unlock(&lg->mu); break; }
        lg->now_us = ms_now_us();
        for (int i = 0; i < n; i++) {
            uint64_t tag = evs[i].data.u64;
            if (tag == 0) { uint64_t v; if (read(lg->evfd, &v, 8) < 0) {} continue; }
            int id = (int)(tag - 1);
            if (id >= 0 && id < lg->npeers && lg->peers[id]) recv_peer(lg, lg->peers[id]);
        }
        lg->now_us = ms_now_us();
        if (lg->now_us - lg->rt_off_at_us >= RT_OFF_REFRESH_US) rt_offset_refresh(lg);
        int any_running = 0;
        if (lg->now_us >= lg->next_pump_us) {
            uint64_t next = UINT64_MAX;
            for (int i = 0; i < lg->nsources; i++) {
                source_t *s = lg->sources[i];
                if (!s || !s->running) continue;
                any_running = 1;
                pump_source(lg, s);
                /* send this source's packets now: their trailers were stamped just before encryption, so
                 * they must not wait for the other sources' packets or the peer timers in the batch */
                if (lg->ntx) tx_flush(lg);
                /* a source waiting for its peer's keys is looked at again on the next 1 ms round */
                uint64_t due = s->clock_set ? s->next_us : lg->now_us + 1000;
                if (due < next) next = due;
            }
            lg->next_pump_us = any_running ? next : UINT64_MAX;
        } else {
            any_running = lg->next_pump_us != UINT64_MAX;
        }
        if (lg->now_us - lg->last_tick_us >= TICK_US) {
            lg->last_tick_us = lg->now_us;
            for (peer_t *p = lg->plist; p; p = p->next) peer_tick(lg, p);
        }
        tx_flush(lg);
        struct timespec ts;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        lg->cpu_s = ts.tv_sec + ts.tv_nsec / 1e9;
        timeout = any_running ? 1 : 10;
        pthread_mutex_unlock(&lg->mu);
    }
    return NULL;
}

static void wake(lg_t *lg) { uint64_t one = 1; if (write(lg->evfd, &one, 8) < 0) {} }

/* ------------------------------------------------------------------------------------------ API */

lg_t *lg_new(const char *bind_ip, int verify_every, char *err, int errlen) {
    pthread_once(&g_once, init_bounds);
    lg_t *lg = calloc(1, sizeof(*lg));
    if (!lg) { snprintf(err, errlen, "out of memory"); return NULL; }
    snprintf(lg->bind_ip, sizeof(lg->bind_ip), "%s", bind_ip);
    lg->verify_every = verify_every < 1 ? 1 : verify_every;
    if (dtls_cert_init(&lg->cert) < 0) { snprintf(err, errlen, "certificate generation failed"); free(lg); return NULL; }
    pthread_mutex_init(&lg->mu, NULL);
    lg->epfd = epoll_create1(EPOLL_CLOEXEC);
    lg->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
    epoll_ctl(lg->epfd, EPOLL_CTL_ADD, lg->evfd, &ev);
    rt_offset_refresh(lg);
    lg->running = 1;
    if (pthread_create(&lg->thr, NULL, io_main, lg) != 0) {
        snprintf(err, errlen, "pthread_create failed");
        close(lg->epfd); close(lg->evfd); dtls_cert_free(&lg->cert); free(lg);
        return NULL;
    }
    return lg;
}

static void peer_free(lg_t *lg, peer_t *p) {
    for (int i = 0; i < lg->nsources; i++) {
        source_t *s = lg->sources[i];
        if (s && s->p == p) { free(s); lg->sources[i] = NULL; }
    }
    if (p->fd >= 0) { epoll_ctl(lg->epfd, EPOLL_CTL_DEL, p->fd, NULL); close(p->fd); }
    if (p->dtls_on) dtls_conn_free(&p->dtls);
    if (p->srtp_in) srtp_ctx_free(p->srtp_in);
    if (p->srtp_out) srtp_ctx_free(p->srtp_out);
    for (int i = 0; i < p->nrx; i++) free(p->rx[i]);
    free(p->rx);
    ms_map_free(&p->rx_by_ssrc);
    ms_map_free(&p->rtx_map);
    free(p->twcc);
    free(p);
}

void lg_free(lg_t *lg) {
    if (!lg) return;
    pthread_mutex_lock(&lg->mu);
    lg->running = 0;
    pthread_mutex_unlock(&lg->mu);
    wake(lg);
    pthread_join(lg->thr, NULL);
    for (int i = 0; i < lg->npeers; i++) if (lg->peers[i]) peer_free(lg, lg->peers[i]);
    for (int i = 0; i < lg->nclips; i++) {
        clip_t *c = lg->clips[i];
        free(c->frames); free(c->data); free(c->off); free(c->len); free(c);
    }
    free(lg->clips); free(lg->sources); free(lg->peers);
    close(lg->epfd); close(lg->evfd);
    dtls_cert_free(&lg->cert);
    pthread_mutex_destroy(&lg->mu);
    free(lg);
}

const char *lg_fingerprint(lg_t *lg) { return lg->cert.fingerprint; }

static peer_t *get_peer(lg_t *lg, int id) { return (id >= 0 && id < lg->npeers) ? lg->peers[id] : NULL; }

int lg_open_peer(lg_t *lg, const char *ufrag, const char *pwd, char *err, int errlen) {
    struct sockaddr_storage ss;
    if (parse_addr(lg->bind_ip, 0, &ss) < 0) { snprintf(err, errlen, "bad bind address"); return -1; }
    int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { snprintf(err, errlen, "socket: %s", strerror(errno)); return -1; }
    int one = 1;   /* kernel receive timestamps: latency excludes the time datagrams wait in our queue */
    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
    int sz = 4 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    if (bind(fd, (struct sockaddr *)&ss, addr_len(&ss)) < 0) {
        snprintf(err, errlen, "bind: %s", strerror(errno)); close(fd); return -1;
    }
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    peer_t *p = calloc(1, sizeof(*p));
    if (!p) { close(fd); snprintf(err, errlen, "out of memory"); return -1; }
    p->fd = fd;
    p->lg = lg;
    p->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port : ((struct sockaddr_in6 *)&ss)->sin6_port);
    snprintf(p->ufrag, sizeof(p->ufrag), "%s", ufrag);
    snprintf(p->pwd, sizeof(p->pwd), "%s", pwd);
    memset(p->rtx_apt, 0xff, sizeof(p->rtx_apt));
    ms_map_init(&p->rx_by_ssrc);
    ms_map_init(&p->rtx_map);
    RAND_bytes((uint8_t *)&p->rtcp_ssrc, 4);
    RAND_bytes((uint8_t *)&p->tiebreaker, 8);
    pthread_mutex_lock(&lg->mu);
    if (lg->npeers == lg->cap_peers) {
        int nc = lg->cap_peers ? lg->cap_peers * 2 : 64;
        peer_t **np = realloc(lg->peers, nc * sizeof(*np));
        if (!np) { pthread_mutex_unlock(&lg->mu); close(fd); free(p); snprintf(err, errlen, "out of memory"); return -1; }
        lg->peers = np; lg->cap_peers = nc;
    }
    p->id = lg->npeers++;
    lg->peers[p->id] = p;
    p->next = lg->plist; lg->plist = p;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)p->id + 1};
    epoll_ctl(lg->epfd, EPOLL_CTL_ADD, fd, &ev);
    pthread_mutex_unlock(&lg->mu);
    return p->id;
}

int lg_port(lg_t *lg, int id) {
    pthread_mutex_lock(&lg->mu);
    peer_t *p = get_peer(lg, id);
    int r = p ? p->port : -1;
    pthread_mutex_unlock(&lg->mu);
    return r;
}

int lg_connect(lg_t *lg, int id, const lg_connect_t *c, char *err, int errlen) {
    struct sockaddr_storage ss;
    if (parse_addr(c->remote_ip, c->remote_port, &ss) < 0) { snprintf(err, errlen, "bad remote address"); return -1; }
    pthread_mutex_lock(&lg->mu);
    peer_t *p = get_peer(lg, id);
    int r = -1;
    if (!p) { snprintf(err, errlen, "no such peer"); goto out; }
    if (p->connected_cfg) { snprintf(err, errlen, "peer already connected"); goto out; }
    if (dtls_conn_init(&p->dtls, &lg->cert, c->dtls_client, c->fp_alg, c->fp, c->fp_len, dtls_send_cb, p) < 0) {
        snprintf(err, errlen, "%s", p->dtls.error); goto out;
    }
    p->dtls_on = 1;
    DTLS_set_timer_cb(p->dtls.ssl, dtls_timer_cb);
    if (c->profiles && *c->profiles && SSL_set_tlsext_use_srtp(p->dtls.ssl, c->profiles) != 0) {
        snprintf(err, errlen, "bad SRTP profile list"); dtls_conn_free(&p->dtls); p->dtls_on = 0; goto out;
    }
    memcpy(&p->remote, &ss, addr_len(&ss));
    p->remote_len = addr_len(&ss);
    p->has_remote = 1;
    snprintf(p->remote_ufrag, sizeof(p->remote_ufrag), "%s", c->remote_ufrag);
    snprintf(p->remote_pwd, sizeof(p->remote_pwd), "%s", c->remote_pwd);
    p->controlling = c->controlling;
    if (p->controlling) p->nominated = 0;
    else if (p->nominated && !addr_eq(&p->early_from, &p->remote)) {
        memcpy(&p->remote, &p->early_from, addr_len(&p->early_from));
        p->remote_len = addr_len(&p->early_from);
    }
    memcpy(p->rtx_apt, c->rtx_apt, LG_PT_COUNT);
    p->twcc_ext = c->twcc_ext;
    if (p->twcc_ext && (p->twcc = malloc(sizeof(twcc_rx_t)))) twcc_rx_init(p->twcc);
    lg->now_us = ms_now_us();
    p->ice = LG_ICE_CHECKING;
    p->checking_since_us = lg->now_us;
    p->connected_cfg = 1;
    send_check(lg, p);
    tx_flush(lg);
    r = 0;
out:
    pthread_mutex_unlock(&lg->mu);
    return r;
}

int lg_connect_raw(lg_t *lg, int id, const char *ip, int port, const uint8_t tx_key[28], const uint8_t rx_key[28],
                   const uint8_t *hello, int hello_len, char *err, int errlen) {
    struct sockaddr_storage ss;
    if (parse_addr(ip, port, &ss) < 0) { snprintf(err, errlen, "bad remote address"); return -1; }
    if (hello_len > (int)sizeof(((peer_t *)0)->hello)) { snprintf(err, errlen, "hello too long"); return -1; }
    pthread_mutex_lock(&lg->mu);
    peer_t *p = get_peer(lg, id);
    int r = -1;
    if (!p) { snprintf(err, errlen, "no such peer"); goto out; }
    if (p->connected_cfg) { snprintf(err, errlen, "peer already connected"); goto out; }
    p->srtp_out = srtp_ctx_new(SRTP_PROFILE_AEAD_AES_128_GCM, tx_key, tx_key + 16);
    p->srtp_in = srtp_ctx_new(SRTP_PROFILE_AEAD_AES_128_GCM, rx_key, rx_key + 16);
    if (!p->srtp_out || !p->srtp_in) { snprintf(err, errlen, "bad keys"); goto out; }
    p->profile = SRTP_PROFILE_AEAD_AES_128_GCM;
    memcpy(&p->remote, &ss, addr_len(&ss));
    p->remote_len = addr_len(&ss);
    p->has_remote = 1;
    memcpy(p->hello, hello, hello_len);
    p->hello_len = hello_len;
    p->raw = 1;
    p->connected_cfg = 1;
    p->ice = LG_ICE_CONNECTED;
    r = 0;
out:
    pthread_mutex_unlock(&lg->mu);
    wake(lg);
    return r;
}

int lg_state(lg_t *lg, int id, int *ice, int *dtls, int *profile) {
    pthread_mutex_lock(&lg->mu);
    peer_t *p = get_peer(lg, id);
    int r = -1;
    if (p) {
        *ice = p->ice;
        if (p->raw) *dtls = LG_DTLS_CONNECTED;
        else if (!p->dtls_on) *dtls = LG_DTLS_NEW;
        else switch (p->dtls.state) {
            case DTLS_NEW: *dtls = LG_DTLS_NEW; break;
            case DTLS_CONNECTING: *dtls = LG_DTLS_CONNECTING; break;
            case DTLS_CONNECTED: *dtls = p->srtp_out ? LG_DTLS_CONNECTED : LG_DTLS_FAILED; break;
            case DTLS_CLOSED: *dtls = p->srtp_out ? LG_DTLS_CONNECTED : LG_DTLS_FAILED; break;
            default: *dtls = LG_DTLS_FAILED;
        }
        *profile = p->profile;
        r = 0;
    }
    pthread_mutex_unlock(&lg->mu);
    return r;
}

static void add_stats(lg_stats_t *a, const lg_stats_t *b) {
    const uint64_t *x = (const uint64_t *)b;
    uint64_t *y = (uint64_t *)a;
    for (size_t i = 0; i < sizeof(lg_stats_t) / 8; i++) y[i] += x[i];
}
static void peer_fill(peer_t *p, lg_stats_t *st) {
    *st = p->st;
    st->lost = 0;
    for (int i = 0; i < p->nrx; i++) st->lost += rx_lost(p->rx[i]);
}

int lg_close_peer(lg_t *lg, int id) {
    pthread_mutex_lock(&lg->mu);
    peer_t *p = get_peer(lg, id);
    int r = -1;
    if (p) {
        lg_stats_t st;
        peer_fill(p, &st);
        add_stats(&lg->closed, &st);
        if (p->dtls_on) { dtls_close(&p->dtls); tx_flush(lg); }
        for (peer_t **pp = &lg->plist; *pp; pp = &(*pp)->next) if (*pp == p) { *pp = p->next; break; }
        lg->peers[id] = NULL;
        peer_free(lg, p);
        r = 0;
    }
    pthread_mutex_unlock(&lg->mu);
    return r;
}

int lg_load_clip(lg_t *lg, int clock_rate, int nframes, const lg_frame_t *frames, const uint8_t *const *payloads,
                 const int *lens, char *err, int errlen) {
    if (nframes <= 0) { snprintf(err, errlen, "empty clip"); return -1; }
    clip_t *c = calloc(1, sizeof(*c));
    c->clock_rate = clock_rate > 0 ? clock_rate : 90000;
    c->nframes = nframes;
    c->frames = calloc(nframes, sizeof(clip_frame_t));
    int np = 0;
    size_t total = 0;
    for (int i = 0; i < nframes; i++) {
        if (frames[i].npayloads <= 0) { snprintf(err, errlen, "frame %d has no payloads", i); goto bad; }
        for (int k = 0; k < frames[i].npayloads; k++) {
            if (lens[np + k] <= 0 || lens[np + k] > LG_MAX_PAYLOAD) { snprintf(err, errlen, "payload size must be 1..%d", LG_MAX_PAYLOAD); goto bad; }
            total += lens[np + k];
        }
        np += frames[i].npayloads;
    }
    c->npayloads = np;
    c->data = malloc(total ? total : 1);
    c->off = malloc(np * sizeof(int));
    c->len = malloc(np * sizeof(int));
    size_t o = 0;
    for (int k = 0; k < np; k++) { c->off[k] = (int)o; c->len[k] = lens[k]; memcpy(c->data + o, payloads[k], lens[k]); o += lens[k]; }
    int pi = 0;
    for (int i = 0; i < nframes; i++) {
        c->frames[i].offset_us = frames[i].offset_us;
        c->frames[i].ts_delta = frames[i].ts_delta;
        c->frames[i].keyframe = frames[i].keyframe;
        c->frames[i].first = pi;
        c->frames[i].n = frames[i].npayloads;
        pi += frames[i].npayloads;
    }
    int64_t span = frames[nframes - 1].offset_us - frames[0].offset_us;
    int64_t avg = nframes > 1 ? span / (nframes - 1) : 33333;
    if (avg <= 0) avg = 33333;
    uint64_t tsum = 0; int tn = 0;
    for (int i = 1; i < nframes; i++) if (frames[i].ts_delta) { tsum += frames[i].ts_delta; tn++; }
    c->wrap_ts = tn ? (uint32_t)(tsum / tn) : (uint32_t)((uint64_t)avg * c->clock_rate / 1000000);
    for (int i = 0; i < nframes; i++) {
        int64_t g = i + 1 < nframes ? frames[i + 1].offset_us - frames[i].offset_us : avg;
        c->frames[i].gap_us = g > 0 ? g : 0;
    }
    pthread_mutex_lock(&lg->mu);
    clip_t **nc = realloc(lg->clips, (lg->nclips + 1) * sizeof(*nc));
    lg->clips = nc;
    int id = lg->nclips++;
    lg->clips[id] = c;
    pthread_mutex_unlock(&lg->mu);
    return id;
bad:
    free(c->frames); free(c);
    return -1;
}

int lg_add_source(lg_t *lg, const lg_source_t *prm, char *err, int errlen) {
    if (prm->mid_len > 16 || prm->rid_len > 16) { snprintf(err, errlen, "mid/rid longer than 16 bytes"); return -1; }
    pthread_mutex_lock(&lg->mu);
    int r = -1;
    peer_t *p = get_peer(lg, prm->peer);
    if (!p) { snprintf(err, errlen, "no such peer"); goto out; }
    if (prm->clip < 0 || prm->clip >= lg->nclips) { snprintf(err, errlen, "no such clip"); goto out; }
    source_t *s = calloc(1, sizeof(*s));
    s->prm = *prm;
    memcpy(s->mid, prm->mid, prm->mid_len);
    memcpy(s->rid, prm->rid, prm->rid_len);
    s->prm.mid = s->mid; s->prm.rid = s->rid;
    s->drop_every = prm->drop_every;
    s->p = p;
    s->clip = lg->clips[prm->clip];
    RAND_bytes((uint8_t *)&s->seq, 2);
    RAND_bytes((uint8_t *)&s->rtx_seq, 2);
    RAND_bytes((uint8_t *)&s->ts, 4);
    s->next_in_peer = p->sources; p->sources = s;
    source_t **ns = realloc(lg->sources, (lg->nsources + 1) * sizeof(*ns));
    lg->sources = ns;
    s->id = lg->nsources++;
    lg->sources[s->id] = s;
    r = s->id;
out:
    pthread_mutex_unlock(&lg->mu);
    return r;
}

int lg_source_run(lg_t *lg, int id, int run, int stagger) {
    pthread_mutex_lock(&lg->mu);
    int r = -1;
    for (int i = 0; i < lg->nsources; i++) {
        source_t *s = lg->sources[i];
        if (!s || (id >= 0 && i != id)) continue;
        if (run && !s->running) {
            s->clock_set = 0;
            s->start_delay_us = 0;
            if (stagger) {
                uint32_t rnd;
                RAND_bytes((uint8_t *)&rnd, 4);
                int64_t g = s->clip->frames[0].gap_us;
                s->start_delay_us = g > 0 ? rnd % (uint64_t)g : 0;
            }
        }
        s->running = run;
        r = 0;
    }
    lg->next_pump_us = 0;
    pthread_mutex_unlock(&lg->mu);
    wake(lg);
    return id < 0 ? 0 : r;
}

int lg_source_stats(lg_t *lg, int id, lg_source_stats_t *out) {
    pthread_mutex_lock(&lg->mu);
    int r = -1;
    source_t *s = id >= 0 && id < lg->nsources ? lg->sources[id] : NULL;
    if (s) {
        out->packets = s->packets;
        out->keyframe_requests = s->kreqs;
        out->keyframes_requested = s->keyframes;
        out->min_request_gap_us = s->kreq_min_gap_us;
        out->max_requests_1s = s->kreq_max_1s;
        r = 0;
    }
    pthread_mutex_unlock(&lg->mu);
    return r;
}

int lg_peer_stats(lg_t *lg, int id, lg_stats_t *st, lg_ssrc_stat_t *ssrcs, int max, int *n) {
    pthread_mutex_lock(&lg->mu);
    peer_t *p = get_peer(lg, id);
    int r = -1;
    if (p) {
        peer_fill(p, st);
        int k = 0;
        for (int i = 0; i < p->nrx && k < max; i++) { ssrcs[k].ssrc = p->rx[i]->ssrc; ssrcs[k].received = p->rx[i]->unique; k++; }
        *n = k;
        r = p->nrx;
    }
    pthread_mutex_unlock(&lg->mu);
    return r;
}

int lg_totals(lg_t *lg, lg_stats_t *st, uint64_t hist[LG_HIST_BUCKETS], uint64_t app_hist[LG_HIST_BUCKETS]) {
    pthread_mutex_lock(&lg->mu);
    *st = lg->closed;
    for (peer_t *p = lg->plist; p; p = p->next) {
        lg_stats_t x;
        peer_fill(p, &x);
        add_stats(st, &x);
    }
    if (hist) memcpy(hist, lg->hist, sizeof(lg->hist));
    if (app_hist) memcpy(app_hist, lg->app_hist, sizeof(lg->app_hist));
    pthread_mutex_unlock(&lg->mu);
    return 0;
}

void lg_stall(lg_t *lg, int us) {
    pthread_mutex_lock(&lg->mu);
    struct timespec ts = {us / 1000000, (long)(us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
    pthread_mutex_unlock(&lg->mu);
}

double lg_cpu_seconds(lg_t *lg) {
    pthread_mutex_lock(&lg->mu);
    double v = lg->cpu_s;
    pthread_mutex_unlock(&lg->mu);
    return v;
}

int lg_map_rtx(lg_t *lg, int id, uint32_t rtx_ssrc, uint32_t media_ssrc) {
    pthread_mutex_lock(&lg->mu);
    peer_t *p = get_peer(lg, id);
    int r = -1;
    if (p) {
        ms_map_put(&p->rtx_map, (uint64_t)rtx_ssrc | (1ull << 32), (void *)(uintptr_t)((uint64_t)media_ssrc | (1ull << 32)));
        r = 0;
    }
    pthread_mutex_unlock(&lg->mu);
    return r;
}
