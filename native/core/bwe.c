/* Bandwidth estimation: transport-cc feedback, REMB and a GCC-style send-side estimator (see bwe.h). */
#include "bwe.h"

#include <math.h>
#include <string.h>

#include "util.h"

#define RX_MASK (TWCC_RX_RING - 1)
#define SEQ_BASE ((int64_t)1 << 32)   /* extended sequence numbers start here: never negative */

/* floor(a / b) for b > 0, defined for every a */
static inline int64_t fdiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -(-(a + 1) / b) - 1; }
/* a - b with wrap-around instead of overflow: times come from callers and feedback, never trusted */
static inline int64_t sub64(int64_t a, int64_t b) { return (int64_t)((uint64_t)a - (uint64_t)b); }
static inline int64_t clamp64(int64_t v, int64_t lim) { return v > lim ? lim : v < -lim ? -lim : v; }
static inline int64_t fmod64(int64_t a, int64_t b) { return a - fdiv(a, b) * b; }
static inline uint32_t clamp_bps(double v, uint32_t lo, uint32_t hi) {
    if (!(v > (double)lo)) return lo;   /* also NaN */
    if (v >= (double)hi) return hi;
    return (uint32_t)v;
}
static inline double dmin(double a, double b) { return a < b ? a : b; }
static inline double dmax(double a, double b) { return a > b ? a : b; }

/* ================================================================ receive side */

void twcc_rx_init(twcc_rx_t *r) { memset(r, 0, sizeof *r); }

/* Full arrival time of a ring entry: within +-35 minutes of the latest arrival passed in. */
static inline uint64_t rx_time(const twcc_rx_t *r, uint32_t lo) {
    return r->last_arrival_us - (uint64_t)(int64_t)(int32_t)((uint32_t)r->last_arrival_us - lo);
}

static void rx_restart(twcc_rx_t *r, uint16_t seq, uint64_t arrival_us) {
    for (int i = 0; i < TWCC_RX_RING; i++) r->ring[i].used = 0;
    r->started = 1;
    r->sent_any = 0;
    r->ignored_run = 0;
    r->pending = 1;
    r->next_seq = r->max_seq = SEQ_BASE + seq;
    r->last_arrival_us = arrival_us;
    twcc_rx_slot_t *s = &r->ring[seq & RX_MASK];
    s->used = 1; s->seq = seq; s->arrival_lo = (uint32_t)arrival_us;
}

void twcc_rx_on_packet(twcc_rx_t *r, uint16_t seq, uint64_t arrival_us) {
    if (!r->started) { rx_restart(r, seq, arrival_us); return; }
    int64_t ext = r->max_seq + seq_diff(seq, (uint16_t)r->max_seq);
    if (ext < r->next_seq) {
        if (!r->sent_any && r->max_seq - ext < TWCC_RX_RING) {
            r->next_seq = ext;                 /* reordered before the first feedback: report it too */
        } else {
            if (++r->ignored_run >= 128) rx_restart(r, seq, arrival_us);  /* the sender renumbered */
            return;
        }
    }
    r->ignored_run = 0;
    if (ext > r->max_seq) {
        if (ext - r->next_seq >= TWCC_RX_RING) {  /* keep the window at TWCC_RX_RING: drop the oldest */
            int64_t nn = ext - TWCC_RX_RING + 1;
            if (nn - r->next_seq >= TWCC_RX_RING) {
                for (int i = 0; i < TWCC_RX_RING; i++) r->ring[i].used = 0;
                r->pending = 0;
            } else {
                for (int64_t s = r->next_seq; s < nn; s++) {
                    twcc_rx_slot_t *sl = &r->ring[(uint64_t)s & RX_MASK];
                    if (sl->used) { sl->used = 0; r->pending--; }
                }
            }
            r->next_seq = nn;
        }
        r->max_seq = ext;
    }
    twcc_rx_slot_t *sl = &r->ring[(uint64_t)ext & RX_MASK];
    if (sl->used) return;                      /* duplicate: keep the first arrival */
    sl->used = 1;
    sl->seq = seq;
    sl->arrival_lo = (uint32_t)arrival_us;
    r->last_arrival_us = arrival_us;
    r->pending++;
}

/* Packet status chunks for n symbols (0 lost, 1 small delta, 2 large delta); returns bytes written. */
static int encode_chunks(const uint8_t *sym, int n, uint8_t *out) {
    int i = 0, o = 0;
    while (i < n) {
        int run = 1;
        while (i + run < n && sym[i + run] == sym[i] && run < 8191) run++;
        int left = n - i, small = 1;
        for (int k = 0; k < left && k < 14; k++)
            if (sym[i + k] > 1) { small = 0; break; }
        uint16_t c;
        if (run >= 14 || (!small && run >= 7)) {
            c = (uint16_t)((sym[i] << 13) | run);
            i += run;
        } else if (small) {
            c = 0x8000;
            for (int k = 0; k < 14 && k < left; k++) c |= (uint16_t)(sym[i + k] << (13 - k));
            i += left < 14 ? left : 14;
        } else {
            c = 0xC000;
            for (int k = 0; k < 7 && k < left; k++) c |= (uint16_t)(sym[i + k] << (12 - 2 * k));
            i += left < 7 ? left : 7;
        }
        wr16(out + o, c);
        o += 2;
    }
    return o;
}

