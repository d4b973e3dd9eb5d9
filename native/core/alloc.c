/* Bandwidth allocation across one subscriber's streams: see alloc.h. */
#include "alloc.h"

#include <string.h>

/* What a layer takes: its measured rate plus the headroom, or 90% of the rate for the current one
 * (hysteresis: estimates wobble by some 10%, and a stream must not flap between two layers). */
static uint64_t need(const ms_alloc_stream_t *s, int rank) {
    uint64_t b = s->layer_bps[rank];
    if (s->kind != 1) return b;
    return rank != s->current ? b + b * MS_ALLOC_HEADROOM_PCT / 100 : b - b / 10;
}

static int fits_budget(const ms_alloc_stream_t *s, int rank) {
    return !s->max_bps || s->layer_bps[rank] <= s->max_bps;
}

/* Index order: by priority, higher first, stable. */
static void order_by_priority(const ms_alloc_stream_t *s, int n, int *idx) {
    for (int i = 0; i < n; i++) idx[i] = i;
    for (int a = 1; a < n; a++)
        for (int b = a; b > 0 && s[idx[b]].priority > s[idx[b - 1]].priority; b--) {
            int t = idx[b]; idx[b] = idx[b - 1]; idx[b - 1] = t;
        }
}

uint32_t ms_allocate(ms_alloc_stream_t *s, int n, uint32_t available_bps, uint32_t total_budget_bps,
                     int hold_upgrades, int allow_off) {
    uint64_t left = available_bps;
    if (total_budget_bps && total_budget_bps < left) left = total_budget_bps;
    uint64_t used = 0;
    int idx[MS_ALLOC_MAX_STREAMS];
    if (n > MS_ALLOC_MAX_STREAMS) n = MS_ALLOC_MAX_STREAMS;
    order_by_priority(s, n, idx);
    /* audio: always on, whatever is left */
    for (int k = 0; k < n; k++) {
        ms_alloc_stream_t *a = &s[idx[k]];
        if (a->kind == 1) continue;
        a->target = 0;
        uint64_t b = a->layer_bps[0] ? a->layer_bps[0] : MS_ALLOC_AUDIO_DEFAULT_BPS;
        used += b;
        left = left > b ? left - b : 0;
    }
    /* video, pass 1: the lowest active layer within the stream's budget, by priority */
    uint64_t used_video = 0;
    for (int k = 0; k < n; k++) {
        ms_alloc_stream_t *v = &s[idx[k]];
        if (v->kind != 1) continue;
        v->target = -1;
        int nl = v->nlayers < 1 ? 1 : v->nlayers > MS_ALLOC_MAX_LAYERS ? MS_ALLOC_MAX_LAYERS : v->nlayers;
        v->nlayers = nl;
        if (hold_upgrades && v->current < 0 && allow_off) continue;   /* turning video back on waits too */
        for (int r = 0; r < nl; r++) {
            if (!v->layer_active[r]) continue;
            /* the lowest active layer; over the stream's budget only when it is the only choice left */
            int first_video = used_video == 0;
            if ((need(v, r) <= left && (!first_video || left >= MS_ALLOC_VIDEO_MIN_BPS)) || !allow_off) {
                used_video += need(v, r);
                v->target = r;
                left = need(v, r) <= left ? left - need(v, r) : 0;
                used += need(v, r);
            }
            break;
        }
    }
    /* video, pass 2: climb, by priority, to the highest layer that fits its budget and what is left */
    for (int k = 0; k < n; k++) {
        ms_alloc_stream_t *v = &s[idx[k]];
        if (v->kind != 1 || v->target < 0) continue;
        int cap = v->nlayers - 1;
        if (hold_upgrades && v->current >= 0 && v->current < cap) cap = v->current;
        for (int r = cap; r > v->target; r--) {
            if (!v->layer_active[r] || !fits_budget(v, r)) continue;
            uint64_t extra = need(v, r) - need(v, v->target);
            if (need(v, r) < need(v, v->target)) extra = 0;
            if (extra <= left) {
                left -= extra;
                used += extra;
                v->target = r;
                break;
            }
        }
    }
    return used > 0xffffffffull ? 0xffffffffu : (uint32_t)used;
}

