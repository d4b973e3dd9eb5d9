/* Simulcast layers and the allocation applied to consumers: each layer's measured rate and its rank among
 * its siblings, then, per subscriber transport, its consumers given to the allocation policy (alloc.h) as
 * plain streams and its decisions mapped back to layers. The policy itself is all in alloc.c. */
#include "io.h"

#define RATE_WINDOW_US 500000ull

static uint32_t smooth_rate(uint32_t old, uint64_t bytes, uint64_t dt_us) {
    uint64_t inst = bytes * 8ull * 1000000ull / (dt_us ? dt_us : 1);
    if (inst > 0xffffffffull) inst = 0xffffffffull;
    return old ? (uint32_t)((old + inst) / 2) : (uint32_t)inst;
}

int layer_active(const ms_worker_t *w, const ms_producer_t *p) {
    return p->last_rx_us && w->now_us - p->last_rx_us <= LAYER_IDLE_US && w->now_us - p->first_rx_us >= LAYER_WARMUP_US;
}

void measure_rates(ms_worker_t *w) {
    for (ms_producer_t *p = w->producers; p; p = p->next) {
        if (w->now_us - p->rate_at_us < RATE_WINDOW_US) continue;
        p->bps = p->rate_at_us ? smooth_rate(p->bps, p->rate_bytes, w->now_us - p->rate_at_us) : 0;
        if (p->last_rx_us && w->now_us - p->last_rx_us > LAYER_IDLE_US) p->bps = 0;
        p->rate_bytes = 0;
        p->rate_at_us = w->now_us;
    }
    for (ms_producer_t *p = w->producers; p; p = p->next) {   /* rank the layers of each head */
        if (p->head != p || p->nlayers < 2) continue;
        for (int i = 0; i < p->nlayers; i++) {
            int r = 0;
            for (int j = 0; j < p->nlayers; j++)
                if (p->layer[j]->bps < p->layer[i]->bps || (p->layer[j]->bps == p->layer[i]->bps && j < i)) r++;
            p->layer[i]->rank = r;
        }
    }
    for (ms_consumer_t *c = w->consumers; c; c = c->next) {
        if (w->now_us - c->rate_at_us < RATE_WINDOW_US) continue;
        c->bps = c->rate_at_us ? smooth_rate(c->bps, c->rate_bytes, w->now_us - c->rate_at_us) : 0;
        c->rate_bytes = 0;
        c->rate_at_us = w->now_us;
    }
}

/* The estimate the allocation works with: none (the budgets alone) for a peer that gives no feedback. */
uint32_t transport_estimate(const ms_transport_t *t) {
    return t->bwe && (t->expect_fb || t->got_fb) ? bwe_estimate(t->bwe) : MS_ALLOC_NO_ESTIMATE;
}

static int rank_of(const ms_producer_t *hd, int layer) { return hd->nlayers > 1 ? hd->layer[layer]->rank : 0; }

static void allocate(ms_worker_t *w, ms_transport_t *t) {
    ms_alloc_stream_t st[MS_ALLOC_MAX_STREAMS];
    ms_consumer_t *cs[MS_ALLOC_MAX_STREAMS];
    int n = 0;
    uint64_t sending = 0;
    for (ms_consumer_t *c = t->cons; c; c = c->tnext) if (!c->paused) sending += c->bps;
    for (ms_consumer_t *c = t->cons; c && n < MS_ALLOC_MAX_STREAMS; c = c->tnext) {
        if (c->paused) continue;
        ms_producer_t *hd = c->p;
        if (c->forced_layer != MS_LAYER_AUTO) {
            c->target_layer = c->forced_layer < hd->nlayers ? c->forced_layer : hd->nlayers - 1;
            continue;
        }
        ms_alloc_stream_t *a = &st[n];
        memset(a, 0, sizeof(*a));
        a->kind = hd->prm.kind;
        a->priority = c->priority;
        a->max_bps = c->max_bps;
        a->nlayers = hd->nlayers;
        int any = 0;
        for (int i = 0; i < hd->nlayers; i++) {
            int r = rank_of(hd, i);
            a->layer_bps[r] = hd->layer[i]->bps;
            a->layer_active[r] = (uint8_t)(hd->prm.kind == 0 || layer_active(w, hd->layer[i]));
            any |= a->layer_active[r];
        }
        if (!any) continue;                         /* nothing flows: keep what was chosen */
        a->current = c->started && c->cur_layer >= 0 ? rank_of(hd, c->cur_layer) : -1;
        a->previous = c->target_layer >= 0 && c->target_layer < hd->nlayers ? rank_of(hd, c->target_layer) : -1;
        a->off_since_us = c->off_since_us;
        cs[n++] = c;
    }
    ms_alloc_ctx_t *x = &t->alloc;
    x->now_us = w->now_us;
    x->estimate_bps = transport_estimate(t);
    x->validated_bps = validated_bps(w, t);
    x->budget_bps = t->budget_bps;
    x->sending_bps = sending;
    x->feedback = t->expect_fb;
    x->over_tcp = t->tcp != NULL;
    ms_alloc_policy(x, st, n);
    for (int k = 0; k < n; k++) {
        ms_consumer_t *c = cs[k];
        ms_producer_t *hd = c->p;
        int layer = -1;
        if (st[k].target >= 0)
            for (int i = 0; i < hd->nlayers; i++) if (rank_of(hd, i) == st[k].target) layer = i;
        int before = c->target_layer;
        c->off_since_us = st[k].off_since_us;
        c->target_layer = layer;
        if (layer >= 0 && layer != before) consumer_keyframe(w, c);
    }
}

void allocate_all(ms_worker_t *w) {
    for (ms_transport_t *t = w->transports; t; t = t->next) {
        send_twcc_feedback(w, t);
        if (!t->cons) continue;
        maybe_probe(w, t);
        if (ms_alloc_due(&t->alloc, transport_estimate(t), w->now_us)) allocate(w, t);
    }
}