int twcc_rx_build(twcc_rx_t *r, uint8_t *out, int cap, uint32_t sender_ssrc, uint32_t media_ssrc) {
    if (!r || !out || !r->started || r->pending == 0 || cap < TWCC_FB_MIN) return 0;
    int64_t begin = r->next_seq;
    int64_t total = r->max_seq - begin + 1;
    if (total <= 0) return 0;
    if (total > TWCC_RX_RING) total = TWCC_RX_RING;
    uint8_t sym[TWCC_RX_RING];
    int16_t dl[TWCC_RX_RING];
    uint8_t chunks[2 * (TWCC_RX_RING / 7 + 2)];
    uint64_t ref_base = 0;
    int64_t prev_q = 0;
    int n = 0, have_ref = 0;
    for (; n < total; n++) {
        const twcc_rx_slot_t *s = &r->ring[(uint64_t)(begin + n) & RX_MASK];
        if (!s->used) { sym[n] = 0; continue; }
        uint64_t t = rx_time(r, s->arrival_lo);
        if (!have_ref) { have_ref = 1; ref_base = t / 64000 * 64000; }
        int64_t q = fdiv(clamp64((int64_t)(t - ref_base), (int64_t)1 << 50) + 125, 250);
        int64_t d = q - prev_q;
        if (d >= 0 && d <= 255) sym[n] = 1;
        else if (d >= -32768 && d <= 32767) sym[n] = 2;
        else break;                            /* more than 8 s apart: the next packet continues */
        dl[n] = (int16_t)d;
        prev_q = q;
    }
    int nc, nd, size;
    for (;;) {                                 /* shrink to fit cap */
        nc = encode_chunks(sym, n, chunks);
        nd = 0;
        for (int i = 0; i < n; i++) nd += sym[i];   /* 1 or 2 bytes per symbol 1 or 2 */
        size = 20 + nc + nd;
        int padded = (size + 3) & ~3;
        if (padded <= cap || n <= 1) break;
        int nn = (int)((int64_t)n * (cap - 24) / (padded - 20));
        n = nn < n - 1 ? (nn < 1 ? 1 : nn) : n - 1;
    }
    int padded = (size + 3) & ~3, pad = padded - size;
    if (padded > cap) return 0;
    out[0] = (uint8_t)(0x80 | (pad ? 0x20 : 0) | 15);
    out[1] = 205;
    wr16(out + 2, (uint16_t)(padded / 4 - 1));
    wr32(out + 4, sender_ssrc);
    wr32(out + 8, media_ssrc);
    wr16(out + 12, (uint16_t)begin);
    wr16(out + 14, (uint16_t)n);
    wr24(out + 16, (uint32_t)(ref_base / 64000) & 0xFFFFFF);
    out[19] = r->fb_count++;
    memcpy(out + 20, chunks, (size_t)nc);
    int o = 20 + nc;
    for (int i = 0; i < n; i++) {
        if (sym[i] == 1) out[o++] = (uint8_t)dl[i];
        else if (sym[i] == 2) { wr16(out + o, (uint16_t)dl[i]); o += 2; }
    }
    if (pad) {
        memset(out + o, 0, (size_t)pad);
        out[padded - 1] = (uint8_t)pad;
    }
    for (int i = 0; i < n; i++) {
        twcc_rx_slot_t *s = &r->ring[(uint64_t)(begin + i) & RX_MASK];
        if (s->used) { s->used = 0; r->pending--; }
    }
    r->next_seq = begin + n;
    r->sent_any = 1;
    return padded;
}

/* ================================================================ parsing */

static inline int chunk_count(uint16_t c) { return (c & 0x8000) ? ((c & 0x4000) ? 7 : 14) : (c & 0x1FFF); }
static inline int chunk_symbol(uint16_t c, int k) {
    if (!(c & 0x8000)) return (c >> 13) & 3;
    if (c & 0x4000) return (c >> (12 - 2 * k)) & 3;
    return (c >> (13 - k)) & 1;
}

