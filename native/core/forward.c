/* RTP in and forwarding: the retransmission cache of every producer, upstream NACKs of its gaps, the
 * batch's packets sent on to each consumer (translated by translate.h, encrypted, queued for one burst per
 * consumer), keyframe requests, and retransmissions from the cache. */
#include "io.h"

#include <openssl/rand.h>
#include <stdlib.h>

/* A keyframe of the layer consumer c waits for. */
void consumer_keyframe(ms_worker_t *w, ms_consumer_t *c) {
    int l = c->target_layer;
    if (l >= 0 && l < c->p->nlayers) request_keyframe(w, c->p->layer[l]);
}

void request_keyframe(ms_worker_t *w, ms_producer_t *p) {
    if (p->prm.kind != 1) return;
    /* a pipe's producer passes every wish on at once: the source's worker merges them with its own, under
     * the one interval and retry below (two of them in a row would ask more often than either) */
    if (p->head->pipe_in) { pipe_keyframe(w, p); return; }
    if (w->now_us - p->last_pli_us < PLI_INTERVAL_US) { p->pli_pending = 1; return; }
    ms_transport_t *t = p->t;
    p->pli_pending = 0;
    p->last_pli_us = w->now_us;
    if (!t->srtp_out || !p->prm.ssrc) { p->pli_pending = 1; return; }
    uint8_t *o = tx_slot(w);
    int n = rtcp_build_rr(o, MTU, SERVER_SSRC, NULL, 0);
    n += rtcp_build_pli(o + n, SERVER_SSRC, p->prm.ssrc);
    p->plis_tx++;
    w->st.plis_tx++;
    tx_rtcp_commit(w, t, n);
}

void write_abs_time(uint8_t *v, uint64_t now_us) {
    uint64_t t = ((now_us << 18) / 1000000ull) & 0xffffff;
    wr24(v, (uint32_t)t);
}

