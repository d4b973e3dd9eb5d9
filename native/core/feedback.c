/* RTCP: what comes in, one typed parser per packet type (rtcp_fb.h, and bwe.h for REMB and transport-cc)
 * and one handler each; what goes out on the report timer: receiver reports and NACKs to publishers,
 * sender reports (with XR DLRR) to subscribers, and transport-cc feedback. */
#include "io.h"

#include "rtcp_fb.h"

/* Sender info from a publisher: what its next receiver report's LSR/DLSR answer. */
static void on_sr(ms_worker_t *w, ms_transport_t *t, const rtcp_reports_t *sr) {
    ms_producer_t *p = ms_map_get(&w->prod_by_ssrc, ((uint64_t)t->id << 32) | sr->ssrc);
    if (p && p->prm.ssrc == sr->ssrc) {
        p->last_sr_mid = sr->ntp_mid;
        p->last_sr_us = w->now_us;
    }
}

/* Report blocks from a subscriber on our streams: loss, jitter and, from LSR/DLSR, the round trip. */
static void on_report_blocks(ms_worker_t *w, ms_transport_t *t, const rtcp_reports_t *rr) {
    for (int i = 0; i < rr->nblocks; i++) {
        const rtcp_report_t *r = &rr->blocks[i];
        ms_consumer_t *c = ms_map_get(&w->cons_by_ssrc, cons_key(t->id, r->ssrc));
        if (!c || c->t != t) continue;
        c->fraction_lost = r->fraction_lost;
        c->jitter = r->jitter;
        if (t->bwe && c->p->prm.kind == 1) bwe_on_loss(t->bwe, r->fraction_lost, w->now_us);
        if (!r->lsr) continue;
        for (int k = 0; k < 4; k++) {
            if (c->sr_ntp_mid[k] != r->lsr) continue;
            int64_t rtt = (int64_t)(w->now_us - c->sr_sent_us[k]) - (int64_t)((uint64_t)r->dlsr * 1000000ull >> 16);
            c->rtt_us = rtt < 0 ? 0 : rtt;
            c->rtt_known = 1;
            if (t->bwe) bwe_on_rtt(t->bwe, c->rtt_us);
        }
    }
}

/* *left: the sequence numbers still honoured of this RTCP packet (MS_RTX_PER_RTCP over all its NACKs). */
static void on_nack(ms_worker_t *w, ms_transport_t *t, const rtcp_nack_t *nk, int *left) {
    ms_consumer_t *c = ms_map_get(&w->cons_by_ssrc, cons_key(t->id, nk->media));
    if (!c || c->t != t) return;
    c->nacks++;
    c->last_nack_us = w->now_us;
    w->st.nacks_rx++;
    int n = nk->nseqs < *left ? nk->nseqs : *left;
    for (int i = 0; i < n; i++) retransmit(w, c, nk->seqs[i]);
    *left -= n;
    if (nk->nseqs > n) {
        c->rtx_refused += (uint64_t)(nk->nseqs - n);
        w->st.rtx_refused_rtcp += (uint64_t)(nk->nseqs - n);
    }
}

static void on_keyframe_request(ms_worker_t *w, ms_transport_t *t, const rtcp_keyframe_req_t *kr) {
    ms_consumer_t *c = ms_map_get(&w->cons_by_ssrc, cons_key(t->id, kr->media));
    if (!c || c->t != t) return;
    c->plis++;
    w->st.plis_rx++;
    if (c->started && c->cur_layer >= 0 && c->cur_layer < c->p->nlayers)
        request_keyframe(w, c->p->layer[c->cur_layer]);
    consumer_keyframe(w, c);
}

static void on_twcc(ms_worker_t *w, ms_transport_t *t, const uint8_t *q, int pl) {
    if (!t->bwe) return;
    uint8_t fbc;
    int nr = twcc_parse(q, pl, w->twcc_res, TWCC_RES_MAX, &fbc);
    if (nr > 0) { bwe_on_feedback(t->bwe, w->twcc_res, nr, w->now_us); t->got_fb = 1; w->st.twcc_rx++; }
    else w->st.drops[DROP_RTCP_MALFORMED]++;
}

static void on_remb(ms_worker_t *w, ms_transport_t *t, uint32_t bps) {
    if (!t->bwe) return;
    bwe_on_remb(t->bwe, bps, w->now_us);
    t->got_fb = 1;
    w->st.remb_rx++;
}

