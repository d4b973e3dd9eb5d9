/*
 * floor.c - the "C floor" of the side-by-side SFU benchmark.
 *
 * A single-threaded forwarder on one UDP socket: no ICE, no DTLS, pre-shared SRTP keys
 * (AEAD_AES_128_GCM, native/core/srtp.c), but the per-subscriber work of a real SFU: every
 * authentic RTP packet of a sender is decrypted once, then for every receiver its header is
 * rewritten (SSRC, sequence number, timestamp), the packet is encrypted with the receiver's
 * pre-keyed context and sent. It shows the best one core can do.
 *
 *   floor --ip 127.0.0.1 --port P --seed S --mode sendto|sendmmsg|gso --stats FILE [--stats-ms 1000]
 *
 * Protocol (the load generator's raw peers, bench/loadgen connect_raw):
 *   - "FLOOR <name> <dir>" (dir: send, recv, sendrecv), plaintext, registers the source address
 *     of the datagram as a peer. A repeat hello is a no-op; a hello with another name or dir from
 *     a registered address re-registers it.
 *   - "FLOOR-BYE" from a registered address unregisters it; "FLOOR-BYE <name>" from any address
 *     unregisters every peer of that name (so a harness can say goodbye for a peer whose socket
 *     it does not own).
 *   - keys: SHA-256("<seed>:<label>")[0:28] = 16-byte master key + 12-byte master salt (RFC 7714);
 *     "<name>-up" is what the peer sends with (the floor's rx context), "<name>-down" what the
 *     floor sends to it with (its tx context).
 *   - SRTCP from peers is authenticated, decrypted and counted; nothing else is done with it.
 *   - the SSRC a receiver sees for a stream is be32(SHA-256("<seed>:<receiver>:<sender>:<ssrc>")[0:4])
 *     (plus 1 until non-zero and unique for that receiver); sequence numbers and timestamps get a
 *     random per (receiver, stream) offset.
 *
 * Modes: sendto (one syscall per packet), sendmmsg (every copy of a receive batch, up to 1024 per
 * call), gso (UDP_SEGMENT: per receiver, its equal-size packets of one receive batch in one send;
 * the last segment may be shorter). Receive: recvmmsg, 64 datagrams per call.
 *
 * Stats: once a second (--stats-ms) and on exit, FILE is replaced (write + rename) by one JSON object; it is
 * written once right after bind, so its appearance means "ready" (with --port 0 its "port" field
 * tells the port the kernel chose).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "srtp.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

#define PROFILE SRTP_PROFILE_AEAD_AES_128_GCM
#define KEY_LEN 16
#define SALT_LEN 12
#define TAG_LEN 16

#define RX_BATCH 64          /* recvmmsg vlen */
#define RX_BATCHES_PER_WAKE 64 /* bounded drain per epoll wakeup */
#define BUF_SIZE 2048        /* one datagram (rx) or one copy (tx) */
#define MAX_PLAIN (BUF_SIZE - TAG_LEN - 4)
#define TX_BATCH 1024        /* sendmmsg vlen (UIO_MAXIOV) */
#define GSO_MAX_SEGS 64      /* UDP_MAX_SEGMENTS of older kernels */
#define GSO_MAX_BYTES 65000  /* below the 65507-byte UDP payload limit */
#define MAX_PEERS 8192
#define PEER_HASH (MAX_PEERS * 2) /* power of two */
#define MAX_STREAMS 4096     /* live source streams (sender, SSRC) */
#define MAX_SRC_PER_PEER 32  /* source SSRCs one sender may have */
#define NAME_MAX_LEN 63

enum { DIR_SEND = 1, DIR_RECV = 2 };
enum { MODE_SENDTO, MODE_SENDMMSG, MODE_GSO };

typedef struct {
    uint32_t out_ssrc; /* 0: no mapping yet */
    uint16_t seq_off;
    uint32_t ts_off;
} dmap_t;

typedef struct {
    int used;
    char name[NAME_MAX_LEN + 1];
    int dir;
    struct sockaddr_in addr;
    srtp_ctx_t *rx; /* <name>-up */
    srtp_ctx_t *tx; /* <name>-down, receivers only */
    /* as a sender: its source streams */
    int nsrc;
    uint32_t src_ssrc[MAX_SRC_PER_PEER];
    int src_sid[MAX_SRC_PER_PEER];
    /* as a receiver: mapping per global stream id, grown on demand */
    dmap_t *dmap;
    int dmap_len;
    int recv_pos; /* index in g.recv_list, -1 if none */
} peer_t;