/* Build the consumer's packet: our header and extensions, the producer's payload; then SRTP. */
static void send_to_consumer(ms_worker_t *w, ms_consumer_t *c, const cache_slot_t *s, const rtp_hdr_t *h,
                             int is_rtx, int original, uint16_t out_seq, ms_epoch_t *e, int codec) {
    ms_transport_t *t = c->t;
    const uint8_t *src = s->data;
    uint8_t pt = c->prm.pt_map[h->pt];
    if (pt == 0xff) { w->st.drops[DROP_UNKNOWN_PT]++; return; }
    /* the send-history slot bwe_on_sent writes below: one transport's ring among thousands is rarely in
     * cache, so its load starts now, under the copy and the encryption, instead of stalling there */
    if (c->prm.ext_twcc && t->bwe && t->bwe->hist)
        __builtin_prefetch(&t->bwe->hist[t->twcc_seq & t->bwe->hist_mask], 1);
    uint8_t *o = tx_slot(w);
    uint32_t ssrc = c->prm.ssrc;
    uint16_t seq = out_seq;
    if (is_rtx) { pt = c->prm.rtx_pt_of[pt]; ssrc = c->prm.rtx_ssrc; seq = c->rtx_seq++; }
    o[0] = 0x80 | h->cc;
    o[1] = (uint8_t)((h->marker << 7) | pt);
    wr16(o + 2, seq);
    wr32(o + 4, h->ts + e->ts_off);
    wr32(o + 8, ssrc);
    int off = 12;
    if (h->cc) { memcpy(o + 12, src + 12, 4 * h->cc); off += 4 * h->cc; }
    /* one-byte header extensions the consumer negotiated */
    int xstart = off;
    off += 4;
    if (c->prm.ext_mid && c->mid_len) {
        o[off++] = (uint8_t)((c->prm.ext_mid << 4) | (c->mid_len - 1));
        memcpy(o + off, c->prm.mid, c->mid_len); off += c->mid_len;
    }
    if (c->prm.ext_abs && s->abs_off) {
        o[off++] = (uint8_t)((c->prm.ext_abs << 4) | 2); memcpy(o + off, src + s->abs_off, 3); off += 3;
    }
    if (c->prm.ext_alevel && s->alevel_off) {
        o[off++] = (uint8_t)(c->prm.ext_alevel << 4); o[off++] = src[s->alevel_off];
    }
    if (c->prm.ext_playout && c->playout_10ms) {  /* min and max playout delay, 12 bits each, 10 ms units */
        uint32_t mn = c->playout_10ms, mx = PLAYOUT_MAX_10MS;
        o[off++] = (uint8_t)((c->prm.ext_playout << 4) | 2);
        wr24(o + off, (mn << 12) | mx); off += 3;
    }
    int twcc = -1;
    if (c->prm.ext_twcc) {
        twcc = t->twcc_seq++;
        o[off++] = (uint8_t)((c->prm.ext_twcc << 4) | 1); wr16(o + off, (uint16_t)twcc); off += 2;
    }
    if (off == xstart + 4) {
        off = xstart;                    /* no extension block at all */
    } else {
        while ((off - xstart) & 3) o[off++] = 0;
        o[0] |= 0x10;
        wr16(o + xstart, 0xBEDE);
        wr16(o + xstart + 2, (uint16_t)((off - xstart - 4) / 4));
    }
    if (is_rtx) { wr16(o + off, out_seq); off += 2; }
    int body = h->payload_len; /* padding is not forwarded */
    if (off + body + 16 > MTU + 64) { w->st.drops[DROP_TOO_BIG]++; return; }
    memcpy(o + off, src + h->header_len, body);
    if (codec == CODEC_VP8) ms_xlate_vp8(&c->x, e, o + off, body, original);
    off += body;
    int n = t->rec_buf ? off : srtp_protect_rtp(t->srtp_out, o, off, MTU + 64);
    if (n < 0) return;
    if (twcc >= 0 && t->bwe) bwe_on_sent(t->bwe, (uint16_t)twcc, n + 28, tx_time(w), w->probe_cluster);
    w->st.rtp_tx++;
    c->packets++;
    c->bytes += n;
    if (!original) { c->rtx++; w->st.rtx_tx++; }
    else {
        c->rate_bytes += (uint64_t)n;
        ms_xlate_sent(&c->x, out_seq, h->ts + e->ts_off); c->last_send_us = w->now_us;
        c->sr_packets++; c->sr_octets += (uint32_t)body;
    }
    tx_commit(w, t, n);
}

/* Start a new epoch of c's output at this (keyframe) packet of layer producer p: sequence numbers and
 * timestamps carry on where the output stopped, or start at random values for a new consumer. */
static void start_epoch(ms_worker_t *w, ms_consumer_t *c, ms_producer_t *p, const rtp_hdr_t *h, uint32_t ext) {
    uint16_t rseq = 0;
    uint32_t rts = 0;
    if (!c->x.has_sent) { RAND_bytes((uint8_t *)&rseq, 2); RAND_bytes((uint8_t *)&rts, 4); }
    uint64_t gap = w->now_us > c->last_send_us ? w->now_us - c->last_send_us : 0;
    ms_xlate_start(&c->x, h->seq, h->ts, ext, p->layer_idx, gap, p->prm.clock_rate, rseq, rts);
    c->started = 1;
    c->cur_layer = p->layer_idx;
    c->keyframes++;
}

static void forward_one(ms_worker_t *w, ms_consumer_t *c, ms_producer_t *p, const cache_slot_t *s, const rtp_hdr_t *h,
                        int is_key) {
    const uint8_t *pkt = s->data;
    uint32_t ext = s->ext;
    if (c->paused || !can_send(c->t)) return;
    int layer = p->layer_idx;
    if (c->target_layer < 0) { c->started = 0; return; }          /* video off */
    /* a downgrade for congestion: stop feeding the queue at once; the picture holds until the lower
     * layer's keyframe (a short freeze rather than a growing backlog with losses) */
    if (c->started && layer == c->cur_layer && c->target_layer < c->cur_layer && c->t->alloc.congested &&
        c->p->nlayers > 1)
        return;
    if (!c->started || layer != c->cur_layer) {
        if (layer != c->target_layer) return;                      /* not this consumer's layer */
        if (!is_key) { request_keyframe(w, p); return; }           /* switch on a keyframe only */
        start_epoch(w, c, p, h, ext);
    } else if (ext < c->x.start_ext) {
        return;                                  /* older than the point this consumer (re)started */
    }
    int codec = p->prm.codec_of_pt[h->pt];
    uint16_t out_seq;
    ms_epoch_t *e;
    if (!ms_xlate_packet(&c->x, h->seq, ext, pkt + h->header_len, h->payload_len, codec == CODEC_VP8, &out_seq, &e))
        return;                                  /* left out by temporal-layer filtering */
    send_to_consumer(w, c, s, h, 0, 1, out_seq, e, codec);
}