static int lowest_active(const ms_alloc_stream_t *s) {
    for (int r = 0; r < s->nlayers; r++) if (s->layer_active[r]) return r;
    return -1;
}

void ms_alloc_policy(ms_alloc_ctx_t *x, ms_alloc_stream_t *s, int n) {
    ms_alloc_stream_t scratch[MS_ALLOC_MAX_STREAMS];
    if (n > MS_ALLOC_MAX_STREAMS) n = MS_ALLOC_MAX_STREAMS;
    uint32_t estimate = x->estimate_bps;
    /* the probing goal: what the best layers within the budgets would take */
    memcpy(scratch, s, sizeof(ms_alloc_stream_t) * n);
    x->wanted_bps = ms_allocate(scratch, n, MS_ALLOC_NO_ESTIMATE, x->budget_bps, 0, 1);
    int hold = x->now_us < x->hold_until_us;
    /* congestion (the estimate under what is being sent): aim lower, so that the queue drains */
    int over = x->feedback && estimate != MS_ALLOC_NO_ESTIMATE && x->sending_bps > estimate;
    x->congested = over && x->sending_bps * MS_ALLOC_FAR_OVER_PCT / 100 > estimate;
    if (over) estimate = (uint32_t)((uint64_t)estimate * MS_ALLOC_CONGESTED_TARGET_PCT / 100);
    /* video off only on an estimate that can climb back by probing (transport-cc), and never over ICE-TCP,
     * whose own congestion control distorts the delays transport-cc reports */
    int allow_off = x->feedback && !x->over_tcp;
    memcpy(scratch, s, sizeof(ms_alloc_stream_t) * n);
    uint32_t total = ms_allocate(scratch, n, estimate, x->budget_bps, hold, allow_off);
    /* an upgrade needs the rate proven: delivered lately, or measured by a probe; else allocate what was
     * proven, and let a probe find out */
    int upgrades = 0;
    for (int k = 0; k < n; k++) upgrades |= scratch[k].target > scratch[k].current;
    uint32_t available = estimate, proven = x->validated_bps;
    uint32_t start = estimate < MS_ALLOC_START_BPS ? estimate : MS_ALLOC_START_BPS;
    if (proven < start) proven = start;
    if (upgrades && !hold && total > proven) available = proven;
    ms_allocate(s, n, available, x->budget_bps, hold, allow_off);
    int downgraded = 0;
    for (int k = 0; k < n; k++) {
        ms_alloc_stream_t *v = &s[k];
        /* a downgrade of what flows holds upgrades; a wish that never started (a new consumer's first
         * allocation, before any estimate) is no downgrade */
        if (v->target < v->previous && v->current >= 0) downgraded = 1;
        if (v->target < 0 && v->kind == 1 && v->current >= 0) {
            if (!v->off_since_us) v->off_since_us = x->now_us;
            if (x->now_us - v->off_since_us < MS_ALLOC_VIDEO_OFF_AFTER_US) v->target = lowest_active(v);
        } else {
            v->off_since_us = 0;
        }
    }
    if (downgraded) x->hold_until_us = x->now_us + MS_ALLOC_HOLD_US;
    x->alloc_bps = estimate;
    x->next_alloc_us = x->now_us + MS_ALLOC_INTERVAL_US;
}

int ms_alloc_due(const ms_alloc_ctx_t *x, uint32_t estimate_bps, uint64_t now_us) {
    uint32_t d = estimate_bps > x->alloc_bps ? estimate_bps - x->alloc_bps : x->alloc_bps - estimate_bps;
    return now_us >= x->next_alloc_us || (uint64_t)d * 100 > (uint64_t)x->alloc_bps * MS_ALLOC_ESTIMATE_MOVE_PCT;
}
