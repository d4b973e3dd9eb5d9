/*
 * drive.c - a minimal load driver for the C floor (measurements only; the real client is bench/loadgen).
 *
 *   drive --port P --seed S --receivers N --pps R --size B --fps F --seconds T
 *
 * One sender ("drvpub", send) and N receivers ("drvrN", recv) on 127.0.0.1. The sender sends R
 * SRTP packets per second (AEAD_AES_128_GCM, key "drvpub-up") as F frames per second: every packet
 * of a frame has B bytes of RTP payload except the frame's last, which has B/2 (like a packetizer),
 * all of a frame leave at once. Receivers drain their sockets with recvmmsg; the first packet of each
 * receiver is decrypted with its "drvrN-down" key to check the keys. Prints one JSON object.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "srtp.h"

#define MAX_RECV 4096
#define RB 32

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static srtp_ctx_t *ctx_for(const char *seed, const char *label)
{
    char s[512];
    uint8_t h[32];
    unsigned int n;
    snprintf(s, sizeof s, "%s:%s", seed, label);
    EVP_Digest(s, strlen(s), h, &n, EVP_sha256(), NULL);
    return srtp_ctx_new(SRTP_PROFILE_AEAD_AES_128_GCM, h, h + 16);
}

static int udp_socket(int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("drive: socket");
        exit(1);
    }
    return fd;
}

int main(int argc, char **argv)
{
    int port = 0, nrecv = 400, pps = 300, size = 1100, fps = 30;
    double seconds = 5;
    const char *seed = "0";
    static const struct option opts[] = {{"port", 1, 0, 'p'}, {"seed", 1, 0, 's'},    {"receivers", 1, 0, 'n'},
                                         {"pps", 1, 0, 'r'},  {"size", 1, 0, 'b'},    {"fps", 1, 0, 'f'},
                                         {"seconds", 1, 0, 't'}, {0, 0, 0, 0}};
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        switch (c) {
        case 'p': port = atoi(optarg); break;
        case 's': seed = optarg; break;
        case 'n': nrecv = atoi(optarg); break;
        case 'r': pps = atoi(optarg); break;
        case 'b': size = atoi(optarg); break;
        case 'f': fps = atoi(optarg); break;
        case 't': seconds = atof(optarg); break;
        default: return 2;
        }
    }
    if (port <= 0 || nrecv < 1 || nrecv > MAX_RECV || pps < 1 || fps < 1 || size < 16 || size > 1400 ||
        seconds <= 0 || seconds > 600)
        return 2;
    struct sockaddr_in floor = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

    int tx = udp_socket(1 << 20);
    srtp_ctx_t *txc = ctx_for(seed, "drvpub-up");
    static int rfd[MAX_RECV];
    static srtp_ctx_t *rxc[MAX_RECV];
    static int checked[MAX_RECV];
    int ep = epoll_create1(0);
    char hello[64];
    for (int i = 0; i < nrecv; i++) {
        rfd[i] = udp_socket(1 << 20);
        char label[32];
        snprintf(label, sizeof label, "drvr%d-down", i);
        rxc[i] = ctx_for(seed, label);
        int n = snprintf(hello, sizeof hello, "FLOOR drvr%d recv", i);
        sendto(rfd[i], hello, (size_t)n, 0, (struct sockaddr *)&floor, sizeof floor);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, rfd[i], &ev);
    }
    int n = snprintf(hello, sizeof hello, "FLOOR drvpub send");
    sendto(tx, hello, (size_t)n, 0, (struct sockaddr *)&floor, sizeof floor);
    usleep(100000);

    static uint8_t rbuf[RB][2048];
    struct iovec riov[RB];
    struct mmsghdr rmsg[RB];
    for (int i = 0; i < RB; i++) {
        riov[i].iov_base = rbuf[i];
        riov[i].iov_len = sizeof rbuf[i];
        memset(&rmsg[i], 0, sizeof rmsg[i]);
        rmsg[i].msg_hdr.msg_iov = &riov[i];
        rmsg[i].msg_hdr.msg_iovlen = 1;
    }

    int per_frame = pps / fps > 0 ? pps / fps : 1;
    uint8_t pkt[2048];
    uint16_t seq = 0;
    uint32_t ts = 0;
    uint64_t sent = 0, frames = 0, rx_packets = 0, rx_bytes = 0, send_errors = 0, bad_keys = 0, good_keys = 0;
    double t0 = now_s(), end = t0 + seconds, next_frame = t0;
    struct epoll_event evs[256];
    while (1) {
        double t = now_s();
        if (t >= end + 0.3)
            break;
        if (t < end && t >= next_frame) {
            for (int k = 0; k < per_frame; k++) {
                int plen = (k == per_frame - 1 && per_frame > 1) ? size / 2 : size;
                pkt[0] = 0x80;
                pkt[1] = (uint8_t)(96 | (k == per_frame - 1 ? 0x80 : 0));
                pkt[2] = (uint8_t)(seq >> 8); pkt[3] = (uint8_t)seq;
                pkt[4] = (uint8_t)(ts >> 24); pkt[5] = (uint8_t)(ts >> 16); pkt[6] = (uint8_t)(ts >> 8); pkt[7] = (uint8_t)ts;
                pkt[8] = 0x12; pkt[9] = 0x34; pkt[10] = 0x56; pkt[11] = 0x78;
                memset(pkt + 12, (int)(seq & 0xff), (size_t)plen);
                seq++;
                int l = srtp_protect_rtp(txc, pkt, 12 + plen, sizeof pkt);
                if (l < 0 || sendto(tx, pkt, (size_t)l, 0, (struct sockaddr *)&floor, sizeof floor) < 0)
                    send_errors++;
                else
                    sent++;
            }
            ts += 90000 / (uint32_t)fps;
            frames++;
            next_frame = t0 + (double)frames / fps;
        }
        double wait = next_frame - now_s();
        int timeout = t < end ? (int)(wait * 1000) : 50;
        if (timeout < 0)
            timeout = 0;
        int ne = epoll_wait(ep, evs, 256, timeout);
        for (int e = 0; e < ne; e++) {
            int i = (int)evs[e].data.u32;
            for (int guard = 0; guard < 64; guard++) {
                int r = recvmmsg(rfd[i], rmsg, RB, MSG_DONTWAIT, NULL);
                if (r <= 0)
                    break;
                for (int m = 0; m < r; m++) {
                    rx_packets++;
                    rx_bytes += rmsg[m].msg_len;
                }
                if (!checked[i]) {
                    checked[i] = 1;
                    if (srtp_unprotect_rtp(rxc[i], rbuf[0], (int)rmsg[0].msg_len) < 0)
                        bad_keys++;
                    else
                        good_keys++;
                }
                if (r < RB)
                    break;
            }
        }
    }
    printf("{\"sent\": %llu, \"send_errors\": %llu, \"rx_packets\": %llu, \"rx_bytes\": %llu, "
           "\"receivers_checked\": %llu, \"bad_keys\": %llu, \"seconds\": %.3f}\n",
           (unsigned long long)sent, (unsigned long long)send_errors, (unsigned long long)rx_packets,
           (unsigned long long)rx_bytes, (unsigned long long)good_keys, (unsigned long long)bad_keys,
           now_s() - t0);
    n = snprintf(hello, sizeof hello, "FLOOR-BYE drvpub");
    sendto(tx, hello, (size_t)n, 0, (struct sockaddr *)&floor, sizeof floor);
    for (int i = 0; i < nrecv; i++) {
        n = snprintf(hello, sizeof hello, "FLOOR-BYE");
        sendto(rfd[i], hello, (size_t)n, 0, (struct sockaddr *)&floor, sizeof floor);
        close(rfd[i]);
        srtp_ctx_free(rxc[i]);
    }
    srtp_ctx_free(txc);
    close(tx);
    close(ep);
    return 0;
}