/* Whether a packet of this layer can matter to c: the layer it is on or wants, or the switch-off of its
 * video (forward_one); a consumer of another layer is passed over reading only its first cache line. */
static inline int wants_layer(const ms_consumer_t *c, int layer) {
    return c->target_layer == layer || (c->started && (c->cur_layer == layer || c->target_layer < 0));
}
/* The same for any of the layers in lmask (bit i: layer i). */
static inline int wants_any(const ms_consumer_t *c, unsigned lmask) {
    return (c->target_layer >= 0 && ((lmask >> c->target_layer) & 1)) ||
           (c->started && (c->target_layer < 0 || (c->cur_layer >= 0 && ((lmask >> c->cur_layer) & 1))));
}

/* The memory a consumer's turn touches (its first lines, the payload-type map and extension ids, its
 * transport's first two lines, the estimator and the SRTP context) is fetched a few consumers ahead, in
 * stages, since each pointer is read from the line fetched a stage earlier. A turn that sends does an
 * encryption, which covers a memory fetch many times over; without this, those misses were most of
 * forward_pending's and send_to_consumer's time with hundreds of consumers (issue 18, item 6). */
#define CONSUMER_HOT_BYTES 384
static inline void prefetch_consumer(const ms_consumer_t *c, int pt) {
    for (int off = 0; off < CONSUMER_HOT_BYTES; off += 64) __builtin_prefetch((const char *)c + off);
    __builtin_prefetch(&c->prm.pt_map[pt]);
    __builtin_prefetch(&c->prm.ext_mid);
}
static inline void prefetch_transport(const ms_consumer_t *c) {
    const ms_transport_t *t = c->t;
    __builtin_prefetch(t, 1);
    __builtin_prefetch((const char *)t + 64, 1);
}
static inline void prefetch_sender(const ms_consumer_t *c) {
    const ms_transport_t *t = c->t;
    if (t->bwe) __builtin_prefetch(&t->bwe->hist);
    if (t->srtp_out) __builtin_prefetch(t->srtp_out);
}

/* One consumer's turn in a batch: the stream's packets it wants, in arrival order. */
static inline void serve(ms_worker_t *w, ms_consumer_t *c, unsigned lmask, const int *idx, int m) {
    if (!wants_any(c, lmask)) return;
    for (int q = 0; q < m; q++) {
        pend_t *pe = &w->pend[idx[q]];
        if (wants_layer(c, pe->p->layer_idx)) forward_one(w, c, pe->p, pe->slot, &pe->h, pe->is_key);
    }
}

/* Forward what this receive batch brought, one pass over a stream's consumers for all its layers' packets
 * in arrival order: each consumer's packets leave as one burst, which UDP GSO can carry in one message. */
