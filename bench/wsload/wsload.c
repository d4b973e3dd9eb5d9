/* wsload: N lightweight WebSocket clients in one epoll loop (bench/interaction.py, issue 16).
 *
 * Each client connects to ws://HOST:PORT/PATH, upgrades (no extensions), sends
 *   {"id":1,"method":"join","params":{"token":"...","device":"desktop"}}
 * and stays. Joins start together (at most --inflight connections handshaking at once: the join storm);
 * time to joined = connect start -> the reply with "id":1. Then for --seconds, --chat-senders clients send
 * --chat-rate chat messages a second in all and --react-senders clients --react-rate reactions a second;
 * each chat text is "wsl:<msg number>:<CLOCK_MONOTONIC ns at send>", so every receiver computes the delivery
 * time (one process, one clock) without a JSON parse: it only looks for "wsl:" in each text frame. Each client
 * keeps a bitmap of the message numbers it got: lost = accepted messages a connected client never received.
 * A fraction (--nonreading) of the clients read their join reply and then never read again (a small
 * SO_RCVBUF): the server must drop them, not buffer for them.
 *
 * Pings are answered (aiohttp's heartbeat). The result is one JSON object on stdout; progress on stderr.
 * Built by bench/interaction.py with the system C compiler (cc -O2), or by setup.py with
 * MEDIASERVER_BUILD_TESTING=1 (see bench/wsload/build.py). Linux only (epoll).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RBUF 65536
#define HIST_MS 20000 /* delivery histogram: 1 ms buckets up to 20 s */

enum { S_IDLE, S_CONNECTING, S_HANDSHAKE, S_JOINING, S_JOINED, S_FAILED, S_CLOSED };

typedef struct {
    int fd, state, nonreading, dropped;
    uint32_t rlen;
    uint8_t *rbuf;
    int64_t t_start, t_joined;
    uint64_t bytes_steady;
    uint32_t got, dup;
    uint8_t *seen; /* bitmap of message numbers */
    int next_id;
    char *token;
    int join_error;
} Client;

static Client *C;
static int N, inflight_max = 256, port;
static char host[64] = "127.0.0.1", path[256] = "/ws";
static double seconds = 60, chat_rate = 20, react_rate = 100, nonreading_frac = 0, drain_s = 3,
              join_timeout = 120;
static int chat_senders = 40, react_senders = 100;
static int ep;
static uint64_t hist[HIST_MS + 1];
static int64_t delay_max_ns;
static uint64_t delays;
static int steady = 0;
static int64_t steady_t0;
#define SECS 3600
static double sec_max_ms[SECS]; /* the slowest delivery received in each second of the steady phase */
static uint32_t max_msgs;
static uint32_t sent_chat, accepted_chat, refused_chat, sent_react, accepted_react, refused_react;
static int64_t *join_ms_list;
static int joined_n, failed_n;
static char last_error[256];
static uint32_t mask_ctr = 0x9e3779b9u;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint32_t rnd(void) {
    mask_ctr ^= mask_ctr << 13;
    mask_ctr ^= mask_ctr >> 17;
    mask_ctr ^= mask_ctr << 5;
    return mask_ctr;
}

static void fail(Client *c, const char *why) {
    if (c->state == S_JOINED) c->dropped = 1;
    if (c->state != S_JOINED && c->state != S_FAILED && c->state != S_CLOSED) {
        failed_n++;
        snprintf(last_error, sizeof last_error, "%s", why);
    }
    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->state = c->state == S_JOINED ? S_CLOSED : S_FAILED;
}

/* a masked client text (opcode 1) or pong (opcode 10) frame */
static int send_frame(Client *c, int opcode, const char *p, size_t n) {
    uint8_t buf[8192];
    size_t h = 0;
    if (n > sizeof buf - 14) return -1;
    buf[h++] = 0x80 | opcode;
    if (n < 126) {
        buf[h++] = 0x80 | n;
    } else {
        buf[h++] = 0x80 | 126;
        buf[h++] = n >> 8;
        buf[h++] = n & 0xff;
    }
    uint32_t m = rnd();
    uint8_t mk[4] = {m >> 24, m >> 16, m >> 8, m};
    memcpy(buf + h, mk, 4);
    h += 4;
    for (size_t i = 0; i < n; i++) buf[h + i] = p[i] ^ mk[i & 3];
    ssize_t w = send(c->fd, buf, h + n, MSG_NOSIGNAL);
    return w == (ssize_t)(h + n) ? 0 : -1; /* small frames into an empty socket buffer: all or error */
}