int twcc_parse(const uint8_t *p, int len, twcc_result_t *out, int max, uint8_t *fb_count) {
    if (!p || len < 20) return -1;
    if ((p[0] >> 6) != 2 || (p[0] & 0x1F) != 15 || p[1] != 205) return -1;
    int plen = (rd16(p + 2) + 1) * 4;
    if (plen > len || plen < 20) return -1;
    if (p[0] & 0x20) {
        int pad = p[plen - 1];
        if (pad == 0 || pad > plen - 20) return -1;
        plen -= pad;
    }
    int count = rd16(p + 14);
    if (count == 0) return -1;
    int pos = 20, seen = 0, dbytes = 0;
    while (seen < count) {                     /* pass 1: chunks cover count, deltas are present */
        if (pos + 2 > plen) return -1;
        uint16_t c = rd16(p + pos);
        pos += 2;
        int ns = chunk_count(c);
        if (ns > count - seen) ns = count - seen;
        if (!(c & 0x8000)) {
            int s = (c >> 13) & 3;
            dbytes += ns * (s == 1 ? 1 : s == 2 ? 2 : 0);
        } else {
            for (int k = 0; k < ns; k++) {
                int s = chunk_symbol(c, k);
                dbytes += s == 1 ? 1 : s == 2 ? 2 : 0;
            }
        }
        seen += ns;
    }
    if (pos + dbytes > plen) return -1;
    int dpos = pos, w = 0;
    if (max < 0 || !out) max = 0;
    uint16_t seq = rd16(p + 12);
    int64_t t = (int64_t)rd24(p + 16) * 64000;
    pos = 20;
    seen = 0;
    while (seen < count) {                     /* pass 2: emit */
        uint16_t c = rd16(p + pos);
        pos += 2;
        int ns = chunk_count(c);
        if (ns > count - seen) ns = count - seen;
        for (int k = 0; k < ns; k++) {
            int s = chunk_symbol(c, k);
            int64_t rv;
            if (s == 0) rv = TWCC_LOST;
            else if (s == 3) rv = TWCC_NO_TIME;
            else {
                if (s == 1) t += (int64_t)p[dpos++] * 250;
                else { t += (int64_t)(int16_t)rd16(p + dpos) * 250; dpos += 2; }
                rv = t < 0 ? 0 : t;
            }
            if (w < max) { out[w].seq = seq; out[w].recv_us = rv; w++; }
            seq++;
        }
        seen += ns;
    }
    if (fb_count) *fb_count = p[19];
    return w;
}

int remb_parse(const uint8_t *p, int len, uint32_t *bps) {
    if (!p || len < 20) return -1;
    if ((p[0] >> 6) != 2 || (p[0] & 0x1F) != 15 || p[1] != 206) return -1;
    int plen = (rd16(p + 2) + 1) * 4;
    if (plen > len || plen < 20) return -1;
    if (memcmp(p + 12, "REMB", 4) != 0) return -1;
    if (20 + 4 * p[16] > plen) return -1;
    unsigned exp = p[17] >> 2;
    uint32_t mant = ((uint32_t)(p[17] & 3) << 16) | rd16(p + 18);
    uint32_t v;
    if (mant == 0) v = 0;
    else if (exp >= 32 || mant > (UINT32_MAX >> exp)) v = UINT32_MAX;
    else v = mant << exp;
    if (bps) *bps = v;
    return 0;
}

int remb_build(uint8_t *out, uint32_t sender_ssrc, uint32_t bps, const uint32_t *ssrcs, int n) {
    if (n < 0 || !ssrcs) n = 0;
    if (n > 255) n = 255;
    unsigned exp = 0;
    uint32_t mant = bps;
    while (mant > 0x3FFFF) { mant >>= 1; exp++; }
    int len = 20 + 4 * n;
    out[0] = 0x80 | 15;
    out[1] = 206;
    wr16(out + 2, (uint16_t)(len / 4 - 1));
    wr32(out + 4, sender_ssrc);
    wr32(out + 8, 0);
    memcpy(out + 12, "REMB", 4);
    out[16] = (uint8_t)n;
    out[17] = (uint8_t)((exp << 2) | (mant >> 16));
    wr16(out + 18, (uint16_t)(mant & 0xFFFF));
    for (int i = 0; i < n; i++) wr32(out + 20 + 4 * i, ssrcs[i]);
    return len;
}

/* ================================================================ send side estimator */

#define GROUP_US 5000               /* send-time burst grouping */
#define TREND_SMOOTHING 0.9
#define TREND_GAIN 4.0
#define OVERUSE_TIME_MS 10.0
#define K_UP 0.0087
#define K_DOWN 0.039
#define BETA 0.85
#define TWCC_STALE_US 2000000       /* without feedback for this long, RR losses count again */
#define REMB_FRESH_US 3000000

void bwe_init(bwe_t *b, uint32_t start_bps, uint32_t min_bps, uint32_t max_bps) {
    memset(b, 0, sizeof *b);
    b->min_bps = min_bps < 1000 ? 1000 : min_bps;
    b->max_bps = max_bps < b->min_bps ? b->min_bps : max_bps;
    uint32_t s = clamp_bps(start_bps, b->min_bps, b->max_bps);
    b->est_bps = b->delay_bps = b->loss_bps = s;
    b->rtt_us = 100000;
    b->thr_ms = 12.5;
    b->time_over_ms = -1;
    b->thr_last_ms = -1;
    b->hypothesis = BWE_NORMAL;
    b->rc_state = BWE_HOLD;
    b->cap_kbps = -1;
    b->cap_dev = 0.4;
    for (int i = 0; i < BWE_ACK_BUCKETS; i++) b->ack_idx[i] = INT64_MIN;
    b->next_cluster = 1;
    b->probe_interval_us = 1000000;
    b->hist = calloc(BWE_HIST_MIN, sizeof(bwe_sent_t));
    b->hist_mask = b->hist ? BWE_HIST_MIN - 1 : 0;
}