void forward_pending(ms_worker_t *w) {
    int idx[PEND_MAX];
    for (int i = 0; i < w->npend; i++) {
        if (!w->pend[i].p) continue;
        ms_producer_t *hd = w->pend[i].p->head;
        /* this stream's packets of the batch whose cache slot still holds them; every layer goes on to the
         * workers with subscribers of the stream (issue 18), once each */
        int m = 0;
        unsigned lmask = 0;
        for (int j = i; j < w->npend; j++) {
            pend_t *pe = &w->pend[j];
            if (!pe->p || pe->p->head != hd) continue;
            if (pe->slot->seq == pe->h.seq) {
                idx[m++] = j;
                lmask |= 1u << pe->p->layer_idx;
                if (hd->npipes) pipe_push(w, pe->p, pe->slot);
            }
        }
        /* the links to other nodes first (their whole audience waits on them), then the others from a
         * different one each batch, so the wait for a long burst is shared by all */
        for (int k = 0; k < hd->nfirst && m; k++) serve(w, hd->cons[k], lmask, idx, m);   /* the links */
        int n = hd->ncons - hd->nfirst;
        if (n && m) {
            ms_consumer_t **cons = hd->cons + hd->nfirst;
            int pt = w->pend[idx[0]].h.pt;
            int first = (int)(hd->rotate++ % (uint32_t)n);
            for (int k = 0; k <= 3 && k < n; k++) prefetch_consumer(cons[(first + k) % n], pt);
            for (int k = 0; k <= 1 && k < n; k++)
                if (wants_any(cons[(first + k) % n], lmask)) prefetch_transport(cons[(first + k) % n]);
            for (int k = 0, at = first; k < n; k++, at = at + 1 == n ? 0 : at + 1) {
                ms_consumer_t *ahead;
                if (k + 4 < n) prefetch_consumer(cons[(at + 4) % n], pt);
                if (k + 2 < n && wants_any(ahead = cons[(at + 2) % n], lmask)) prefetch_transport(ahead);
                if (k + 1 < n && wants_any(ahead = cons[(at + 1) % n], lmask)) prefetch_sender(ahead);
                serve(w, cons[at], lmask, idx, m);
            }
        }
        for (int j = i; j < w->npend; j++)
            if (w->pend[j].p && w->pend[j].p->head == hd) w->pend[j].p = NULL;
    }
    w->npend = 0;
    if (w->ndirty) pipe_wake(w);
}

static void nack_upstream_gap(ms_producer_t *p, uint16_t from, uint16_t to, uint64_t now) {
    for (uint16_t s = from; s != to && p->nnack < NACK_MAX; s++) {
        nack_item_t *n = &p->nack[p->nnack++];
        n->seq = s; n->tries = 0; n->sent_us = 0; n->added_us = now;
    }
}
static void nack_remove(ms_producer_t *p, uint16_t seq) {
    for (int i = 0; i < p->nnack; i++)
        if (p->nack[i].seq == seq) { p->nack[i] = p->nack[--p->nnack]; return; }
}

static ms_producer_t *learn_ssrc(ms_worker_t *w, ms_transport_t *t, const uint8_t *buf, const rtp_hdr_t *h) {
    for (ms_producer_t *p = w->producers; p; p = p->next) {
        if (p->t != t || !p->prm.ext_mid) continue;
        int l;
        const uint8_t *v = rtp_ext(buf, h, p->prm.ext_mid, &l);
        if (!v || l != (int)strlen(p->prm.mid) || memcmp(v, p->prm.mid, l) != 0) continue;
        int is_rtx = p->prm.apt_of_rtx[h->pt] != 0xff;
        if (p->rid[0]) {                     /* a simulcast layer: its rid (or repaired rid for RTX) */
            int rl;
            const uint8_t *r = rtp_ext(buf, h, is_rtx ? p->prm.ext_rrid : p->prm.ext_rid, &rl);
            if (!r || rl != (int)strlen(p->rid) || memcmp(r, p->rid, rl) != 0) continue;
        }
        if (is_rtx && !p->prm.rtx_ssrc) p->prm.rtx_ssrc = h->ssrc;
        else if (!is_rtx && !p->prm.ssrc) p->prm.ssrc = h->ssrc;
        else continue;
        ms_map_put(&w->prod_by_ssrc, ((uint64_t)t->id << 32) | h->ssrc, p);
        push_event(w, EV_PRODUCER_SSRC, p->id, h->ssrc, is_rtx, NULL);
        return p;
    }
    return NULL;
}