static void start_connect(Client *c) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        fail(c, "socket() failed (ulimit -n?)");
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (c->nonreading) {
        int small = 4096;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    c->fd = fd;
    c->t_start = now_ns();
    c->state = S_CONNECTING;
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) fail(c, "connect failed");
}

static void send_upgrade(Client *c) {
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                     "User-Agent: wsload\r\n\r\n",
                     path, host, port);
    if (send(c->fd, req, n, MSG_NOSIGNAL) != n) {
        fail(c, "upgrade send failed");
        return;
    }
    c->state = S_HANDSHAKE;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void send_join(Client *c) {
    char msg[2048];
    int n = snprintf(msg, sizeof msg, "{\"id\":1,\"method\":\"join\",\"params\":{\"token\":\"%s\",\"device\":\"desktop\"}}",
                     c->token);
    c->next_id = 1;
    if (send_frame(c, 1, msg, n) < 0) fail(c, "join send failed");
    else c->state = S_JOINING;
}

static const char *find(const char *h, size_t hn, const char *needle) {
    return memmem(h, hn, needle, strlen(needle));
}

static void on_text(Client *c, const char *p, size_t n) {
    /* replies: {"id": K, "result": ...} or {"id": K, "error": ...}; K = 1 the join, odd chat, even react */
    if (n > 6 && memcmp(p, "{\"id\":", 6) == 0) {
        char *e;
        long k = strtol(p + 6, &e, 10);
        size_t rest = n - (e - p);
        int ok = find(e, rest < 16 ? rest : 16, "\"result\"") != NULL;
        if (k == 1 && c->state == S_JOINING) {
            if (ok) {
                c->state = S_JOINED;
                c->t_joined = now_ns();
                join_ms_list[joined_n++] = (c->t_joined - c->t_start) / 1000;
                if (c->nonreading) { /* from now on it never reads */
                    struct epoll_event ev = {.events = 0, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                }
            } else {
                c->join_error = 1;
                char why[256];
                snprintf(why, sizeof why, "join refused: %.*s", (int)(n < 200 ? n : 200), p);
                fail(c, why);
            }
        } else if (k >= 3) {
            if (k & 1) ok ? accepted_chat++ : refused_chat++;
            else ok ? accepted_react++ : refused_react++;
            if (!ok) snprintf(last_error, sizeof last_error, "%.*s", (int)(n < 200 ? n : 200), p);
        }
        return;
    }
    if (c->state != S_JOINED) return;
    int64_t t = now_ns();
    const char *q = p, *end = p + n;
    while ((q = memmem(q, end - q, "wsl:", 4)) != NULL) {
        q += 4;
        char *e;
        unsigned long k = strtoul(q, &e, 10);
        if (*e != ':') continue;
        long long ts = strtoll(e + 1, &e, 10);
        q = e;
        if (k < max_msgs) {
            if (c->seen[k >> 3] & (1u << (k & 7))) {
                c->dup++;
                continue;
            }
            c->seen[k >> 3] |= 1u << (k & 7);
        }
        c->got++;
        int64_t d = t - ts;
        if (d < 0) d = 0;
        if (d > delay_max_ns) delay_max_ns = d;
        if (steady_t0) {
            int64_t sec = (t - steady_t0) / 1000000000LL;
            if (sec >= 0 && sec < SECS && d / 1e6 > sec_max_ms[sec]) sec_max_ms[sec] = d / 1e6;
        }
        int64_t ms = d / 1000000;
        hist[ms > HIST_MS ? HIST_MS : ms]++;
        delays++;
    }
}

/* parse what is buffered: the HTTP 101 answer, then server frames (unmasked) */
static void consume(Client *c) {
    uint8_t *b = c->rbuf;
    uint32_t off = 0;
    if (c->state == S_HANDSHAKE) {
        uint8_t *e = memmem(b, c->rlen, "\r\n\r\n", 4);
        if (!e) return;
        if (c->rlen < 12 || memcmp(b + 9, "101", 3) != 0) {
            char why[128];
            snprintf(why, sizeof why, "upgrade refused: %.40s", (char *)b);
            fail(c, why);
            return;
        }
        off = (e - b) + 4;
        send_join(c);
        if (c->state == S_FAILED) return;
    }
    while (c->fd >= 0 && c->rlen - off >= 2) {
        uint8_t *f = b + off;
        uint32_t avail = c->rlen - off;
        int opcode = f[0] & 0x0f;
        uint64_t len = f[1] & 0x7f;
        uint32_t h = 2;
        if (len == 126) {
            if (avail < 4) break;
            len = (f[2] << 8) | f[3];
            h = 4;
        } else if (len == 127) {
            if (avail < 10) break;
            len = 0;
            for (int i = 0; i < 8; i++) len = (len << 8) | f[2 + i];
            h = 10;
        }
        if (len > RBUF - 16) {
            fail(c, "frame too large");
            return;
        }
        if (avail < h + len) break;
        if (opcode == 1 || opcode == 0) on_text(c, (char *)f + h, len);
        else if (opcode == 9) { /* ping -> pong */
            if (send_frame(c, 10, (char *)f + h, len) < 0) { fail(c, "pong failed"); return; }
        } else if (opcode == 8) {
            fail(c, "closed by the server");
            return;
        }
        off += h + len;
    }
    if (off) {
        memmove(b, b + off, c->rlen - off);
        c->rlen -= off;
    }
}

static void on_readable(Client *c) {
    for (;;) {
        if (c->rlen >= RBUF) { fail(c, "read buffer full"); return; }
        ssize_t r = recv(c->fd, c->rbuf + c->rlen, RBUF - c->rlen, 0);
        if (r > 0) {
            c->rlen += r;
            if (steady) c->bytes_steady += r;
            consume(c);
            if (c->fd < 0) return;
            if ((size_t)r < 4096) return; /* most likely drained */
            continue;
        }
        if (r == 0) { fail(c, "eof"); return; }
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        fail(c, strerror(errno));
        return;
    }
}

static double pct(double q) {
    if (!delays) return -1;
    uint64_t want = (uint64_t)(q * delays), acc = 0;
    if (want >= delays) want = delays - 1;
    for (int i = 0; i <= HIST_MS; i++) {
        acc += hist[i];
        if (acc > want) return i + 0.5;
    }
    return HIST_MS;
}

static int cmp64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double cpu_s(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

static void loop_for(int64_t until, int phase_join) {
    struct epoll_event evs[512];
    while (now_ns() < until) {
        int timeout = (until - now_ns()) / 1000000;
        if (timeout > 5) timeout = 5;
        if (timeout < 0) timeout = 0;
        int k = epoll_wait(ep, evs, 512, timeout);
        for (int i = 0; i < k; i++) {
            Client *c = evs[i].data.ptr;
            if (c->fd < 0) continue;
            if (c->state == S_CONNECTING) {
                int err = 0;
                socklen_t l = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
                if (err) { fail(c, strerror(err)); continue; }
                send_upgrade(c);
                continue;
            }
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c);
        }
        if (phase_join) return;
    }
}

int main(int argc, char **argv) {
    const char *tokfile = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--port")) port = atoi(v);
        else if (!strcmp(k, "--host")) snprintf(host, sizeof host, "%s", v);
        else if (!strcmp(k, "--path")) snprintf(path, sizeof path, "%s", v);
        else if (!strcmp(k, "--tokens")) tokfile = v;
        else if (!strcmp(k, "--seconds")) seconds = atof(v);
        else if (!strcmp(k, "--chat-rate")) chat_rate = atof(v);
        else if (!strcmp(k, "--react-rate")) react_rate = atof(v);
        else if (!strcmp(k, "--chat-senders")) chat_senders = atoi(v);
        else if (!strcmp(k, "--react-senders")) react_senders = atoi(v);
        else if (!strcmp(k, "--nonreading")) nonreading_frac = atof(v);
        else if (!strcmp(k, "--inflight")) inflight_max = atoi(v);
        else if (!strcmp(k, "--drain")) drain_s = atof(v);
        else if (!strcmp(k, "--join-timeout")) join_timeout = atof(v);
        else { fprintf(stderr, "unknown option %s\n", k); return 2; }
    }
    if (!tokfile || !port) { fprintf(stderr, "usage: wsload --port P --tokens FILE [options]\n"); return 2; }
    FILE *tf = fopen(tokfile, "r");
    if (!tf) { perror(tokfile); return 2; }
    char line[4096];
    int cap = 1024;
    char **toks = malloc(cap * sizeof *toks);
    N = 0;
    while (fgets(line, sizeof line, tf)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!*line) continue;
        if (N == cap) toks = realloc(toks, (cap *= 2) * sizeof *toks);
        toks[N++] = strdup(line);
    }
    fclose(tf);
    max_msgs = (uint32_t)(chat_rate * seconds) + 64;
    C = calloc(N, sizeof *C);
    join_ms_list = calloc(N, sizeof *join_ms_list);
    int n_nonreading = (int)(N * nonreading_frac + 0.5);
    if (chat_senders + react_senders > N - n_nonreading) {
        chat_senders = (N - n_nonreading) / 3 + 1;
        react_senders = (N - n_nonreading) / 3 + 1;
    }
    for (int i = 0; i < N; i++) {
        C[i].fd = -1;
        C[i].token = toks[i];
        C[i].rbuf = malloc(RBUF);
        C[i].seen = calloc((max_msgs + 7) / 8, 1);
        /* the non-reading clients are the last ones; the senders the first ones */
        C[i].nonreading = i >= N - n_nonreading;
    }
    ep = epoll_create1(0);
    double cpu0 = cpu_s();
    int64_t t0 = now_ns(), join_deadline = t0 + (int64_t)(join_timeout * 1e9);
    int next = 0;
    /* ---- the join storm ---- */
    while (now_ns() < join_deadline) {
        int pending = 0;
        for (int i = 0; i < next; i++)
            if (C[i].state == S_CONNECTING || C[i].state == S_HANDSHAKE || C[i].state == S_JOINING) pending++;
        while (next < N && pending < inflight_max) {
            start_connect(&C[next++]);
            pending++;
        }
        if (next == N && pending == 0) break;
        loop_for(now_ns() + 5000000, 1);
    }
    int64_t t_joined_all = now_ns();
    double cpu_join = cpu_s() - cpu0;
    fprintf(stderr, "wsload: %d joined, %d failed in %.2f s\n", joined_n, failed_n, (t_joined_all - t0) / 1e9);
    /* settle a second (snapshots, joins' notifications) */
    loop_for(now_ns() + 1000000000LL, 0);
    /* ---- steady: chat and reactions ---- */
    for (int i = 0; i < N; i++) C[i].bytes_steady = 0;
    steady = 1;
    double cpu1 = cpu_s();
    int64_t s0 = now_ns(), s_end = s0 + (int64_t)(seconds * 1e9);
    steady_t0 = s0;
    double chat_iv = chat_rate > 0 ? 1e9 / chat_rate : 1e18, react_iv = react_rate > 0 ? 1e9 / react_rate : 1e18;
    int64_t next_chat = s0, next_react = s0 + (int64_t)(react_iv / 2);
    uint32_t chat_i = 0, react_i = 0;
    static const char *emoji[] = {"\\ud83d\\udc4d", "\\ud83d\\udc4f", "\\ud83c\\udf89"};
    while (now_ns() < s_end) {
        int64_t t = now_ns();
        while (t >= next_chat && chat_i < max_msgs) {
            Client *c = &C[chat_i % chat_senders];
            if (c->state == S_JOINED) {
                char msg[256];
                int id = 2 * c->next_id++ + 1;
                int n = snprintf(msg, sizeof msg,
                                 "{\"id\":%d,\"method\":\"chat.send\",\"params\":{\"text\":\"wsl:%u:%lld\"}}", id,
                                 chat_i, (long long)now_ns());
                if (send_frame(c, 1, msg, n) < 0) fail(c, "send failed");
                else sent_chat++;
            }
            chat_i++;
            next_chat += (int64_t)chat_iv;
        }
        while (t >= next_react) {
            Client *c = &C[chat_senders + (react_i % react_senders)];
            if (c->state == S_JOINED) {
                char msg[160];
                int id = 2 * c->next_id++ + 2;
                int n = snprintf(msg, sizeof msg, "{\"id\":%d,\"method\":\"react\",\"params\":{\"emoji\":\"%s\"}}", id,
                                 emoji[react_i % 3]);
                if (send_frame(c, 1, msg, n) < 0) fail(c, "send failed");
                else sent_react++;
            }
            react_i++;
            next_react += (int64_t)react_iv;
        }
        int64_t nx = next_chat < next_react ? next_chat : next_react;
        loop_for(nx < s_end ? nx : s_end, 0);
    }
    double cpu_steady = cpu_s() - cpu1;
    int64_t s_len = now_ns() - s0;
    /* ---- drain: the last messages arrive ---- */
    loop_for(now_ns() + (int64_t)(drain_s * 1e9), 0);
    steady = 0;
    double cpu_all = cpu_s() - cpu0;
    /* ---- figures ---- */
    int reading_joined = 0, nonreading_joined = 0, dropped_reading = 0, nonreading_cut = 0;
    uint64_t lost = 0, dups = 0, bytes = 0;
    for (int i = 0; i < N; i++) {
        Client *c = &C[i];
        if (c->t_joined == 0) continue;
        if (c->nonreading) {
            nonreading_joined++;
            /* did the server cut it off? read what is there until EOF/RST or nothing more */
            if (c->fd >= 0) {
                fcntl(c->fd, F_SETFL, O_NONBLOCK);
                char tmp[65536];
                for (int j = 0; j < 1000; j++) {
                    ssize_t r = recv(c->fd, tmp, sizeof tmp, 0);
                    if (r == 0 || (r < 0 && errno != EAGAIN)) { nonreading_cut++; break; }
                    if (r < 0) break;
                }
            } else nonreading_cut++;
            continue;
        }
        reading_joined++;
        if (c->dropped) { dropped_reading++; continue; }
        bytes += c->bytes_steady;
        dups += c->dup;
        /* lost: accepted messages (numbers < chat_i sent by a joined sender) this client never got */
        if (accepted_chat > c->got) lost += accepted_chat - c->got;
    }
    qsort(join_ms_list, joined_n, sizeof *join_ms_list, cmp64);
