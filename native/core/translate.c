/* Sequence number, timestamp and picture-ID translation: see translate.h. */
#include "translate.h"

void ms_xlate_init(ms_xlate_t *x) {
    memset(x, 0, sizeof(*x));
    x->tl_target = x->tl_cur = MS_XLATE_TL_ALL;
    x->tl_pic = -1;
}

static ms_epoch_t *push_epoch(ms_xlate_t *x) {
    if (x->nep == MS_XLATE_EPOCHS) {
        memmove(x->ep, x->ep + 1, (MS_XLATE_EPOCHS - 1) * sizeof(ms_epoch_t));
        x->nep--;
    }
    return &x->ep[x->nep++];
}

ms_epoch_t *ms_xlate_start(ms_xlate_t *x, uint16_t seq, uint32_t ts, uint32_t ext, int layer, uint64_t gap_us,
                           uint32_t clock, uint16_t rand_seq, uint32_t rand_ts) {
    uint16_t first;
    uint32_t ts0;
    if (x->has_sent) {
        first = (uint16_t)(x->last_seq_out + 1);
        ts0 = x->last_ts_out + (uint32_t)(gap_us * (clock ? clock : 90000) / 1000000ull) + 1;
    } else {
        first = rand_seq & 0x7fff;
        ts0 = rand_ts;
    }
    ms_epoch_t *e = push_epoch(x);
    memset(e, 0, sizeof(*e));
    e->out_start = first;
    e->seq_off = (uint16_t)(first - seq);
    e->ts_off = ts0 - ts;
    e->layer = (int8_t)layer;
    e->start_ext = ext;
    x->start_ext = ext;
    x->seq_off = e->seq_off;
    x->ts_off = e->ts_off;
    x->pic_resync = 1;
    x->tl_cur = x->tl_target;                   /* a keyframe is a sync point for every temporal layer */
    x->tl_drop = 0; x->tl_seqs_dropped = x->tl_pics_dropped = 0; x->tl_pic = -1;
    return e;
}

void ms_xlate_continue(ms_xlate_t *x, uint16_t seq, uint32_t ext) {
    ms_epoch_t prev = x->ep[x->nep - 1];
    ms_epoch_t *e = push_epoch(x);
    *e = prev;
    e->out_start = (uint16_t)(x->last_seq_out + 1);
    e->seq_off = (uint16_t)(e->out_start - seq);
    e->pic_off = (uint16_t)(prev.pic_off - x->tl_pics_dropped);
    e->start_ext = ext;
    x->start_ext = ext;
    x->seq_off = e->seq_off;
    x->tl_seqs_dropped = x->tl_pics_dropped = 0;
}

int ms_xlate_temporal_drop(ms_xlate_t *x, const uint8_t *payload, int len) {
    vp8_desc_t d;
    if (rtp_vp8_desc(payload, len, &d) < 0 || !d.has_tid || !d.has_pic) return 0;
    if (d.start && d.pic != x->tl_pic) {         /* a new picture: decide its fate once */
        x->tl_pic = d.pic;
        if (x->tl_target < x->tl_cur) x->tl_cur = x->tl_target;
        else if (x->tl_target > x->tl_cur && d.y && d.tid <= x->tl_target) x->tl_cur = x->tl_target;
        x->tl_drop = d.tid > x->tl_cur;
        if (x->tl_drop) { x->tl_pics_dropped++; x->tl_frames_dropped++; }
    }
    if (x->tl_drop && d.pic == x->tl_pic) { x->tl_seqs_dropped++; return 1; }
    return 0;
}

void ms_xlate_set_temporal(ms_xlate_t *x, int tl) {
    if (tl == MS_XLATE_TL_ALL && x->tl_target != MS_XLATE_TL_ALL) x->tl_target = 3;  /* all, up at a sync frame */
    else x->tl_target = tl;
    if (x->tl_cur == MS_XLATE_TL_ALL) x->tl_cur = 3;
}
