/* ICE-lite and DTLS glue: binding requests and their answers, the selected path and its consent, a client
 * transport's checks, the DTLS handshake and the SRTP keys it yields; the transports that use them. */
#include "io.h"

#include <arpa/inet.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "stun.h"

static void link_transport(ms_worker_t *w, ms_transport_t *t) {
    t->next = w->transports; t->prev = NULL;
    if (w->transports) w->transports->prev = t;
    w->transports = t;
}

void set_remote(ms_worker_t *w, ms_transport_t *t, const struct sockaddr_storage *a) {
    if (t->has_remote && !t->client_mode && ms_map_get(&w->by_addr, hash_addr(&t->remote)) == t)
        ms_map_del(&w->by_addr, hash_addr(&t->remote));
    memcpy(&t->remote, a, addr_len(a));
    t->remote_len = addr_len(a);
    t->has_remote = 1;
    if (!t->client_mode) ms_map_put(&w->by_addr, hash_addr(a), t);
}

static void on_ice_connected(ms_worker_t *w, ms_transport_t *t) {
    if (t->ice_state != ICE_CONNECTED) {
        t->ice_state = ICE_CONNECTED;
        push_event(w, EV_ICE, t->id, ICE_CONNECTED, 0, NULL);
    }
    if (t->dtls_ready && t->dtls.client && t->dtls.state == DTLS_NEW) dtls_start(&t->dtls);
}

void handle_stun(ms_worker_t *w, ms_transport_t *known, tcp_conn_t *conn, const uint8_t *buf, int len,
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
    /* Issue 14 finding 21: a request we cannot authenticate (no USERNAME or MESSAGE-INTEGRITY, an unknown
     * username, a wrong integrity) gets no answer at all, only a count in drops: an error reply would reflect
     * (and amplify) traffic to a forged source and tell a port scan that a media server listens here. STUN
     * (RFC 5389 10.1.2) suggests a 400/401; our peers take the credentials from the SDP and never need one,
     * and a peer without them retransmits and gives up, as it always did for an unknown username. */
    if (!m.username || m.username_len == 0 || m.username_len > 512 || !m.has_integrity) {
        w->st.drops[DROP_STUN_MALFORMED]++;
        return;
    }
    char uname[513];
    memcpy(uname, m.username, m.username_len);
    uname[m.username_len] = 0;
    char *colon = strchr(uname, ':');
    if (colon) *colon = 0;
    ms_transport_t *t = ms_map_get(&w->by_ufrag, hash_str(uname));
    if (!t || strcmp(t->ufrag, uname) != 0) { w->st.drops[DROP_STUN_UNKNOWN_UFRAG]++; return; }
    if (!stun_check_integrity(buf, len, &m, t->pwd, (int)strlen(t->pwd))) { w->st.drops[DROP_STUN_AUTH]++; return; }
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

void handle_dtls(ms_worker_t *w, ms_transport_t *t, const uint8_t *buf, int len) {
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

/* The DTLS retransmission timer, the client's checks and the server's consent expiry (RFC 7675). */
void ice_dtls_tick(ms_worker_t *w, ms_transport_t *t) {
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
        /* the server stopped answering our checks: its side is gone (RFC 7675, as the server applies it) */
        if (t->ice_state == ICE_CONNECTED && w->now_us - t->last_consent_us > w->consent_timeout_us) {
            t->ice_state = ICE_DISCONNECTED;
            push_event(w, EV_ICE, t->id, ICE_DISCONNECTED, 0, "consent expired");
        }
    } else if (t->ice_state == ICE_CONNECTED && w->now_us - t->last_consent_us > w->consent_timeout_us) {
        t->ice_state = ICE_DISCONNECTED;
        push_event(w, EV_ICE, t->id, ICE_DISCONNECTED, 0, "consent expired");
    }
}

static void dtls_send_cb(void *opaque, const uint8_t *buf, int len) {
    ms_transport_t *t = opaque;
    tx_raw(transport_worker(t), t, buf, len);
}

int transport_common(ms_worker_t *w, ms_transport_t *t, int dtls_client, const char *fp_alg,
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
                               const uint8_t *fp, int fp_len, int sink_abs_ext, const char *local_ip, int relay,
                               char *err, int errlen) {
    ms_transport_t *t = transport_alloc(w);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons(remote_port);
    if (inet_pton(AF_INET, remote_ip, &s4->sin_addr) != 1) { snprintf(err, errlen, "bad address"); transport_free_mem(t); return -1; }
    int lp;
    int fd = bind_udp(local_ip && local_ip[0] ? local_ip : "127.0.0.1", 0, &lp, err, errlen);
    if (fd < 0) { transport_free_mem(t); return -1; }
    t->client_mode = relay ? CLIENT_RELAY : CLIENT_SINK;
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
