/* Batched UDP I/O: recvmmsg rounds in, sendmmsg (with UDP GSO) out, and the event queue to Python. */
#include "io.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <unistd.h>

void push_event(ms_worker_t *w, int type, uint32_t id, int64_t a, int64_t b, const char *text) {
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

/* Send one message's segments one by one (GSO refused by the kernel or the route). */
static void tx_send_split(ms_worker_t *w, struct msghdr *m) {
    for (size_t k = 0; k < m->msg_iovlen; k++) {
        ssize_t r = sendto(w->udp_fd, m->msg_iov[k].iov_base, m->msg_iov[k].iov_len, 0, m->msg_name, m->msg_namelen);
        if (r < 0) w->st.drops[DROP_SEND_FAILED]++;
        else { w->st.tx_packets++; w->st.tx_bytes += (uint64_t)r; }
    }
}

void tx_flush(ms_worker_t *w) {
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
    if (w->tx_m) { w->st.tx_batches++; w->tx_clock_us = ms_now_us(); }
    w->tx_n = w->tx_m = 0;
}

void tx_raw(ms_worker_t *w, ms_transport_t *t, const uint8_t *buf, int len) {
    if (!t->has_remote || len > MTU + 64) return;
    uint8_t *o = tx_slot(w);
    memcpy(o, buf, len);
    tx_commit(w, t, len);
}

/* Encrypt and queue an RTCP packet already written into the current tx slot. */
void tx_rtcp_commit(ms_worker_t *w, ms_transport_t *t, int len) {
    if (!t->srtp_out || !t->has_remote) return;
    int n = srtp_protect_rtcp(t->srtp_out, w->tx_buf[w->tx_n], len, MTU + 64);
    if (n < 0) return;
    w->st.rtcp_tx++;
    tx_commit(w, t, n);
}

/* Drain the socket in recvmmsg rounds, then forward what came. Under a backlog the rounds gather several
 * packets of a stream, so each consumer's share leaves as one GSO burst: the busier the worker, the cheaper
 * each packet (a graceful overload rather than a collapse). A socket still full after RX_ROUNDS marks the
 * worker saturated for OVERLOAD_HOLD_US: retransmissions and probes are shed, fresh media goes first. */
void recv_batch(ms_worker_t *w, int fd, ms_transport_t *known) {
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

int bind_udp(const char *ip, int port, int *out_port, char *err, int errlen) {
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