static void sink_rtp(ms_worker_t *w, ms_transport_t *t, uint8_t *buf, int len) {
    int n = srtp_unprotect_rtp(t->srtp_in, buf, len);
    if (n < 0) { t->sink_decrypt_errors++; return; }
    peer_proved(t);
    rtp_hdr_t h;
    if (rtp_parse(buf, n, &h) < 0) { w->st.drops[DROP_RTP_MALFORMED]++; return; }
    t->sink_packets++;
    t->sink_bytes += n;
    if (t->cap) {
        ms_capture_t *r = &t->cap[t->cap_head++ % MS_CAPTURE];
        if (t->cap_head - t->cap_tail > MS_CAPTURE) t->cap_tail = t->cap_head - MS_CAPTURE;
        r->arrival_us = w->now_us; r->ts = h.ts; r->ssrc = h.ssrc; r->seq = h.seq; r->pt = h.pt;
        r->marker = h.marker; r->len = (int16_t)n;
        r->npayload = (uint8_t)(h.payload_len < MS_CAPTURE_PAYLOAD ? h.payload_len : MS_CAPTURE_PAYLOAD);
        memcpy(r->payload, buf + h.header_len, r->npayload);
    }
    for (int i = 0; i < MS_SINK_SSRCS; i++) {
        if (t->sink[i].init && t->sink[i].ssrc != h.ssrc) continue;
        t->sink[i].ssrc = h.ssrc;
        ms_seq_track(&t->sink[i], h.seq);
        break;
    }
    int vl;
    const uint8_t *v;
    if (t->sink_abs_ext && (v = rtp_ext(buf, &h, t->sink_abs_ext, &vl)) && vl == 3) {
        uint32_t now = (uint32_t)(((w->now_us << 18) / 1000000ull) & 0xffffff);
        uint32_t d = (now - rd24(v)) & 0xffffff;
        uint64_t us = ((uint64_t)d * 1000000ull) >> 18;
        t->latency_hist[ms_latency_bucket(us)]++;
    }
}

void handle_rtp(ms_worker_t *w, ms_transport_t *t, uint8_t *buf, int len) {
    w->st.rtp_rx++;
    if (t->client_mode == CLIENT_SINK) { sink_rtp(w, t, buf, len); return; }
    int n = srtp_unprotect_rtp(t->srtp_in, buf, len);
    if (n < 0) { w->st.drops[n == SRTP_ERR_REPLAY ? DROP_SRTP_REPLAY : DROP_SRTP_AUTH]++; return; }
    peer_proved(t);
    rtp_hdr_t h;
    if (rtp_parse(buf, n, &h) < 0) { w->st.drops[DROP_RTP_MALFORMED]++; return; }
    if (t->twcc_ext) {            /* every authentic packet counts for the sender's estimate, padding too */
        int tl;
        const uint8_t *tv = rtp_ext(buf, &h, t->twcc_ext, &tl);
        if (tv && tl == 2) {
            if (!t->twcc_rx && (t->twcc_rx = malloc(sizeof(twcc_rx_t)))) twcc_rx_init(t->twcc_rx);
            if (t->twcc_rx) { twcc_rx_on_packet(t->twcc_rx, rd16(tv), w->now_us); t->twcc_media_ssrc = h.ssrc; }
        }
    }
    ms_producer_t *p = ms_map_get(&w->prod_by_ssrc, ((uint64_t)t->id << 32) | h.ssrc);
    if (!p && !(p = learn_ssrc(w, t, buf, &h))) { w->st.drops[DROP_UNKNOWN_SSRC]++; return; }
    if (h.ssrc == p->prm.rtx_ssrc && p->prm.rtx_ssrc != p->prm.ssrc) {
        /* RTX (RFC 4588): restore the original packet in place */
        uint8_t apt = p->prm.apt_of_rtx[h.pt];
        if (h.payload_len < 2 || apt == 0xff) { w->st.drops[DROP_RTP_MALFORMED]++; return; }
        uint16_t osn = rd16(buf + h.header_len);
        int plen = n - h.header_len - 2;
        memmove(buf + h.header_len, buf + h.header_len + 2, plen);
        n -= 2;
        buf[1] = (uint8_t)((buf[1] & 0x80) | apt);
        wr16(buf + 2, osn);
        wr32(buf + 8, p->prm.ssrc);
        if (rtp_parse(buf, n, &h) < 0) { w->st.drops[DROP_RTP_MALFORMED]++; return; }
    } else if (h.ssrc != p->prm.ssrc) {
        w->st.drops[DROP_UNKNOWN_SSRC]++;
        return;
    }
    ingest_rtp(w, p, buf, n, &h);
}

