/* Batched UDP output: the per-packet part, inline (every forwarded packet goes through it). A packet is
 * written into tx_slot(w) and queued with tx_commit(w, t, len): to a recorder's buffer, an ICE-TCP
 * connection, a client transport's own socket, or the next sendmmsg batch of the shared UDP socket, where a
 * burst to one destination rides in one UDP GSO message. tx_flush (io.c) hands the batch to the kernel. */
#ifndef MS_IO_H
#define MS_IO_H
#include "worker_int.h"

#include <netinet/udp.h>
#include <string.h>

/* When a packet queued now leaves, for the transport-cc send history: the later of the batch's clock and
 * the last sendmmsg's. A batch that fans a packet out to a thousand subscribers takes milliseconds; stamped
 * with the batch's start, the later subscribers' packets would look delayed on the path by that much, and
 * by more the busier the worker is: the estimators would read the server's own load as congestion. The
 * queue is flushed every TXB packets, so this is at most that many packets early. */
static inline uint64_t tx_time(const ms_worker_t *w) {
    return w->tx_clock_us > w->now_us ? w->tx_clock_us : w->now_us;
}

/* A scratch buffer for one outgoing datagram to t; commit with tx_commit. */
static inline uint8_t *tx_slot(ms_worker_t *w) {
    if (w->tx_n == TXB || w->tx_m >= TX_FLUSH_MSGS) tx_flush(w);
    return w->tx_buf[w->tx_n];
}

static inline void tx_commit(ms_worker_t *w, ms_transport_t *t, int len) {
    if (t->rec_buf) { recorder_append(w, t, w->tx_buf[w->tx_n], len); return; }
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
#endif
