/* The media worker: one UDP port shared by all transports, a thread that receives, decrypts, routes,
 * rewrites, encrypts and sends in batches (see worker_int.h for its units). This file: the loop and its
 * timers, the demultiplexer, the life cycle of transports, producers and consumers, and the public API. */
#include "io.h"

#include <arpa/inet.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "stun.h"

/* ---------- the loop ---------- */

void on_datagram(ms_worker_t *w, ms_transport_t *known, tcp_conn_t *conn, uint8_t *buf, int len,
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

static void tick(ms_worker_t *w) {
    tcp_tick(w);
    for (ms_transport_t *t = w->transports; t; t = t->next) ice_dtls_tick(w, t);
    send_reports(w);
    if (w->now_us - w->last_measure_us >= 50000) {
        w->last_measure_us = w->now_us;
        measure_rates(w);
        allocate_all(w);
    }
}

static void *worker_main(void *arg) {
    ms_worker_t *w = arg;
    struct epoll_event evs[64];
    while (w->running) {
        /* issue 18: say it is about to sleep, then look at its pipes once more; a sender that publishes
         * after this look sees `parked` and wakes it (both sides fence: one of them sees the other) */
        int idle_ms = w->probing ? 1 : 10;
        if (w->pipes_in) {
            atomic_store_explicit(&w->parked, 1, memory_order_relaxed);
            atomic_thread_fence(memory_order_seq_cst);
            if (pipe_pending(w)) idle_ms = 0;
        }
        int n = epoll_wait(w->epfd, evs, 64, idle_ms);
        atomic_store_explicit(&w->parked, 0, memory_order_relaxed);
        pthread_mutex_lock(&w->lock);
        w->now_us = ms_now_us();
        for (int i = 0; i < n; i++) {
            uint64_t tag = evs[i].data.u64;
            if (tag == 0) { recv_batch(w, w->udp_fd, NULL); continue; }
            if (tag == TAG_TCP_LISTEN) { tcp_accept(w); continue; }
            if (tag == TAG_PIPE) {             /* drained below, as on every wake-up */
                w->st.pipe_wakes++;
                uint64_t v;
                ssize_t r = read(w->pipe_evfd, &v, sizeof(v));
                (void)r;
                continue;
            }
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
        if (w->pipes_in) pipe_drain(w);
        w->now_us = ms_now_us();
        if (w->now_us - w->last_tick_us >= 10000) { w->last_tick_us = w->now_us; tick(w); }
        if (w->probing) pace_probes(w);
        tx_flush(w);
        pthread_mutex_unlock(&w->lock);
    }
    return NULL;
}

/* ---------- life cycle ---------- */

ms_transport_t *transport_alloc(ms_worker_t *w) {
    transport_box_t *b = calloc(1, sizeof(*b));
    b->w = w;
    return &b->t;
}
void transport_free_mem(ms_transport_t *t) {
    free(t->cap);
    free(t->rec_buf);
    bwe_free(t->bwe);
    free(t->bwe);
    free(t->twcc_rx);
    free((char *)t - offsetof(transport_box_t, t));
}

static void consumer_destroy(ms_worker_t *w, ms_consumer_t *c, int notify) {
    ms_producer_t *p = c->p;
    for (int i = 0; i < p->ncons; i++) {
        if (p->cons[i] != c) continue;
        if (i < p->nfirst) {   /* keep the leaders together, in order: shift them, then fill the gap */
            memmove(&p->cons[i], &p->cons[i + 1], (size_t)(p->nfirst - 1 - i) * sizeof(*p->cons));
            i = --p->nfirst;
        }
        p->cons[i] = p->cons[--p->ncons];
        break;
    }
    ms_map_del(&w->cons_by_id, c->id);
    ms_map_del(&w->cons_by_ssrc, cons_key(c->t->id, c->prm.ssrc));
    if (c->tprev) c->tprev->tnext = c->tnext; else c->t->cons = c->tnext;
    if (c->tnext) c->tnext->tprev = c->tprev;
    if (c->prev) c->prev->next = c->next; else w->consumers = c->next;
    if (c->next) c->next->prev = c->prev;
    if (notify) push_event(w, EV_CONSUMER_CLOSED, c->id, 0, 0, NULL);
    w->st.consumers--;
    free(c->rtx_seen);
    free(c);
}

static void producer_destroy(ms_worker_t *w, ms_producer_t *p) {
    if (p->head == p)
        for (int i = p->nlayers - 1; i > 0; i--) if (p->layer[i]) producer_destroy(w, p->layer[i]);
    if (p->npipes) pipe_source_gone(w, p);
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


/* A head producer on t with the layers of `like` (their rids and order), no SSRCs: a pipe producer (pipe.c). */
int producer_mirror(ms_worker_t *w, ms_transport_t *t, const ms_producer_params_t *prm, const ms_producer_t *like) {
    ms_producer_t *hd = NULL;
    for (int i = 0; i < like->nlayers; i++) {
        ms_producer_t *p = producer_new(w, t, prm, 0, 0);
        if (!p) { if (hd) producer_destroy(w, hd); return -1; }
        p->layer_idx = i;
        memcpy(p->rid, like->layer[i]->rid, sizeof(p->rid));
        if (!hd) hd = p;
        p->head = hd;
        hd->layer[i] = p;
    }
    hd->nlayers = like->nlayers;
    ms_map_put(&w->prod_by_id, hd->id, hd);
    return (int)hd->id;
}

/* ---------- public API ---------- */

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
    w->pipe_evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);   /* other workers' pipes wake it (pipe.c) */
    atomic_init(&w->parked, 0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
    epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->udp_fd, &ev);
    struct epoll_event pev = {.events = EPOLLIN, .data.u64 = TAG_PIPE};
    epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->pipe_evfd, &pev);
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
    pipe_worker_free(w);
    close(w->udp_fd); close(w->epfd); close(w->evfd);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

void ms_worker_lock(ms_worker_t *w) { pthread_mutex_lock(&w->lock); w->now_us = ms_now_us(); }
void ms_worker_unlock(ms_worker_t *w) { tx_flush(w); pthread_mutex_unlock(&w->lock); }
int ms_worker_port(ms_worker_t *w) { return w->port; }
int ms_worker_set_cpu(ms_worker_t *w, int cpu) {
    if (!w->running || cpu < 0 || cpu >= CPU_SETSIZE) return -1;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(w->thread, sizeof(set), &set) == 0 ? 0 : -1;
}
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

void ms_worker_stats(ms_worker_t *w, ms_stats_t *out) {
    *out = w->st;
    out->tcp_conns = (uint64_t)w->nconns;
    /* the thread's CPU clock, read from the caller's thread (nothing is added to the packet loop) */
    clockid_t cid;
    struct timespec ts;
    if (w->running && pthread_getcpuclockid(w->thread, &cid) == 0 && clock_gettime(cid, &ts) == 0)
        out->cpu_us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
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
    for (int i = 0; i < MS_SINK_SSRCS; i++) {
        if (!t->sink[i].init) continue;
        int64_t l = (int64_t)ms_seq_expected(&t->sink[i]) - (int64_t)t->sink[i].received;
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
    o->wanted_bps = t->alloc.wanted_bps;
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

int ms_producer_create(ms_worker_t *w, uint32_t transport_id, const ms_producer_params_t *prm) {
    ms_transport_t *t = ms_map_get(&w->by_id, transport_id);
    if (!t || t->id != transport_id || t->client_mode == CLIENT_SINK) return -1;
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
    if (p->pipe_in) return -2;    /* a pipe's producer goes with its pipe (ms_pipe_close) */
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
    int64_t lost = (int64_t)ms_seq_expected(&p->track) - (int64_t)p->track.received;
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
            int64_t ll = (int64_t)ms_seq_expected(&l->track) - (int64_t)l->track.received;
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
    if (!prm->ssrc || ms_map_get(&w->cons_by_ssrc, cons_key(transport_id, prm->ssrc))) return -3;
    ms_consumer_t *c = calloc(1, sizeof(*c));
    c->id = new_id(w);
    c->t = t;
    c->p = p;
    c->prm = *prm;
    c->mid_len = (int)strnlen(prm->mid, 16);
    RAND_bytes((uint8_t *)&c->rtx_seq, 2);
    c->forced_layer = MS_LAYER_AUTO;
    ms_xlate_init(&c->x);                  /* every temporal layer */
    c->cur_layer = -1;
    c->target_layer = p->nlayers - 1;      /* until the first allocation: the best the budgets allow */
    c->tnext = t->cons; if (t->cons) t->cons->tprev = c; t->cons = c;
    t->alloc.next_alloc_us = 0;
    if (!t->bwe && (t->bwe = malloc(sizeof(bwe_t)))) bwe_init(t->bwe, BWE_START_BPS, BWE_MIN_BPS, BWE_MAX_BPS);
    if (!t->cons_since_us) t->cons_since_us = w->now_us;
    if (prm->ext_twcc) t->expect_fb = 1;
    if (p->ncons == p->capcons) {
        p->capcons = p->capcons ? p->capcons * 2 : 8;
        p->cons = realloc(p->cons, p->capcons * sizeof(*p->cons));
    }
    p->cons[p->ncons++] = c;
    if (prm->first) {          /* after the leaders: the first of the others (if any) moves to the end */
        p->cons[p->ncons - 1] = p->cons[p->nfirst];
        p->cons[p->nfirst++] = c;
    }
    ms_map_put(&w->cons_by_id, c->id, c);
    ms_map_put(&w->cons_by_ssrc, cons_key(t->id, prm->ssrc), c);
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
    c->t->alloc.next_alloc_us = 0;
    return 0;
}

int ms_consumer_set_temporal(ms_worker_t *w, uint32_t id, int tl) {
    ms_consumer_t *c = find_consumer(w, id);
    if (!c) return -1;
    if (tl != MS_LAYER_AUTO && (tl < 0 || tl > 3)) return -2;
    ms_xlate_set_temporal(&c->x, tl);
    return 0;
}

int ms_consumer_set_budget(ms_worker_t *w, uint32_t id, uint32_t max_bps, int priority) {
    ms_consumer_t *c = find_consumer(w, id);
    if (!c) return -1;
    c->max_bps = max_bps;
    c->priority = priority;
    c->t->alloc.next_alloc_us = 0;
    return 0;
}

int ms_transport_set_budget(ms_worker_t *w, uint32_t id, uint32_t max_bps) {
    ms_transport_t *t = ms_map_get(&w->by_id, id);
    if (!t || t->id != id) return -1;
    t->budget_bps = max_bps;
    t->alloc.next_alloc_us = 0;
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
    o->temporal = c->x.tl_cur == MS_XLATE_TL_ALL ? -1 : c->x.tl_cur;
    o->frames_dropped = c->x.tl_frames_dropped;
    o->rtx_refused = c->rtx_refused;
    return 0;
}