/* Where the extensions every consumer copies are in the cached packet (cache_slot_t), by the ids the
 * stream's publisher negotiated; a value of the wrong length counts as none. */
static void ext_offsets(cache_slot_t *slot, const rtp_hdr_t *h, const ms_producer_t *hd) {
    int vl;
    const uint8_t *v;
    slot->abs_off = slot->alevel_off = 0;
    if (hd->prm.ext_abs && (v = rtp_ext(slot->data, h, hd->prm.ext_abs, &vl)) && vl == 3)
        slot->abs_off = (uint16_t)(v - slot->data);
    if (hd->prm.ext_alevel && (v = rtp_ext(slot->data, h, hd->prm.ext_alevel, &vl)) && vl == 1)
        slot->alevel_off = (uint16_t)(v - slot->data);
}

void ingest_rtp(ms_worker_t *w, ms_producer_t *p, uint8_t *buf, int n, rtp_hdr_t *hp) {
    rtp_hdr_t h = *hp;
    if (n > MTU) { w->st.drops[DROP_TOO_BIG]++; return; }
    cache_slot_t *slot = &p->cache[h.seq & (CACHE - 1)];
    if (slot->valid && slot->seq == h.seq) { w->st.drops[DROP_DUPLICATE]++; return; }
    if (slot->valid && seq_newer(slot->seq, h.seq)) { w->st.drops[DROP_TOO_OLD]++; return; }  /* >1024 late */
    /* receive statistics (RFC 3550 A.1, A.8) */
    if (p->track.init && seq_newer(h.seq, p->track.max_seq)) {
        uint16_t expect = (uint16_t)(p->track.max_seq + 1);
        if (h.seq != expect && p->prm.nack && p->prm.kind == 1 && seq_diff(h.seq, expect) < NACK_MAX)
            nack_upstream_gap(p, expect, h.seq, w->now_us);
    } else if (p->nnack) {
        nack_remove(p, h.seq);
    }
    ms_seq_track(&p->track, h.seq);
    uint32_t ext = ms_seq_ext(&p->track, h.seq);
    uint32_t clock = p->prm.clock_rate ? p->prm.clock_rate : 90000;
    int64_t arrival = (int64_t)(w->now_us * clock / 1000000ull);
    int64_t transit = arrival - (int64_t)h.ts;
    if (p->packets) {
        int64_t d = transit - p->last_transit;
        if (d < 0) d = -d;
        if (d < (int64_t)clock * 10) p->jitter += ((double)d - p->jitter) / 16.0;
    }
    p->last_transit = transit;
    p->packets++;
    p->bytes += n;
    p->rate_bytes += n + 44;      /* as it goes on the wire: SRTP tag, UDP and IPv4 headers */
    if (!p->last_rx_us || w->now_us - p->last_rx_us > LAYER_IDLE_US) p->first_rx_us = w->now_us;
    p->last_rx_us = w->now_us;
    slot->seq = h.seq;
    slot->ext = ext;
    slot->len = (int16_t)n;
    slot->valid = 1;
    memcpy(slot->data, buf, n);
    ext_offsets(slot, &h, p->head);
    int is_key = 1;
    if (p->prm.kind == 1) {
        is_key = rtp_is_keyframe(p->prm.codec_of_pt[h.pt], slot->data + h.header_len, h.payload_len);
        if (is_key) { p->keyframes++; p->pli_pending = 0; }   /* whoever was waiting starts on this one */
    }
    if (w->npend == PEND_MAX) forward_pending(w);
    pend_t *pe = &w->pend[w->npend++];
    pe->p = p;
    pe->slot = slot;
    pe->h = h;
    pe->is_key = is_key;
}

#define RTX_SHARE_PCT 15

