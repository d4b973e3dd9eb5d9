/* Bandwidth probes (issue 5): when the allocation wants more than a subscriber's path has been seen to
 * carry, padding at the target rate on an RTX stream, paced and marked with a cluster id; the transport-cc
 * feedback on it tells how fast the path delivers (bwe.h). */
#include "io.h"

#define PROBE_FRESH_US 3000000ull
#define START_PHASE_US 5000000ull
#define PROBE_GAP_MIN_US 500000ull
#define PROBE_GAP_MAX_US 2000000ull

/* The rate t's path has been seen to carry: a quarter above what it delivered lately, or the latest probe
 * result; never above the estimate. Without transport-cc: the estimate itself. */
uint32_t validated_bps(ms_worker_t *w, ms_transport_t *t) {
    uint32_t e = transport_estimate(t);
    if (!t->bwe || !t->expect_fb) return e;
    uint64_t acked = bwe_acked_bps(t->bwe);
    uint64_t v = acked + acked / 4;
    uint32_t pr = bwe_probe_bps(t->bwe, w->now_us, PROBE_FRESH_US);
    if (pr > v) v = pr;
    return v < e ? (uint32_t)v : e;
}

/* A padding-only packet on c's RTX stream (RFC 4588 receivers drop it after counting it for transport-cc):
 * what bandwidth probes are made of, whether or not video flows. */
static int send_padding(ms_worker_t *w, ms_consumer_t *c, int pad) {
    ms_transport_t *t = c->t;
    uint8_t pt = 0xff;
    for (int i = 0; i < MS_PT_COUNT && pt == 0xff; i++) pt = c->prm.rtx_pt_of[i];
    if (pt == 0xff || !c->prm.rtx_ssrc || !c->prm.ext_twcc) return -1;
    uint8_t *o = tx_slot(w);
    o[0] = 0x80 | 0x20 | 0x10;                      /* P and X */
    o[1] = pt;
    wr16(o + 2, c->rtx_seq++);
    wr32(o + 4, c->x.last_ts_out);
    wr32(o + 8, c->prm.rtx_ssrc);
    int off = 16;
    if (c->prm.ext_mid && c->mid_len) {
        o[off++] = (uint8_t)((c->prm.ext_mid << 4) | (c->mid_len - 1));
        memcpy(o + off, c->prm.mid, c->mid_len); off += c->mid_len;
    }
    uint16_t twcc = t->twcc_seq++;
    o[off++] = (uint8_t)((c->prm.ext_twcc << 4) | 1); wr16(o + off, twcc); off += 2;
    while ((off - 12) & 3) o[off++] = 0;
    wr16(o + 12, 0xBEDE);
    wr16(o + 14, (uint16_t)((off - 16) / 4));
    memset(o + off, 0, pad - 1);
    o[off + pad - 1] = (uint8_t)pad;
    off += pad;
    int n = srtp_protect_rtp(t->srtp_out, o, off, MTU + 64);
    if (n < 0) return -1;
    if (t->bwe) bwe_on_sent(t->bwe, twcc, n + 28, tx_time(w), w->probe_cluster);
    w->st.rtp_tx++;
    tx_commit(w, t, n);
    return n;
}

/* A bandwidth probe (issue 5): padding at the target rate, paced in PROBE_ROUNDS rounds PROBE_GAP_US
 * apart (about 15 ms, at least 5 packets), marked with the cluster id; the feedback on it tells how fast
 * the path delivers. */
#define PROBE_ROUNDS 4
#define PROBE_GAP_US 5000ull
#define PROBE_PAD 255

static ms_consumer_t *probe_carrier(ms_transport_t *t) {
    ms_consumer_t *c = t->cons;
    while (c && !(c->prm.rtx_ssrc && c->prm.ext_twcc && c->p->prm.kind == 1)) c = c->tnext;
    return c;
}

static void start_probe(ms_worker_t *w, ms_transport_t *t, uint32_t target_bps) {
    if (t->probe_rounds || !probe_carrier(t) || !can_send(t)) return;
    int per_round = (int)((uint64_t)target_bps * PROBE_GAP_US / 1000000ull / 8 / (PROBE_PAD + 40));
    if (per_round < 2) per_round = 2;
    if (per_round > 12) per_round = 12;
    t->probe_id = bwe_probe_start(t->bwe, target_bps, w->now_us);
    t->probe_per_round = per_round;
    t->probe_rounds = PROBE_ROUNDS;
    t->probe_next_us = w->now_us;
    w->probing++;
    w->st.probes_tx++;
}

void pace_probes(ms_worker_t *w) {
    for (ms_transport_t *t = w->transports; t && w->probing; t = t->next) {
        if (!t->probe_rounds || w->now_us < t->probe_next_us) continue;
        ms_consumer_t *c = probe_carrier(t);
        if (c && can_send(t) && w->now_us >= w->overload_until_us) {
            w->probe_cluster = t->probe_id;
            for (int i = 0; i < t->probe_per_round; i++) if (send_padding(w, c, PROBE_PAD) < 0) break;
            w->probe_cluster = -1;
        }
        t->probe_next_us = w->now_us + PROBE_GAP_US;
        if (--t->probe_rounds == 0 || !c) { t->probe_rounds = 0; w->probing--; }
    }
}

/* Probe when the allocation wants more than the path has been seen to carry: at most twice that; sooner
 * again after a probe that found more, backing off after one that did not. */
void maybe_probe(ms_worker_t *w, ms_transport_t *t) {
    if (!t->bwe || !t->expect_fb || !t->alloc.wanted_bps || w->now_us < t->next_probe_us || t->probe_rounds) return;
    uint32_t v = validated_bps(w, t), pr = bwe_probe_bps(t->bwe, w->now_us, PROBE_FRESH_US);
    if (pr && t->probe_at_bps && pr > t->probe_at_bps) t->probe_gap_us = PROBE_GAP_MIN_US;
    if ((uint64_t)t->alloc.wanted_bps * 10 > (uint64_t)v * 11 && bwe_detector(t->bwe) != BWE_OVERUSE) {
        uint64_t target = (uint64_t)t->alloc.wanted_bps * 11 / 10;
        /* at most twice what was seen; in the first seconds of a transport up to 2 Mbit/s at once */
        uint64_t cap = 2ull * v;
        if (w->now_us - t->cons_since_us < START_PHASE_US && cap < 2ull * BWE_START_BPS) cap = 2ull * BWE_START_BPS;
        if (target > cap) target = cap;
        if (!t->probe_gap_us) t->probe_gap_us = PROBE_GAP_MIN_US;
        else if (!(pr && t->probe_at_bps && pr > t->probe_at_bps)) {
            t->probe_gap_us *= 2;
            if (t->probe_gap_us > PROBE_GAP_MAX_US) t->probe_gap_us = PROBE_GAP_MAX_US;
        }
        t->probe_at_bps = v;
        t->next_probe_us = w->now_us + t->probe_gap_us;
        start_probe(w, t, (uint32_t)target);
    }
}