void bwe_free(bwe_t *b) {
    if (!b) return;
    free(b->hist);
    b->hist = NULL;
    b->hist_mask = 0;
}

static inline int64_t hist_time(const bwe_t *b, uint32_t lo) {
    return (int64_t)(b->last_send_us - (uint64_t)(int64_t)(int32_t)((uint32_t)b->last_send_us - lo));
}

/* Double the history; entries keep their slot modulo the old size, so no two meet. */
static int hist_grow(bwe_t *b) {
    uint32_t n = (b->hist_mask + 1) * 2;
    if (n > BWE_HIST) return 0;
    bwe_sent_t *h = calloc(n, sizeof(bwe_sent_t));
    if (!h) return 0;
    for (uint32_t i = 0; i <= b->hist_mask; i++)
        if (b->hist[i].st) h[b->hist[i].seq & (n - 1)] = b->hist[i];
    free(b->hist);
    b->hist = h;
    b->hist_mask = n - 1;
    return 1;
}

void bwe_on_rtt(bwe_t *b, int64_t rtt_us) {
    if (rtt_us <= 0) return;
    if (rtt_us > 10000000) rtt_us = 10000000;
    b->rtt_us = rtt_us;
}

uint32_t bwe_estimate(const bwe_t *b) { return b->est_bps; }
uint32_t bwe_acked_bps(const bwe_t *b) { return b->ack_bps; }
int bwe_state(const bwe_t *b) { return b->last_action; }
int bwe_detector(const bwe_t *b) { return b->hypothesis; }

static bwe_cluster_t *find_cluster(bwe_t *b, int id) {
    if (id <= 0) return NULL;
    bwe_cluster_t *c = &b->clusters[id % BWE_CLUSTERS];
    return c->id == id ? c : NULL;
}

void bwe_on_sent(bwe_t *b, uint16_t seq, int size, uint64_t send_us, int cluster) {
    if (size < 0) size = 0;
    if (size > 65535) size = 65535;
    if (!b->hist) return;
    bwe_sent_t *e = &b->hist[seq & b->hist_mask];
    /* a packet not reported yet (and not stale: feedback skips those) keeps its place: grow instead, so that
     * the history answers exactly as a BWE_HIST ring would */
    while (e->st && e->st != 3 && e->seq != seq && b->hist_mask + 1 < BWE_HIST &&
           sub64((int64_t)b->last_send_us, hist_time(b, e->send_lo)) <= 10000000 && hist_grow(b))
        e = &b->hist[seq & b->hist_mask];
    e->seq = seq;
    e->size = (uint16_t)size;
    e->send_lo = (uint32_t)send_us;
    e->cluster = (int8_t)(cluster >= 1 && cluster <= 127 ? cluster : -1);
    e->st = 1;
    if (!b->have_sent || (int64_t)(send_us - b->last_send_us) > 0) b->last_send_us = send_us;
    b->have_sent = 1;
    bwe_cluster_t *c = find_cluster(b, e->cluster);
    if (c) {
        int64_t t = (int64_t)send_us;
        if (c->sent_pkts == 0 || t < c->first_send) c->first_send = t;
        if (c->sent_pkts == 0 || t >= c->last_send) { c->last_send = t; c->last_sent_size = size; }
        c->sent_bytes += size;
        c->sent_pkts++;
    }
}


/* Feedback times are modulo TWCC_TIME_RANGE_US: bring them next to the latest one. */
static int64_t unwrap_recv(bwe_t *b, int64_t raw) {
    if (!b->have_recv) { b->have_recv = 1; b->recv_last = raw; return raw; }
    int64_t d = fmod64(raw - fmod64(b->recv_last, TWCC_TIME_RANGE_US), TWCC_TIME_RANGE_US);
    if (d >= TWCC_TIME_RANGE_US / 2) d -= TWCC_TIME_RANGE_US;
    int64_t u = b->recv_last + d;
    if (u > b->recv_last) b->recv_last = u;
    return u;
}

/* ---------------------------------------------------------------- acknowledged rate */

static void ack_add(bwe_t *b, int64_t arr, int size) {
    if (!b->ack_started || sub64(arr, b->ack_latest) > 10000000 || sub64(arr, b->ack_latest) < -2000000) {
        for (int i = 0; i < BWE_ACK_BUCKETS; i++) { b->ack_idx[i] = INT64_MIN; b->ack_bytes[i] = 0; }
        b->ack_started = 1;
        b->ack_first = b->ack_latest = arr;
    }
    if (arr > b->ack_latest) b->ack_latest = arr;
    int64_t bi = fdiv(arr, 50000);
    int slot = (int)((uint64_t)bi & (BWE_ACK_BUCKETS - 1));
    if (b->ack_idx[slot] != bi) {
        if (bi < b->ack_idx[slot]) return;
        b->ack_idx[slot] = bi;
        b->ack_bytes[slot] = 0;
    }
    b->ack_bytes[slot] += (uint32_t)size;
}