static int rtx_allowed(ms_worker_t *w, ms_transport_t *t, int bytes) {
    if (!t->bwe || !t->expect_fb) return 1;
    double rate = (double)transport_estimate(t) * RTX_SHARE_PCT / 100.0 / 8.0;   /* bytes per second */
    t->rtx_tokens += rate * (double)(w->now_us - t->rtx_refill_us) / 1e6;
    t->rtx_refill_us = w->now_us;
    if (t->rtx_tokens > rate / 10.0 + 1500.0) t->rtx_tokens = rate / 10.0 + 1500.0;   /* 100 ms of burst */
    if (t->rtx_tokens < bytes) { w->st.rtx_skipped++; return 0; }
    t->rtx_tokens -= bytes;
    return 1;
}

/* The NACK budget (worker.h, MS_RTX_*; issue 14 finding 10). How long a retransmitted packet is not sent
 * again: one round trip, within which a retransmission cannot have been lost and asked for again. */
static uint64_t rtx_repeat_us(const ms_consumer_t *c) {
    if (!c->rtt_known) return MS_RTX_RTT_DEFAULT_US;
    if (c->rtt_us < MS_RTX_RTT_MIN_US) return MS_RTX_RTT_MIN_US;
    return c->rtt_us > MS_RTX_RTT_MAX_US ? MS_RTX_RTT_MAX_US : (uint64_t)c->rtt_us;
}

/* Refills the consumer's bucket (bytes): a share of what it forwards plus a floor, at most MS_RTX_BURST_MS
 * of that. A new consumer starts with a full bucket (rtx_refill_us 0). */
static void rtx_refill(ms_worker_t *w, ms_consumer_t *c) {
    double rate = (double)c->bps / 8.0 * MS_RTX_SHARE_PCT / 100.0 + MS_RTX_FLOOR_BYTES;   /* bytes per second */
    double cap = rate * MS_RTX_BURST_MS / 1000.0;
    c->rtx_tokens += rate * (double)(w->now_us - c->rtx_refill_us) / 1e6;
    if (c->rtx_tokens > cap) c->rtx_tokens = cap;
    c->rtx_refill_us = w->now_us;
}

void retransmit(ms_worker_t *w, ms_consumer_t *c, uint16_t out_seq) {
    if (!c->started || c->paused || !can_send(c->t)) return;
    if (w->now_us < w->overload_until_us) { w->st.rtx_shed++; return; }   /* saturated: fresh media first */
    ms_epoch_t *e = ms_xlate_epoch_of(&c->x, out_seq);
    if (!e || e->layer < 0 || e->layer >= c->p->nlayers) return;
    ms_producer_t *p = c->p->layer[e->layer];
    uint16_t seq = (uint16_t)(out_seq - e->seq_off);
    cache_slot_t *s = &p->cache[seq & (CACHE - 1)];
    if (!s->valid || s->seq != seq || s->ext < e->start_ext) return;
    rtp_hdr_t h;
    if (rtp_parse(s->data, s->len, &h) < 0) return;
    uint32_t now_ms = (uint32_t)(w->now_us / 1000);
    if (!c->rtx_seen) c->rtx_seen = calloc(RTX_SEEN, sizeof(rtx_seen_t));   /* none: no repeat check */
    rtx_seen_t *seen = c->rtx_seen ? &c->rtx_seen[out_seq & (RTX_SEEN - 1)] : NULL;
    if (seen && seen->used && seen->seq == out_seq && (uint64_t)(now_ms - seen->at_ms) * 1000 < rtx_repeat_us(c)) {
        c->rtx_refused++; w->st.rtx_refused_repeat++;
        return;
    }
    int cost = s->len + MS_RTX_OVERHEAD;
    rtx_refill(w, c);
    if (c->rtx_tokens < cost) { c->rtx_refused++; w->st.rtx_refused_rate++; return; }
    uint8_t cpt = c->prm.pt_map[h.pt];
    int rtx = c->prm.rtx_ssrc && cpt != 0xff && c->prm.rtx_pt_of[cpt] != 0xff;
    if (!rtx_allowed(w, c->t, s->len + 60)) return;
    c->rtx_tokens -= cost;
    if (seen) { seen->used = 1; seen->seq = out_seq; seen->at_ms = now_ms; }
    send_to_consumer(w, c, s, &h, rtx, 0, out_seq, e, p->prm.codec_of_pt[h.pt]);
}