#define JQ(q) (joined_n ? join_ms_list[(int)((q) * (joined_n - 1))] / 1000.0 : -1)
    double join_s = (t_joined_all - t0) / 1e9;
    printf("{\"clients\":%d,\"nonreading\":%d,\"joined\":%d,\"join_failed\":%d,\"join_seconds\":%.3f,"
           "\"joins_per_s\":%.1f,\"join_ms\":{\"p50\":%.1f,\"p99\":%.1f,\"max\":%.1f},"
           "\"steady_seconds\":%.3f,\"chat\":{\"sent\":%u,\"accepted\":%u,\"refused\":%u,\"senders\":%d},"
           "\"reactions\":{\"sent\":%u,\"accepted\":%u,\"refused\":%u,\"senders\":%d},"
           "\"delivery_ms\":{\"count\":%llu,\"p50\":%.1f,\"p99\":%.1f,\"max\":%.1f},"
           "\"lost\":%llu,\"duplicates\":%llu,\"reading_joined\":%d,\"reading_dropped\":%d,"
           "\"nonreading_joined\":%d,\"nonreading_cut_off\":%d,"
           "\"bytes_per_attendee_per_s\":%.1f,"
           "\"harness_cpu_s\":{\"join\":%.3f,\"steady\":%.3f,\"total\":%.3f},"
           "\"harness_cpu_fraction_steady\":%.3f,\"last_error\":\"",
           N, n_nonreading, joined_n, failed_n, join_s, join_s > 0 ? joined_n / join_s : 0, JQ(0.5), JQ(0.99),
           JQ(1.0), s_len / 1e9, sent_chat, accepted_chat, refused_chat, chat_senders, sent_react, accepted_react,
           refused_react, react_senders, (unsigned long long)delays, pct(0.5), pct(0.99), delay_max_ns / 1e6,
           (unsigned long long)lost, (unsigned long long)dups, reading_joined, dropped_reading, nonreading_joined,
           nonreading_cut,
           reading_joined - dropped_reading > 0 ? bytes / (double)(reading_joined - dropped_reading) / (s_len / 1e9)
                                               : 0,
           cpu_join, cpu_steady, cpu_all, cpu_steady / (s_len / 1e9));
    for (char *p = last_error; *p; p++) putchar(*p == '"' || *p == '\\' ? '\'' : (*p < 32 ? ' ' : *p));
    printf("\",\"delivery_max_ms_per_s\":[");
    int secs = (int)(seconds + drain_s);
    for (int i = 0; i < secs && i < SECS; i++) printf("%s%.0f", i ? "," : "", sec_max_ms[i]);
    printf("]}\n");
    return 0;
}