static void ack_update(bwe_t *b) {
    if (!b->ack_started) return;
    int64_t cur = fdiv(b->ack_latest, 50000), lo = cur - 9;
    uint64_t sum = 0;
    for (int i = 0; i < BWE_ACK_BUCKETS; i++)
        if (b->ack_idx[i] >= lo && b->ack_idx[i] <= cur) sum += b->ack_bytes[i];
    int64_t start = lo * 50000;
    if (b->ack_first > start) start = b->ack_first;
    int64_t span = sub64(b->ack_latest, start);
    if (span < 100000) return;
    b->ack_bps = clamp_bps((double)sum * 8e6 / (double)span, 1, UINT32_MAX - 1);
}

/* ---------------------------------------------------------------- trendline and over-use detector */

static void delay_reset(bwe_t *b) {
    b->grp.valid = b->prev_grp.valid = 0;
    b->reordered = 0;
    b->acc_delay = b->smooth_delay = 0;
    b->win_n = b->win_head = 0;
    b->num_deltas = 0;
    b->have_first_arr = 0;
    b->prev_trend = 0;
    b->time_over_ms = -1;
    b->overuse_count = 0;
    b->hypothesis = BWE_NORMAL;
}

static void update_threshold(bwe_t *b, double m, double now_ms) {
    if (b->thr_last_ms < 0) b->thr_last_ms = (int64_t)now_ms;
    double am = fabs(m);
    if (am > b->thr_ms + 15.0) { b->thr_last_ms = (int64_t)now_ms; return; }
    double k = am < b->thr_ms ? K_DOWN : K_UP;
    double dt = now_ms - (double)b->thr_last_ms;
    if (dt > 100) dt = 100;
    if (dt < 0) dt = 0;
    b->thr_ms += k * (am - b->thr_ms) * dt;
    if (b->thr_ms < 6) b->thr_ms = 6;
    if (b->thr_ms > 600) b->thr_ms = 600;
    b->thr_last_ms = (int64_t)now_ms;
}

static void detect(bwe_t *b, double trend, double ts_delta_ms, double now_ms) {
    if (b->num_deltas < 2) { b->hypothesis = BWE_NORMAL; return; }
    double m = (b->num_deltas < 60 ? b->num_deltas : 60) * trend * TREND_GAIN;
    if (m > b->thr_ms) {
        if (b->time_over_ms < 0) b->time_over_ms = ts_delta_ms / 2;
        else b->time_over_ms += ts_delta_ms;
        b->overuse_count++;
        if (b->time_over_ms > OVERUSE_TIME_MS && b->overuse_count > 1 && trend >= b->prev_trend) {
            b->time_over_ms = 0;
            b->overuse_count = 0;
            b->hypothesis = BWE_OVERUSE;
        }
    } else if (m < -b->thr_ms) {
        b->time_over_ms = -1;
        b->overuse_count = 0;
        b->hypothesis = BWE_UNDERUSE;
    } else {
        b->time_over_ms = -1;
        b->overuse_count = 0;
        b->hypothesis = BWE_NORMAL;
    }
    b->prev_trend = trend;
    update_threshold(b, m, now_ms);
}

static void trend_update(bwe_t *b, double recv_delta_ms, double send_delta_ms, double arr_ms) {
    double delta = recv_delta_ms - send_delta_ms;
    if (b->num_deltas < 1000) b->num_deltas++;
    b->acc_delay += delta;
    b->smooth_delay = TREND_SMOOTHING * b->smooth_delay + (1 - TREND_SMOOTHING) * b->acc_delay;
    if (!b->have_first_arr) { b->have_first_arr = 1; b->first_arr_ms = arr_ms; }
    int idx = (b->win_head + b->win_n) % BWE_TREND_WIN;
    if (b->win_n == BWE_TREND_WIN) { idx = b->win_head; b->win_head = (b->win_head + 1) % BWE_TREND_WIN; }
    else b->win_n++;
    b->win_x[idx] = arr_ms - b->first_arr_ms;
    b->win_y[idx] = b->smooth_delay;
    double trend = b->prev_trend;
    if (b->win_n == BWE_TREND_WIN) {
        double mx = 0, my = 0;
        for (int i = 0; i < BWE_TREND_WIN; i++) { mx += b->win_x[i]; my += b->win_y[i]; }
        mx /= BWE_TREND_WIN;
        my /= BWE_TREND_WIN;
        double num = 0, den = 0;
        for (int i = 0; i < BWE_TREND_WIN; i++) {
            num += (b->win_x[i] - mx) * (b->win_y[i] - my);
            den += (b->win_x[i] - mx) * (b->win_x[i] - mx);
        }
        if (den > 0 && isfinite(num / den)) trend = num / den;
    }
    detect(b, trend, send_delta_ms, arr_ms);
}