/* A receiver's reference time (XR RRTR): answered with DLRR in our next sender report. */
static void on_rrtr(ms_worker_t *w, ms_transport_t *t, const rtcp_rrtr_t *x) {
    t->rrtr_ssrc = x->ssrc;
    t->rrtr_mid = x->ntp_mid;
    t->rrtr_us = w->now_us;
}

void handle_rtcp(ms_worker_t *w, ms_transport_t *t, uint8_t *buf, int len) {
    w->st.rtcp_rx++;
    if (!t->srtp_in) { w->st.drops[DROP_NOT_READY]++; return; }
    int n = srtp_unprotect_rtcp(t->srtp_in, buf, len);
    if (n < 0) { w->st.drops[n == SRTP_ERR_REPLAY ? DROP_SRTP_REPLAY : DROP_SRTP_AUTH]++; return; }
    peer_proved(t);
    if (t->client_mode == CLIENT_SINK) return;
    int off = 0, pl, any = 0, rtx_left = MS_RTX_PER_RTCP;
    while ((off = rtcp_next(buf, n, off, &pl)) >= 0) {
        const uint8_t *q = buf + off;
        int type = q[1], fmt = q[0] & 0x1f;
        any = 1;
        union { rtcp_reports_t rep; rtcp_nack_t nack; rtcp_keyframe_req_t kf; rtcp_rrtr_t rrtr; } u;
        uint32_t bps;
        switch (type) {
        case RTCP_SR:
            if (rtcp_parse_sr(q, pl, &u.rep) == 0) { on_sr(w, t, &u.rep); on_report_blocks(w, t, &u.rep); }
            break;
        case RTCP_RR:
            if (rtcp_parse_rr(q, pl, &u.rep) == 0) on_report_blocks(w, t, &u.rep);
            break;
        case RTCP_RTPFB:
            if (fmt == 1 && rtcp_parse_nack(q, pl, &u.nack) == 0) on_nack(w, t, &u.nack, &rtx_left);
            else if (fmt == 15 && pl >= 20) on_twcc(w, t, q, pl);
            break;
        case RTCP_PSFB:
            if (fmt == 1 && rtcp_parse_pli(q, pl, &u.kf) == 0) on_keyframe_request(w, t, &u.kf);
            else if (fmt == 4 && rtcp_parse_fir(q, pl, &u.kf) == 0) on_keyframe_request(w, t, &u.kf);
            else if (fmt == 15 && pl >= 20 && remb_parse(q, pl, &bps) == 0) on_remb(w, t, bps);
            break;
        case RTCP_XR:
            if (rtcp_parse_xr_rrtr(q, pl, &u.rrtr) == 0) on_rrtr(w, t, &u.rrtr);
            break;
        }
        off += pl;
    }
    if (!any) w->st.drops[DROP_RTCP_MALFORMED]++;
}