typedef struct {
    int used;
    int peer;       /* the sender */
    uint32_t ssrc;  /* its SSRC */
    uint32_t gen;   /* bumped on every allocation of this id */
} stream_t;

typedef struct {
    uint64_t rx_packets, rx_bytes, rx_rtp, tx_packets, tx_bytes, tx_syscalls, tx_errors;
    uint64_t dropped_malformed, dropped_auth, dropped_replay, dropped_unknown, dropped_not_sender;
    uint64_t dropped_streams, rtcp_rx, hellos, registrations, byes, protect_errors, gso_fallbacks;
} stats_t;

static struct {
    int fd;
    int mode;
    int port; /* bound port (--port 0: the kernel's choice) */
    char seed[256];
    const char *stats_path;
    peer_t *peers;
    int peer_hash[PEER_HASH]; /* -1 empty, -2 tombstone, else peer index */
    int tombstones;
    int npeers;
    int recv_list[MAX_PEERS];
    int nrecv;
    stream_t streams[MAX_STREAMS];
    uint64_t rng;
    stats_t st;
    /* receive */
    uint8_t rxbuf[RX_BATCH][BUF_SIZE];
    struct sockaddr_in rxaddr[RX_BATCH];
    struct iovec rxiov[RX_BATCH];
    struct mmsghdr rxmsg[RX_BATCH];
    /* transmit */
    uint8_t (*txbuf)[BUF_SIZE]; /* TX_BATCH slots */
    struct iovec txiov[TX_BATCH];
    struct sockaddr_in txaddr[TX_BATCH]; /* copies: a peer may leave before the batch is flushed */
    struct mmsghdr txmsg[TX_BATCH];
    int ntx;
    uint8_t *gsobuf; /* GSO_MAX_BYTES + BUF_SIZE */
} g;

static volatile sig_atomic_t g_stop;