/* Deltas between two completed groups; 0 when the filter had to start over. */
static int group_deltas(bwe_t *b) {
    int64_t sd = sub64(b->grp.last_send, b->prev_grp.last_send);
    int64_t ad = sub64(b->grp.last_arr, b->prev_grp.last_arr);
    if (sd > 10000000 || sd < 0 || ad > 13000000 || ad < -13000000 || sub64(ad, sd) > 3000000 ||
        sub64(ad, sd) < -3000000) { delay_reset(b); return 0; }
    if (ad < 0) {
        if (++b->reordered >= 3) { delay_reset(b); return 0; }
        return 1;
    }
    b->reordered = 0;
    trend_update(b, (double)ad / 1000.0, (double)sd / 1000.0, (double)b->grp.last_arr / 1000.0);
    return 1;
}

static void delay_packet(bwe_t *b, int64_t send, int64_t arr) {
    if (b->grp.valid) {
        int64_t since_first = sub64(send, b->grp.first_send);
        if (since_first < 0) return;                      /* older than the current group */
        int new_group = 0;
        if (since_first > GROUP_US) {
            int64_t arr_delta = sub64(arr, b->grp.last_arr), send_delta = sub64(send, b->grp.last_send);
            int burst = arr_delta >= 0 && arr_delta <= GROUP_US && send_delta >= 0 && arr_delta < send_delta &&
                        sub64(arr, b->grp.first_arr) < 100000;
            new_group = !burst;
        }
        if (!new_group) {
            if (sub64(send, b->grp.last_send) > 0) b->grp.last_send = send;
            if (sub64(arr, b->grp.last_arr) > 0) b->grp.last_arr = arr;
            return;
        }
        int ok = b->prev_grp.valid ? group_deltas(b) : 1;
        if (ok) { b->prev_grp = b->grp; b->prev_grp.valid = 1; }
    }
    b->grp.first_send = b->grp.last_send = send;
    b->grp.first_arr = b->grp.last_arr = arr;
    b->grp.valid = 1;
}

/* ---------------------------------------------------------------- AIMD rate control */

static void cap_update(bwe_t *b, double kbps) {
    if (b->cap_kbps < 0) b->cap_kbps = kbps;
    else b->cap_kbps = 0.95 * b->cap_kbps + 0.05 * kbps;
    double norm = dmax(b->cap_kbps, 1.0), err = b->cap_kbps - kbps;
    b->cap_dev = 0.95 * b->cap_dev + 0.05 * err * err / norm;
    if (b->cap_dev < 0.4) b->cap_dev = 0.4;
    if (b->cap_dev > 2.5) b->cap_dev = 2.5;
}
static double cap_spread(const bwe_t *b) { return 3 * sqrt(b->cap_dev * dmax(b->cap_kbps, 0)); }

static void aimd_update(bwe_t *b, uint32_t probe_bps, uint64_t now) {
    double cur = b->delay_bps, acked = b->ack_bps;
    b->last_action = BWE_HOLD;
    if (b->hypothesis == BWE_OVERUSE) {
        int64_t since = (int64_t)(now - b->rc_last_change_us);
        int64_t iv = b->rtt_us < 10000 ? 10000 : b->rtt_us > 200000 ? 200000 : b->rtt_us;
        int further = !b->decreased_once || since >= iv || (acked > 0 && acked < 0.5 * cur);
        if (!further) return;
        double nb = acked > 0 ? BETA * acked : BETA * cur;
        if (nb >= cur && b->cap_kbps >= 0) nb = BETA * b->cap_kbps * 1000;
        if (nb < cur) { b->delay_bps = clamp_bps(nb, b->min_bps, b->max_bps); b->last_action = BWE_DECREASE; }
        if (acked > 0) {
            if (b->cap_kbps >= 0 && acked / 1000 < b->cap_kbps - cap_spread(b)) b->cap_kbps = -1;
            cap_update(b, acked / 1000);
        }
        b->decreased_once = 1;
        b->rc_state = BWE_HOLD;
        b->rc_last_change_us = now;
        return;
    }
    if (probe_bps > b->delay_bps) {
        b->delay_bps = clamp_bps(probe_bps, b->min_bps, b->max_bps);
        b->rc_last_change_us = now;
        b->last_action = BWE_INCREASE;
        return;
    }
    if (b->hypothesis == BWE_UNDERUSE) { b->rc_state = BWE_HOLD; b->rc_last_change_us = now; return; }
    if (b->rc_state != BWE_INCREASE) { b->rc_state = BWE_INCREASE; b->rc_last_change_us = now; return; }
    if (b->cap_kbps >= 0 && acked / 1000 > b->cap_kbps + cap_spread(b)) b->cap_kbps = -1;  /* far from it */
    double dt = (double)(int64_t)(now - b->rc_last_change_us) / 1e6;
    if (!(dt > 0)) dt = 0;
    if (dt > 1) dt = 1;
    double inc;
    if (b->cap_kbps >= 0) {                     /* near the last congestion point: additive */
        double bits_per_frame = cur / 30.0;
        double pkts = ceil(bits_per_frame / (1200 * 8.0));
        if (pkts < 1) pkts = 1;
        double resp = (double)(b->rtt_us + 100000) / 1e6;
        inc = dmax(4000.0, bits_per_frame / pkts / resp) * dt;
    } else {
        inc = dmax(cur * (pow(1.08, dt) - 1), 1000.0);
    }
    double nb = cur + inc;
    if (acked > 0) {
        double lim = 1.5 * acked + 10000;
        if (nb > lim) nb = dmax(lim, cur);
    }
    b->delay_bps = clamp_bps(nb, b->min_bps, b->max_bps);
    if (nb > cur) b->last_action = BWE_INCREASE;
    b->rc_last_change_us = now;
}