void send_reports(ms_worker_t *w) {
    for (ms_producer_t *p = w->producers; p; p = p->next) {
        ms_transport_t *t = p->t;
        if (p->npipes) pipe_source_tick(w, p);   /* keyframes other workers' subscribers wait for */
        if (p->pli_pending && w->now_us - p->last_pli_us >= PLI_INTERVAL_US) request_keyframe(w, p);
        if (!t->srtp_out || !p->prm.ssrc || !p->track.init) continue;
        /* upstream NACKs: retry each missing packet a few times, 30 ms apart */
        if (p->nnack) {
            uint16_t seqs[NACK_MAX];
            int ns = 0;
            for (int i = 0; i < p->nnack;) {
                nack_item_t *it = &p->nack[i];
                if (it->tries >= 8 || w->now_us - it->added_us > 1000000ull) { *it = p->nack[--p->nnack]; continue; }
                if (w->now_us - it->sent_us >= 30000) { seqs[ns++] = it->seq; it->tries++; it->sent_us = w->now_us; }
                i++;
            }
            if (ns) {
                for (int a = 1; a < ns; a++)  /* sort by sequence order near max_seq */
                    for (int b = a; b > 0 && seq_newer(seqs[b - 1], seqs[b]); b--) {
                        uint16_t tmp = seqs[b]; seqs[b] = seqs[b - 1]; seqs[b - 1] = tmp;
                    }
                uint8_t *o = tx_slot(w);
                int n = rtcp_build_rr(o, MTU, SERVER_SSRC, NULL, 0);
                n += rtcp_build_nack(o + n, MTU - n, SERVER_SSRC, p->prm.ssrc, seqs, ns);
                p->nacks_tx++;
                w->st.nacks_tx++;
                tx_rtcp_commit(w, t, n);
            }
        }
        if (w->now_us - p->last_rr_us < REPORT_INTERVAL_US) continue;
        p->last_rr_us = w->now_us;
        rtcp_report_t r;
        memset(&r, 0, sizeof(r));
        r.ssrc = p->prm.ssrc;
        uint32_t expected = ms_seq_expected(&p->track);
        int64_t lost = (int64_t)expected - (int64_t)p->track.received;
        r.cumulative_lost = lost < 0 ? 0 : (int32_t)lost;
        uint32_t exp_iv = expected - p->expected_prior, rcv_iv = p->track.received - p->received_prior;
        int64_t lost_iv = (int64_t)exp_iv - (int64_t)rcv_iv;
        r.fraction_lost = (exp_iv && lost_iv > 0) ? (uint8_t)(lost_iv * 256 / exp_iv > 255 ? 255 : lost_iv * 256 / exp_iv) : 0;
        p->expected_prior = expected;
        p->received_prior = p->track.received;
        r.highest_seq = p->track.cycles + p->track.max_seq;
        r.jitter = (uint32_t)p->jitter;
        if (p->last_sr_us) {
            r.lsr = p->last_sr_mid;
            r.dlsr = (uint32_t)(((w->now_us - p->last_sr_us) << 16) / 1000000ull);
        }
        uint8_t *o = tx_slot(w);
        int n = rtcp_build_rr(o, MTU, SERVER_SSRC, &r, 1);
        tx_rtcp_commit(w, t, n);
    }
    /* every consumer of the worker: not at each 10 ms tick (a walk of thousands, each a cache miss, for a
     * report a second), every SR_WALK_US */
    if (w->now_us - w->last_sr_walk_us < SR_WALK_US) return;
    w->last_sr_walk_us = w->now_us;
    for (ms_consumer_t *c = w->consumers; c; c = c->next) {
        if (c->prm.ext_playout) {
            uint32_t want = 0;
            if (c->last_nack_us && w->now_us - c->last_nack_us < PLAYOUT_HOLD_US) {
                int64_t rtt = c->rtt_us > 0 ? c->rtt_us : 150000;
                want = (uint32_t)((rtt * 3 / 2 + 50000) / 10000);
                if (want < 5) want = 5;
                if (want > 50) want = 50;
            }
            c->playout_10ms = want;
        }
        if (!c->started || !can_send(c->t) || w->now_us - c->last_sr_us < REPORT_INTERVAL_US) continue;
        c->last_sr_us = w->now_us;
        uint64_t ntp = rtcp_ntp_now();
        uint32_t clock = c->p->prm.clock_rate ? c->p->prm.clock_rate : 90000;
        uint32_t ts = c->x.last_ts_out + (uint32_t)((w->now_us - c->last_send_us) * clock / 1000000ull);
        uint8_t *o = tx_slot(w);
        int n = rtcp_build_sr(o, c->prm.ssrc, ntp, ts, c->sr_packets, c->sr_octets);
        ms_transport_t *ct = c->t;
        if (ct->rrtr_us && w->now_us - ct->rrtr_us < 10000000ull) {   /* XR DLRR for the latest RRTR */
            uint8_t *x = o + n;
            x[0] = 0x80; x[1] = RTCP_XR; wr16(x + 2, 5);
            wr32(x + 4, c->prm.ssrc);
            x[8] = 5; x[9] = 0; wr16(x + 10, 3);
            wr32(x + 12, ct->rrtr_ssrc);
            wr32(x + 16, ct->rrtr_mid);
            wr32(x + 20, (uint32_t)(((w->now_us - ct->rrtr_us) << 16) / 1000000ull));
            n += 24;
        }
        c->sr_ntp_mid[c->sr_i] = (uint32_t)(ntp >> 16);
        c->sr_sent_us[c->sr_i] = w->now_us;
        c->sr_i = (c->sr_i + 1) & 3;
        tx_rtcp_commit(w, c->t, n);
    }
}

/* Transport-cc feedback to a publisher, every TWCC_FB_INTERVAL_US. */
void send_twcc_feedback(ms_worker_t *w, ms_transport_t *t) {
    if (!t->twcc_rx || w->now_us - t->last_twcc_fb_us < TWCC_FB_INTERVAL_US || !t->srtp_out) return;
    t->last_twcc_fb_us = w->now_us;
    for (int guard = 0; guard < 16; guard++) {
        uint8_t *o = tx_slot(w);
        int n = twcc_rx_build(t->twcc_rx, o, MTU - 64, SERVER_SSRC, t->twcc_media_ssrc);
        if (n <= 0) break;
        w->st.twcc_tx++;
        tx_rtcp_commit(w, t, n);
    }
}