static void on_signal(int sig) { (void)sig; g_stop = 1; }

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}
static inline void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static uint64_t rng_next(void)
{
    uint64_t x = g.rng; /* xorshift64* */
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    g.rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int sha256(const char *s, uint8_t out[32])
{
    unsigned int n = 0;
    return EVP_Digest(s, strlen(s), out, &n, EVP_sha256(), NULL) == 1 && n == 32 ? 0 : -1;
}

static srtp_ctx_t *ctx_for(const char *name, const char *suffix)
{
    char label[sizeof(g.seed) + NAME_MAX_LEN + 16];
    uint8_t km[32];
    snprintf(label, sizeof label, "%s:%s-%s", g.seed, name, suffix);
    if (sha256(label, km))
        return NULL;
    return srtp_ctx_new(PROFILE, km, km + KEY_LEN);
}

/* ---- peer table (keyed by source address) ------------------------------------------------------- */

static inline uint32_t addr_hash(const struct sockaddr_in *a)
{
    uint32_t h = a->sin_addr.s_addr * 0x9E3779B1u ^ (uint32_t)a->sin_port * 0x85EBCA6Bu;
    return (h ^ (h >> 15)) & (PEER_HASH - 1);
}

static inline int addr_eq(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
    return a->sin_addr.s_addr == b->sin_addr.s_addr && a->sin_port == b->sin_port;
}

static int peer_find(const struct sockaddr_in *a)
{
    uint32_t h = addr_hash(a);
    for (int i = 0; i < PEER_HASH; i++) {
        int v = g.peer_hash[(h + i) & (PEER_HASH - 1)];
        if (v == -1)
            return -1;
        if (v >= 0 && addr_eq(&g.peers[v].addr, a))
            return v;
    }
    return -1;
}

static void peer_hash_insert(int idx)
{
    uint32_t h = addr_hash(&g.peers[idx].addr);
    for (int i = 0; i < PEER_HASH; i++) {
        int *slot = &g.peer_hash[(h + i) & (PEER_HASH - 1)];
        if (*slot < 0) {
            if (*slot == -2)
                g.tombstones--;
            *slot = idx;
            return;
        }
    }
}

static void peer_hash_remove(int idx)
{
    uint32_t h = addr_hash(&g.peers[idx].addr);
    for (int i = 0; i < PEER_HASH; i++) {
        int *slot = &g.peer_hash[(h + i) & (PEER_HASH - 1)];
        if (*slot == -1)
            return;
        if (*slot == idx) {
            *slot = -2;
            g.tombstones++;
            break;
        }
    }
    if (g.tombstones > PEER_HASH / 4) { /* churn: rebuild so misses stay short */
        for (int i = 0; i < PEER_HASH; i++)
            g.peer_hash[i] = -1;
        g.tombstones = 0;
        for (int i = 0; i < MAX_PEERS; i++)
            if (g.peers[i].used && i != idx)
                peer_hash_insert(i);
    }
}

/* Forget a stream everywhere: every receiver's mapping and its tx SRTP state. */
static void stream_release(int sid)
{
    for (int r = 0; r < g.nrecv; r++) {
        peer_t *d = &g.peers[g.recv_list[r]];
        if (sid < d->dmap_len && d->dmap[sid].out_ssrc) {
            srtp_ctx_remove_ssrc(d->tx, d->dmap[sid].out_ssrc);
            memset(&d->dmap[sid], 0, sizeof d->dmap[sid]);
        }
    }
    g.streams[sid].used = 0;
}

static void peer_remove(int idx)
{
    peer_t *p = &g.peers[idx];
    if (!p->used)
        return;
    for (int i = 0; i < p->nsrc; i++)
        stream_release(p->src_sid[i]);
    if (p->recv_pos >= 0) {
        int last = g.recv_list[--g.nrecv];
        g.recv_list[p->recv_pos] = last;
        g.peers[last].recv_pos = p->recv_pos;
    }
    peer_hash_remove(idx);
    srtp_ctx_free(p->rx);
    srtp_ctx_free(p->tx);
    free(p->dmap);
    memset(p, 0, sizeof *p);
    p->recv_pos = -1;
    g.npeers--;
}

static int peer_add(const struct sockaddr_in *a, const char *name, int dir)
{
    int idx = -1;
    for (int i = 0; i < MAX_PEERS; i++)
        if (!g.peers[i].used) {
            idx = i;
            break;
        }
    if (idx < 0)
        return -1;
    peer_t *p = &g.peers[idx];
    memset(p, 0, sizeof *p);
    p->recv_pos = -1;
    snprintf(p->name, sizeof p->name, "%s", name);
    p->dir = dir;
    p->addr = *a;
    p->rx = ctx_for(name, "up");
    p->tx = (dir & DIR_RECV) ? ctx_for(name, "down") : NULL;
    if (!p->rx || ((dir & DIR_RECV) && !p->tx)) {
        srtp_ctx_free(p->rx);
        srtp_ctx_free(p->tx);
        memset(p, 0, sizeof *p);
        p->recv_pos = -1;
        return -1;
    }
    p->used = 1;
    if (dir & DIR_RECV) {
        p->recv_pos = g.nrecv;
        g.recv_list[g.nrecv++] = idx;
    }
    peer_hash_insert(idx);
    g.npeers++;
    g.st.registrations++;
    return idx;
}

/* Plaintext control datagrams; returns 1 if buf was one. */
static int handle_control(const uint8_t *buf, int len, const struct sockaddr_in *from, int known)
{
    char s[128];
    if (len < 5 || len >= (int)sizeof s || memcmp(buf, "FLOOR", 5) != 0)
        return 0;
    memcpy(s, buf, (size_t)len);
    s[len] = 0;
    while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' ' || s[len - 1] == 0))
        s[--len] = 0;
    char word[16], name[NAME_MAX_LEN + 2], dirs[16], extra[2];
    int n = sscanf(s, "%15s %64s %15s %1s", word, name, dirs, extra);
    if (n >= 1 && strcmp(word, "FLOOR-BYE") == 0) {
        if (n == 1 && known >= 0) {
            peer_remove(known);
            g.st.byes++;
            return 1;
        }
        if (n == 2 && strlen(name) <= NAME_MAX_LEN) {
            for (int i = 0; i < MAX_PEERS; i++)
                if (g.peers[i].used && strcmp(g.peers[i].name, name) == 0)
                    peer_remove(i);
            g.st.byes++;
            return 1;
        }
        return 0;
    }
    if (n != 3 || strcmp(word, "FLOOR") != 0 || strlen(name) > NAME_MAX_LEN)
        return 0;
    int dir;
    if (strcmp(dirs, "send") == 0)
        dir = DIR_SEND;
    else if (strcmp(dirs, "recv") == 0)
        dir = DIR_RECV;
    else if (strcmp(dirs, "sendrecv") == 0)
        dir = DIR_SEND | DIR_RECV;
    else
        return 0;
    g.st.hellos++;
    if (known >= 0) {
        if (g.peers[known].dir == dir && strcmp(g.peers[known].name, name) == 0)
            return 1; /* idempotent */
        peer_remove(known);
    }
    if (peer_add(from, name, dir) < 0)
        g.st.dropped_malformed++; /* table full or crypto failure */
    return 1;
}