/* ---------------------------------------------------------------- loss-based control */

static void loss_apply(bwe_t *b, double p, double send_rate, uint64_t now) {
    int q = (int)(p * 256);
    b->prev_loss_q8 = b->last_loss_q8;
    b->last_loss_q8 = (uint8_t)(q > 255 ? 255 : q < 0 ? 0 : q);
    if (p > 0.10) {
        if (!b->loss_last_decrease_us ||
            (int64_t)(now - b->loss_last_decrease_us) >= 300000 + b->rtt_us) {
            double base = send_rate > 0 ? send_rate : b->est_bps;
            double nb = base * (1 - 0.5 * p);
            if (nb < b->loss_bps) {
                b->loss_bps = clamp_bps(nb, b->min_bps, b->max_bps);
                b->last_action = BWE_DECREASE;
            }
            b->loss_last_decrease_us = now ? now : 1;
        }
    } else if (p < 0.02) {
        double dt = b->loss_last_update_us ? (double)(int64_t)(now - b->loss_last_update_us) / 1e6 : 1;
        if (!(dt > 0)) dt = 0;
        if (dt > 1) dt = 1;
        b->loss_bps = clamp_bps(b->loss_bps * pow(1.08, dt) + 1000, b->min_bps, b->max_bps);
    }
    b->loss_last_update_us = now ? now : 1;
}

static void loss_note(bwe_t *b, int64_t send, int size, int lost) {
    if (b->loss_expected == 0) b->loss_first_send = b->loss_last_send = send;
    if (send < b->loss_first_send) b->loss_first_send = send;
    if (send > b->loss_last_send) b->loss_last_send = send;
    b->loss_expected++;
    b->loss_bytes += size;
    if (lost) b->loss_lost++;
}

static void loss_maybe_update(bwe_t *b, uint64_t now) {
    if (!b->loss_win_start_us) b->loss_win_start_us = now ? now : 1;
    int64_t elapsed = (int64_t)(now - b->loss_win_start_us);
    if (!((b->loss_expected >= 20 && elapsed >= 500000) || b->loss_expected >= 200)) return;
    double p = (double)b->loss_lost / (double)b->loss_expected;
    double rate = 0;
    int64_t span = sub64(b->loss_last_send, b->loss_first_send);
    if (span >= 50000) rate = (double)b->loss_bytes * 8e6 / (double)span;
    loss_apply(b, p, rate, now);
    b->loss_lost = b->loss_expected = 0;
    b->loss_bytes = 0;
    b->loss_win_start_us = now ? now : 1;
}

/* ---------------------------------------------------------------- combination and probing */

static void combine(bwe_t *b, uint64_t now) {
    double e;
    int remb_fresh = b->have_remb && (int64_t)(now - b->remb_us) <= REMB_FRESH_US;
    int twcc_fresh = b->have_twcc && (int64_t)(now - b->twcc_us) <= TWCC_STALE_US;
    if (b->have_twcc && (twcc_fresh || !remb_fresh)) {
        e = dmin(b->delay_bps, b->loss_bps);
        if (remb_fresh) e = dmin(e, b->remb_bps);
    } else if (b->have_remb) {
        e = dmin(b->remb_bps, b->loss_bps);
    } else {
        e = dmin(b->delay_bps, b->loss_bps);
    }
    b->est_bps = clamp_bps(e, b->min_bps, b->max_bps);
}

static uint32_t probe_results(bwe_t *b, uint64_t now) {
    uint32_t best = 0;
    for (int i = 0; i < BWE_CLUSTERS; i++) {
        bwe_cluster_t *c = &b->clusters[i];
        if (!c->id || c->recv_pkts < 4 || c->sent_pkts < 5) continue;
        int64_t siv = sub64(c->last_send, c->first_send), riv = sub64(c->last_recv, c->first_recv);
        if (siv <= 0 || riv <= 0 || siv > 1000000 || riv > 1000000) continue;
        double sr = (double)(c->sent_bytes - c->last_sent_size) * 8e6 / (double)siv;
        double rr = (double)(c->recv_bytes - c->first_recv_size) * 8e6 / (double)riv;
        if (!(sr > 0) || !(rr > 0) || rr > 2 * sr) continue;
        double res = dmin(sr, rr);
        if (rr < 0.9 * sr) res = 0.95 * rr;
        uint32_t r = clamp_bps(res, b->min_bps, b->max_bps);
        if (r <= c->result_bps) continue;
        c->result_bps = r;
        if (r > 1.1 * c->est_at_start) {       /* success: keep climbing soon */
            b->probe_interval_us = 1000000;
            if ((int64_t)(b->next_probe_us - (now + 300000)) > 0) b->next_probe_us = now + 300000;
        }
        if (r > best) best = r;
    }
    return best;
}

