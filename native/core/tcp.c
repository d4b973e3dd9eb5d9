/* ICE-TCP (RFC 6544 framing, passive candidates) on the worker's port number. */
#include "worker_int.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

void tcp_close(ms_worker_t *w, tcp_conn_t *c, const char *why) {
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

void tcp_flush(tcp_conn_t *c) {
    int off = 0;
    while (off < c->wlen) {
        ssize_t r = send(c->fd, c->wbuf + off, c->wlen - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r <= 0) break;
        off += (int)r;
    }
    if (off) { memmove(c->wbuf, c->wbuf + off, c->wlen - off); c->wlen -= off; }
}

void tcp_write(ms_worker_t *w, tcp_conn_t *c, const uint8_t *buf, int len) {
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

void tcp_accept(ms_worker_t *w) {
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

void tcp_read(ms_worker_t *w, tcp_conn_t *c) {
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

int bind_tcp(const struct sockaddr_storage *ss, socklen_t sl) {
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)ss, sl) < 0 || listen(fd, 128) < 0) { close(fd); return -1; }
    return fd;
}

/* Connections that never sent a valid binding request go; a paused listening socket comes back. */
void tcp_tick(ms_worker_t *w) {
    for (tcp_conn_t *c = w->conns, *nx; c; c = nx) {
        nx = c->next;
        if (!c->t && w->now_us - c->opened_us > TCP_UNBOUND_US) tcp_close(w, c, "no binding request");
    }
    if (w->listen_paused_until && w->now_us >= w->listen_paused_until) {
        struct epoll_event tev = {.events = EPOLLIN, .data.u64 = TAG_TCP_LISTEN};
        epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->tcp_fd, &tev);
        w->listen_paused_until = 0;
    }
}