/* Global stream id of (sender, ssrc), allocated on first sight; -1 if out of room. */
static int stream_of(peer_t *p, int pidx, uint32_t ssrc)
{
    for (int i = 0; i < p->nsrc; i++)
        if (p->src_ssrc[i] == ssrc)
            return p->src_sid[i];
    if (p->nsrc >= MAX_SRC_PER_PEER)
        return -1;
    for (int sid = 0; sid < MAX_STREAMS; sid++)
        if (!g.streams[sid].used) {
            g.streams[sid].used = 1;
            g.streams[sid].gen++;
            g.streams[sid].peer = pidx;
            g.streams[sid].ssrc = ssrc;
            p->src_ssrc[p->nsrc] = ssrc;
            p->src_sid[p->nsrc] = sid;
            p->nsrc++;
            return sid;
        }
    return -1;
}

/* The receiver's mapping of a stream, created on first use; NULL if out of memory. */
static dmap_t *mapping(peer_t *d, int sid)
{
    if (sid >= d->dmap_len) {
        int n = d->dmap_len ? d->dmap_len : 16;
        while (n <= sid)
            n *= 2;
        dmap_t *m = realloc(d->dmap, sizeof *m * (size_t)n);
        if (!m)
            return NULL;
        memset(m + d->dmap_len, 0, sizeof *m * (size_t)(n - d->dmap_len));
        d->dmap = m;
        d->dmap_len = n;
    }
    dmap_t *m = &d->dmap[sid];
    if (m->out_ssrc)
        return m;
    const stream_t *s = &g.streams[sid];
    char label[sizeof(g.seed) + 2 * NAME_MAX_LEN + 32];
    uint8_t h[32];
    snprintf(label, sizeof label, "%s:%s:%s:%u", g.seed, d->name, g.peers[s->peer].name, s->ssrc);
    if (sha256(label, h))
        return NULL;
    uint32_t out = rd32(h);
    for (int tries = 0; tries < MAX_STREAMS + 1; tries++) { /* non-zero and unique for this receiver */
        int clash = out == 0;
        for (int i = 0; i < d->dmap_len && !clash; i++)
            clash = d->dmap[i].out_ssrc == out;
        if (!clash)
            break;
        out++;
    }
    m->out_ssrc = out;
    m->seq_off = (uint16_t)rng_next();
    m->ts_off = (uint32_t)rng_next();
    return m;
}

/* ---- transmit --------------------------------------------------------------------------------------- */

static void tx_flush(void)
{
    int off = 0;
    for (int guard = 0; off < g.ntx && guard < TX_BATCH + 1; guard++) {
        int r = sendmmsg(g.fd, g.txmsg + off, (unsigned)(g.ntx - off), 0);
        g.st.tx_syscalls++;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            g.st.tx_errors++; /* skip the message that failed */
            off++;
            continue;
        }
        for (int i = 0; i < r; i++) {
            g.st.tx_packets++;
            g.st.tx_bytes += g.txiov[off + i].iov_len;
        }
        off += r;
    }
    g.ntx = 0;
}