void bwe_on_feedback(bwe_t *b, const twcc_result_t *res, int n, uint64_t now) {
    if (!b || !res || n <= 0) return;
    b->have_twcc = 1;
    b->twcc_us = now;
    int any = 0;
    for (int i = 0; i < n; i++) {
        uint16_t seq = res[i].seq;
        if (!b->hist) break;
        bwe_sent_t *e = &b->hist[seq & b->hist_mask];
        if (!e->st || e->seq != seq) continue;
        int64_t st = hist_time(b, e->send_lo);
        if (sub64((int64_t)b->last_send_us, st) > 10000000) continue;   /* stale entry */
        int64_t rv = res[i].recv_us;
        if (rv < 0 && rv != TWCC_NO_TIME) {
            if (e->st == 1) { e->st = 2; loss_note(b, st, e->size, 1); }
            continue;
        }
        if (e->st == 3) continue;                                 /* duplicate report */
        if (e->st == 2) { if (b->loss_lost) b->loss_lost--; }     /* reported lost, then received */
        else loss_note(b, st, e->size, 0);
        e->st = 3;
        if (rv < 0 || rv >= 4 * TWCC_TIME_RANGE_US) continue;    /* no (usable) arrival time */
        int64_t arr = unwrap_recv(b, rv);
        any = 1;
        ack_add(b, arr, e->size);
        bwe_cluster_t *c = find_cluster(b, e->cluster);
        if (c) {
            if (c->recv_pkts == 0 || arr < c->first_recv) { c->first_recv = arr; c->first_recv_size = e->size; }
            if (c->recv_pkts == 0 || arr > c->last_recv) c->last_recv = arr;
            c->recv_bytes += e->size;
            c->recv_pkts++;
        }
        delay_packet(b, st, arr);
    }
    ack_update(b);
    uint32_t probe = probe_results(b, now);
    if (probe) { b->probe_bps = probe; b->probe_us = now; }
    if (any) aimd_update(b, probe, now);
    if (probe && b->hypothesis != BWE_OVERUSE && b->last_loss_q8 <= 26 && b->prev_loss_q8 <= 26 && probe > b->loss_bps)
        b->loss_bps = probe;
    loss_maybe_update(b, now);
    combine(b, now);
}

void bwe_on_remb(bwe_t *b, uint32_t bps, uint64_t now) {
    b->remb_bps = bps;
    b->remb_us = now;
    b->have_remb = 1;
    /* Without transport-cc the REMB is the receiver's own delay-based estimate: follow it up at once
     * unless receiver reports showed heavy loss lately (then the loss-based one climbs back by 8 %/s). */
    int twcc_fresh = b->have_twcc && (int64_t)(now - b->twcc_us) <= TWCC_STALE_US;
    if (!twcc_fresh && b->last_loss_q8 <= 26 && b->prev_loss_q8 <= 26 && bps > b->loss_bps)
        b->loss_bps = clamp_bps(bps, b->min_bps, b->max_bps);
    combine(b, now);
}

void bwe_on_loss(bwe_t *b, uint8_t fraction_lost, uint64_t now) {
    if (b->have_twcc && (int64_t)(now - b->twcc_us) <= TWCC_STALE_US) return;
    b->last_action = BWE_HOLD;
    loss_apply(b, fraction_lost / 256.0, 0, now);
    combine(b, now);
}

int bwe_probe_start(bwe_t *b, uint32_t target_bps, uint64_t now) {
    int id = b->next_cluster;
    b->next_cluster = b->next_cluster % 100 + 1;
    bwe_cluster_t *c = &b->clusters[id % BWE_CLUSTERS];
    memset(c, 0, sizeof *c);
    c->id = id;
    c->target_bps = clamp_bps(target_bps, b->min_bps, b->max_bps);
    c->est_at_start = b->est_bps;
    b->next_probe_us = now + (uint64_t)b->probe_interval_us;
    b->probe_interval_us = b->probe_interval_us * 2 > 3000000 ? 3000000 : b->probe_interval_us * 2;
    return id;
}

int bwe_should_probe(const bwe_t *b, uint32_t wanted_bps, uint64_t now) {
    if (b->have_remb && !b->have_twcc) return 0;                  /* nothing would measure it */
    if ((int64_t)(now - b->next_probe_us) < 0) return 0;
    if (b->est_bps >= b->max_bps || (double)wanted_bps <= 1.1 * b->est_bps) return 0;
    if (b->last_loss_q8 > 26 || b->prev_loss_q8 > 26 || b->hypothesis == BWE_OVERUSE) return 0;
    double t = dmin(dmin((double)wanted_bps, 2.0 * b->est_bps), (double)b->max_bps);
    if (t > 2147483647.0) t = 2147483647.0;
    return (int)t;
}

uint32_t bwe_probe_bps(const bwe_t *b, uint64_t now_us, uint64_t max_age_us) {
    if (!b || !b->probe_us || now_us - b->probe_us > max_age_us) return 0;
    return b->probe_bps;
}