static void send_one(const uint8_t *buf, int len, const struct sockaddr_in *to)
{
    ssize_t r = sendto(g.fd, buf, (size_t)len, 0, (const struct sockaddr *)to, sizeof *to);
    g.st.tx_syscalls++;
    if (r < 0) {
        g.st.tx_errors++;
        return;
    }
    g.st.tx_packets++;
    g.st.tx_bytes += (uint64_t)len;
}

static void send_gso(const uint8_t *buf, int total, int seg, int nseg, const struct sockaddr_in *to)
{
    if (nseg == 1) {
        send_one(buf, total, to);
        return;
    }
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = (size_t)total};
    union {
        char buf[CMSG_SPACE(sizeof(uint16_t))];
        struct cmsghdr align;
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr mh = {.msg_name = (void *)to, .msg_namelen = sizeof *to, .msg_iov = &iov, .msg_iovlen = 1,
                        .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_UDP;
    cm->cmsg_type = UDP_SEGMENT;
    cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    uint16_t s16 = (uint16_t)seg;
    memcpy(CMSG_DATA(cm), &s16, sizeof s16);
    ssize_t r = sendmsg(g.fd, &mh, 0);
    g.st.tx_syscalls++;
    if (r < 0) { /* no GSO on this path (EIO, EINVAL ...): one send per segment */
        g.st.gso_fallbacks++;
        for (int off = 0; off < total; off += seg)
            send_one(buf + off, total - off < seg ? total - off : seg, to);
        return;
    }
    g.st.tx_packets += (uint64_t)nseg;
    g.st.tx_bytes += (uint64_t)total;
}

/* Rewrite the plain packet pkt[0..len) for receiver d, encrypt the copy into out (cap BUF_SIZE),
 * restore pkt's header. Returns the SRTP length or < 0. */
static int make_copy(uint8_t *pkt, int len, peer_t *d, int sid, uint8_t *out)
{
    dmap_t *m = mapping(d, sid);
    if (!m)
        return -1;
    uint8_t saved[10];
    memcpy(saved, pkt + 2, 10);
    wr16(pkt + 2, (uint16_t)(rd16(pkt + 2) + m->seq_off));
    wr32(pkt + 4, rd32(pkt + 4) + m->ts_off);
    wr32(pkt + 8, m->out_ssrc);
    memcpy(out, pkt, (size_t)len);
    memcpy(pkt + 2, saved, 10);
    int n = srtp_protect_rtp(d->tx, out, len, BUF_SIZE);
    if (n < 0)
        g.st.protect_errors++;
    return n;
}

/* ---- receive ---------------------------------------------------------------------------------------- */

typedef struct {
    uint8_t *pkt;
    int len;
    int src; /* sender peer */
    int sid;
    uint32_t gen; /* the stream's generation: it may be released later in the same batch (GSO) */
} fwd_t;

static int classify(int i, fwd_t *f)
{
    uint8_t *buf = g.rxbuf[i];
    int len = (int)g.rxmsg[i].msg_len;
    const struct sockaddr_in *from = &g.rxaddr[i];
    g.st.rx_packets++;
    g.st.rx_bytes += (uint64_t)len;
    if ((g.rxmsg[i].msg_hdr.msg_flags & MSG_TRUNC) || g.rxmsg[i].msg_hdr.msg_namelen != sizeof *from ||
        from->sin_family != AF_INET) {
        g.st.dropped_malformed++;
        return 0;
    }
    int pidx = peer_find(from);
    if (handle_control(buf, len, from, pidx))
        return 0;
    if (pidx < 0) {
        g.st.dropped_unknown++;
        return 0;
    }
    peer_t *p = &g.peers[pidx];
    if (len < 12 || (buf[0] >> 6) != 2) {
        g.st.dropped_malformed++;
        return 0;
    }
    if (buf[1] >= 192 && buf[1] <= 223) { /* RTCP (RFC 5761) */
        int r = srtp_unprotect_rtcp(p->rx, buf, len);
        if (r >= 0)
            g.st.rtcp_rx++;
        else if (r == SRTP_ERR_AUTH)
            g.st.dropped_auth++;
        else if (r == SRTP_ERR_REPLAY)
            g.st.dropped_replay++;
        else
            g.st.dropped_malformed++;
        return 0;
    }
    if (!(p->dir & DIR_SEND)) {
        g.st.dropped_not_sender++;
        return 0;
    }
    if (len > MAX_PLAIN + TAG_LEN) {
        g.st.dropped_malformed++;
        return 0;
    }
    int r = srtp_unprotect_rtp(p->rx, buf, len);
    if (r < 0) {
        if (r == SRTP_ERR_AUTH)
            g.st.dropped_auth++;
        else if (r == SRTP_ERR_REPLAY)
            g.st.dropped_replay++;
        else
            g.st.dropped_malformed++;
        return 0;
    }
    int sid = stream_of(p, pidx, rd32(buf + 8));
    if (sid < 0) {
        g.st.dropped_streams++;
        return 0;
    }
    g.st.rx_rtp++;
    f->pkt = buf;
    f->len = r;
    f->src = pidx;
    f->sid = sid;
    f->gen = g.streams[sid].gen;
    return 1;
}

static void forward_packet(fwd_t *f)
{
    for (int r = 0; r < g.nrecv; r++) {
        int di = g.recv_list[r];
        if (di == f->src)
            continue;
        peer_t *d = &g.peers[di];
        if (g.mode == MODE_SENDTO) {
            int n = make_copy(f->pkt, f->len, d, f->sid, g.txbuf[0]);
            if (n > 0)
                send_one(g.txbuf[0], n, &d->addr);
        } else {
            if (g.ntx == TX_BATCH)
                tx_flush();
            int n = make_copy(f->pkt, f->len, d, f->sid, g.txbuf[g.ntx]);
            if (n > 0) {
                g.txiov[g.ntx].iov_base = g.txbuf[g.ntx];
                g.txiov[g.ntx].iov_len = (size_t)n;
                g.txaddr[g.ntx] = d->addr;
                g.ntx++;
            }
        }
    }
}

/* GSO: per receiver, runs of equal-size copies (the last may be shorter) in one send. */
static void forward_gso(fwd_t *fw, int nf)
{
    for (int r = 0; r < g.nrecv; r++) {
        int di = g.recv_list[r];
        peer_t *d = &g.peers[di];
        int total = 0, seg = 0, nseg = 0;
        for (int k = 0; k < nf; k++) {
            if (fw[k].src == di || !g.streams[fw[k].sid].used || g.streams[fw[k].sid].gen != fw[k].gen)
                continue;
            int n = make_copy(fw[k].pkt, fw[k].len, d, fw[k].sid, g.gsobuf + total);
            if (n <= 0)
                continue;
            if (nseg == 0) {
                seg = n;
                total = n;
                nseg = 1;
                continue;
            }
            if (n <= seg && nseg < GSO_MAX_SEGS && total + n <= GSO_MAX_BYTES) {
                total += n;
                nseg++;
                if (n < seg) { /* a shorter segment ends the run */
                    send_gso(g.gsobuf, total, seg, nseg, &d->addr);
                    total = seg = nseg = 0;
                }
                continue;
            }
            /* does not fit the run: send the run, the new copy starts the next one */
            send_gso(g.gsobuf, total, seg, nseg, &d->addr);
            memmove(g.gsobuf, g.gsobuf + total, (size_t)n);
            total = seg = n;
            nseg = 1;
        }
        if (nseg)
            send_gso(g.gsobuf, total, seg, nseg, &d->addr);
    }
}

static void process_batch(int n)
{
    fwd_t fw[RX_BATCH];
    int nf = 0;
    for (int i = 0; i < n; i++) {
        if (!classify(i, &fw[nf]))
            continue;
        if (g.mode == MODE_GSO)
            nf++;
        else
            forward_packet(&fw[nf]);
    }
    if (g.mode == MODE_GSO && nf)
        forward_gso(fw, nf);
    if (g.mode == MODE_SENDMMSG && g.ntx)
        tx_flush();
}

/* ---- stats ------------------------------------------------------------------------------------------ */

static void write_stats(double started)
{
    if (!g.stats_path)
        return;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    uint64_t ut = (uint64_t)ru.ru_utime.tv_sec * 1000000u + (uint64_t)ru.ru_utime.tv_usec;
    uint64_t stt = (uint64_t)ru.ru_stime.tv_sec * 1000000u + (uint64_t)ru.ru_stime.tv_usec;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", g.stats_path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    static const char *modes[] = {"sendto", "sendmmsg", "gso"};
    const stats_t *s = &g.st;
    fprintf(f,
            "{\"mode\": \"%s\", \"port\": %d, \"pid\": %d, \"uptime_s\": %.3f, \"peers\": %d, \"receivers\": %d, "
            "\"rx_packets\": %llu, \"rx_bytes\": %llu, \"rx_rtp\": %llu, "
            "\"tx_packets\": %llu, \"tx_bytes\": %llu, \"tx_syscalls\": %llu, \"tx_errors\": %llu, "
            "\"dropped_malformed\": %llu, \"dropped_auth\": %llu, \"dropped_replay\": %llu, "
            "\"dropped_unknown\": %llu, \"dropped_not_sender\": %llu, \"dropped_streams\": %llu, "
            "\"protect_errors\": %llu, \"rtcp_rx\": %llu, \"hellos\": %llu, \"registrations\": %llu, "
            "\"byes\": %llu, \"gso_fallbacks\": %llu, \"cpu_us\": %llu, \"utime_us\": %llu, \"stime_us\": %llu}\n",
            modes[g.mode], g.port, (int)getpid(), now_s() - started, g.npeers, g.nrecv,
            (unsigned long long)s->rx_packets, (unsigned long long)s->rx_bytes, (unsigned long long)s->rx_rtp,
            (unsigned long long)s->tx_packets, (unsigned long long)s->tx_bytes,
            (unsigned long long)s->tx_syscalls, (unsigned long long)s->tx_errors,
            (unsigned long long)s->dropped_malformed, (unsigned long long)s->dropped_auth,
            (unsigned long long)s->dropped_replay, (unsigned long long)s->dropped_unknown,
            (unsigned long long)s->dropped_not_sender, (unsigned long long)s->dropped_streams,
            (unsigned long long)s->protect_errors, (unsigned long long)s->rtcp_rx,
            (unsigned long long)s->hellos, (unsigned long long)s->registrations, (unsigned long long)s->byes,
            (unsigned long long)s->gso_fallbacks, (unsigned long long)(ut + stt), (unsigned long long)ut, (unsigned long long)stt);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad || rename(tmp, g.stats_path) != 0)
        unlink(tmp);
}

/* ---- main ------------------------------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr, "usage: floor --ip 127.0.0.1 --port P --seed S --mode sendto|sendmmsg|gso --stats FILE [--stats-ms 1000]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *ip = "127.0.0.1", *mode = "sendmmsg";
    int port = -1;
    double interval = 1.0;
    static const struct option opts[] = {{"ip", 1, 0, 'i'},   {"port", 1, 0, 'p'},  {"seed", 1, 0, 's'},
                                         {"mode", 1, 0, 'm'}, {"stats", 1, 0, 'o'}, {"stats-ms", 1, 0, 'T'},
                                         {0, 0, 0, 0}};
    snprintf(g.seed, sizeof g.seed, "0");
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        switch (c) {
        case 'i': ip = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 's':
            if (strlen(optarg) >= sizeof g.seed)
                usage();
            snprintf(g.seed, sizeof g.seed, "%s", optarg);
            break;
        case 'm': mode = optarg; break;
        case 'o': g.stats_path = optarg; break;
        case 'T':
            interval = atoi(optarg) / 1000.0;
            if (interval < 0.01 || interval > 60)
                usage();
            break;
        default: usage();
        }
    }
    if (optind != argc || port < 0 || port > 65535)
        usage();
    if (strcmp(mode, "sendto") == 0)
        g.mode = MODE_SENDTO;
    else if (strcmp(mode, "sendmmsg") == 0)
        g.mode = MODE_SENDMMSG;
    else if (strcmp(mode, "gso") == 0)
        g.mode = MODE_GSO;
    else
        usage();

    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1) {
        fprintf(stderr, "floor: bad --ip %s\n", ip);
        return 2;
    }
    if ((ntohl(sa.sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "floor: loopback addresses only\n");
        return 2;
    }

    g.peers = calloc(MAX_PEERS, sizeof *g.peers);
    g.txbuf = malloc((size_t)TX_BATCH * BUF_SIZE);
    g.gsobuf = malloc(GSO_MAX_BYTES + BUF_SIZE);
    if (!g.peers || !g.txbuf || !g.gsobuf) {
        fprintf(stderr, "floor: out of memory\n");
        return 1;
    }
    for (int i = 0; i < MAX_PEERS; i++)
        g.peers[i].recv_pos = -1;
    for (int i = 0; i < PEER_HASH; i++)
        g.peer_hash[i] = -1;
    uint8_t h[32];
    char sl[300];
    snprintf(sl, sizeof sl, "%s:rng", g.seed);
    sha256(sl, h);
    memcpy(&g.rng, h, 8);
    if (!g.rng)
        g.rng = 0x9E3779B97F4A7C15ULL;

    g.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (g.fd < 0) {
        perror("floor: socket");
        return 1;
    }
    int bufsz = 16 << 20;
    setsockopt(g.fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof bufsz);
    setsockopt(g.fd, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof bufsz);
    if (bind(g.fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        perror("floor: bind");
        return 1;
    }
    socklen_t salen = sizeof sa;
    getsockname(g.fd, (struct sockaddr *)&sa, &salen);
    g.port = ntohs(sa.sin_port);
    for (int i = 0; i < RX_BATCH; i++) {
        g.rxiov[i].iov_base = g.rxbuf[i];
        g.rxiov[i].iov_len = BUF_SIZE;
    }
    for (int i = 0; i < TX_BATCH; i++) {
        g.txmsg[i].msg_hdr.msg_iov = &g.txiov[i];
        g.txmsg[i].msg_hdr.msg_iovlen = 1;
        g.txmsg[i].msg_hdr.msg_name = &g.txaddr[i];
        g.txmsg[i].msg_hdr.msg_namelen = sizeof g.txaddr[i];
    }

    struct sigaction sga;
    memset(&sga, 0, sizeof sga);
    sga.sa_handler = on_signal; /* no SA_RESTART: epoll_wait returns EINTR */
    sigaction(SIGTERM, &sga, NULL);
    sigaction(SIGINT, &sga, NULL);
    signal(SIGPIPE, SIG_IGN);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = g.fd};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, g.fd, &ev) < 0) {
        perror("floor: epoll");
        return 1;
    }

    double started = now_s(), next_stats = started + interval;
    write_stats(started);
    fprintf(stderr, "floor: %s:%d mode %s\n", ip, g.port, mode);
    while (!g_stop) {
        struct epoll_event out;
        int timeout = (int)((next_stats - now_s()) * 1000) + 1;
        if (timeout < 0)
            timeout = 0;
        if (timeout > 1000)
            timeout = 1000; /* bounded wait */
        int ne = epoll_wait(ep, &out, 1, timeout);
        if (ne < 0 && errno != EINTR) {
            perror("floor: epoll_wait");
            break;
        }
        for (int b = 0; ne > 0 && b < RX_BATCHES_PER_WAKE && !g_stop; b++) {
            for (int i = 0; i < RX_BATCH; i++) {
                g.rxmsg[i].msg_hdr.msg_name = &g.rxaddr[i];
                g.rxmsg[i].msg_hdr.msg_namelen = sizeof g.rxaddr[i];
                g.rxmsg[i].msg_hdr.msg_iov = &g.rxiov[i];
                g.rxmsg[i].msg_hdr.msg_iovlen = 1;
                g.rxmsg[i].msg_hdr.msg_control = NULL;
                g.rxmsg[i].msg_hdr.msg_controllen = 0;
                g.rxmsg[i].msg_hdr.msg_flags = 0;
            }
            int n = recvmmsg(g.fd, g.rxmsg, RX_BATCH, MSG_DONTWAIT, NULL);
            if (n <= 0)
                break;
            process_batch(n);
            if (n < RX_BATCH || now_s() >= next_stats) /* stats stay on time under overload */
                break;
        }
        double t = now_s();
        if (t >= next_stats) {
            write_stats(started);
            next_stats = t + interval;
        }
    }
    write_stats(started);
    for (int i = 0; i < MAX_PEERS; i++)
        if (g.peers[i].used)
            peer_remove(i);
    close(ep);
    close(g.fd);
    free(g.peers);
    free(g.txbuf);
    free(g.gsobuf);
    return 0;
}
