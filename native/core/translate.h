/* Sequence number, timestamp and VP8 picture-ID translation of one outgoing stream (a consumer), and the
 * extended sequence numbers of one incoming stream. Pure functions on plain structs: no I/O, no clock, no
 * randomness (the caller passes the elapsed time and the random starting values), no worker.
 *
 * A consumer's output is a series of epochs: stretches taken from one layer with one set of offsets. A new
 * epoch starts at a keyframe (a layer switch or a restart) or after frames left out by temporal-layer
 * filtering; its offsets are chosen so that the receiver sees one continuous stream:
 *   - sequence numbers (16 bit) carry on at the last one sent + 1, wrapping mod 2^16;
 *   - timestamps (32 bit) only move forward: the last one sent + the elapsed time in clock ticks + 1;
 *   - VP8 picture IDs (15 or 7 bit, as the packet carries them) and TL0PICIDX (8 bit) carry on at the last
 *     ones + 1, each in its own width.
 * The per-packet functions are static inline: they sit on the forwarding path. */
#ifndef MS_TRANSLATE_H
#define MS_TRANSLATE_H
#include <stdint.h>
#include <string.h>

#include "rtp.h"

#define MS_XLATE_EPOCHS 8       /* epochs remembered, for retransmissions of older output */
#define MS_XLATE_TL_ALL 255     /* temporal filtering off: every temporal layer */

/* ---------- incoming: extended sequence numbers (RFC 3550 A.1) ---------- */

typedef struct { uint32_t ssrc; uint16_t max_seq; uint32_t cycles, base, received; int init; } ms_seq_track_t;

static inline int ms_seq_newer(uint16_t a, uint16_t b) { return a != b && (uint16_t)(a - b) < 0x8000; }

static inline void ms_seq_track(ms_seq_track_t *s, uint16_t seq) {
    if (!s->init) { s->init = 1; s->max_seq = seq; s->base = seq; s->cycles = 0; s->received = 1; return; }
    s->received++;
    if (ms_seq_newer(seq, s->max_seq)) {
        if (seq < s->max_seq) s->cycles += 65536;
        s->max_seq = seq;
    }
}
static inline uint32_t ms_seq_expected(const ms_seq_track_t *s) {
    return s->init ? s->cycles + s->max_seq - s->base + 1 : 0;
}
/* The extended number of seq, tracked already (a late packet from before the latest wrap counts back). */
static inline uint32_t ms_seq_ext(const ms_seq_track_t *s, uint16_t seq) {
    uint32_t ext = s->cycles + seq;
    if (seq > s->max_seq && seq - s->max_seq >= 0x8000) ext -= 65536;
    return ext;
}

/* ---------- outgoing: one consumer's translation ---------- */

typedef struct {
    uint16_t out_start, seq_off, pic_off;
    uint8_t tl0_off;
    int8_t layer;
    uint32_t start_ext, ts_off;
} ms_epoch_t;

typedef struct {
    /* the fields every forwarded packet reads first, the epochs last */
    uint16_t seq_off;          /* the current epoch's offsets */
    uint32_t ts_off;
    uint32_t start_ext;        /* extended input sequence number the current epoch started at */
    int has_sent;              /* an original packet went out: later epochs carry on from it */
    uint16_t last_seq_out;
    uint32_t last_ts_out;
    int pic_resync, has_pic;   /* VP8: picture ID / TL0PICIDX continuity across epochs */
    uint16_t last_pic_out;
    uint8_t last_tl0_out;
    /* VP8 temporal layers: forward frames of TID <= tl_cur; tl_cur follows tl_target down at once and up
     * at a layer-sync frame (Y bit); dropped frames are compensated in sequence numbers and picture IDs */
    int tl_target, tl_cur, tl_pic, tl_drop;
    uint32_t tl_seqs_dropped, tl_pics_dropped;
    uint64_t tl_frames_dropped;
    int nep;
    ms_epoch_t ep[MS_XLATE_EPOCHS];
} ms_xlate_t;

void ms_xlate_init(ms_xlate_t *x);
/* A new epoch at this (keyframe) packet of layer `layer`: seq/ts of the input packet, ext its extended
 * sequence number; gap_us since the last original packet went out and clock (Hz) move the timestamp on;
 * rand_seq / rand_ts start a consumer that never sent (the sequence number kept below 0x8000). */
ms_epoch_t *ms_xlate_start(ms_xlate_t *x, uint16_t seq, uint32_t ts, uint32_t ext, int layer, uint64_t gap_us,
                           uint32_t clock, uint16_t rand_seq, uint32_t rand_ts);
/* After temporal-layer drops: a new epoch of the same layer at this packet, sequence numbers closing the
 * gap and picture IDs skipping the dropped frames. */
void ms_xlate_continue(ms_xlate_t *x, uint16_t seq, uint32_t ext);
/* 1 when temporal-layer filtering leaves this VP8 packet out (payload: the VP8 payload descriptor on). */
int ms_xlate_temporal_drop(ms_xlate_t *x, const uint8_t *payload, int len);
/* Temporal filtering: forward TID <= tl (MS_XLATE_TL_ALL: everything, up at a sync frame). */
void ms_xlate_set_temporal(ms_xlate_t *x, int tl);

static inline ms_epoch_t *ms_xlate_current(ms_xlate_t *x) { return &x->ep[x->nep - 1]; }
static inline uint16_t ms_xlate_seq(const ms_xlate_t *x, uint16_t seq) { return (uint16_t)(seq + x->seq_off); }

/* The epoch an output sequence number belongs to: the newest one that started at or before it. */
static inline ms_epoch_t *ms_xlate_epoch_of(ms_xlate_t *x, uint16_t out_seq) {
    for (int i = x->nep - 1; i >= 0; i--)
        if ((uint16_t)(out_seq - x->ep[i].out_start) < 0x8000) return &x->ep[i];
    return NULL;
}

/* An original packet went out with this sequence number and timestamp. */
static inline void ms_xlate_sent(ms_xlate_t *x, uint16_t out_seq, uint32_t out_ts) {
    x->last_seq_out = out_seq; x->last_ts_out = out_ts; x->has_sent = 1;
}

/* The translation of one original packet (seq, its extended number ext, its payload): 1 with the output
 * sequence number and the epoch whose offsets apply (its ts_off, and ms_xlate_vp8 on the copied payload), or
 * 0 when temporal-layer filtering leaves it out (vp8: the payload is VP8). The decision only: the caller
 * writes the packet, then calls ms_xlate_sent. */
static inline int ms_xlate_packet(ms_xlate_t *x, uint16_t seq, uint32_t ext, const uint8_t *payload, int len,
                                  int vp8, uint16_t *out_seq, ms_epoch_t **e) {
    if (vp8 && x->tl_target != MS_XLATE_TL_ALL) {
        if (ms_xlate_temporal_drop(x, payload, len)) return 0;
        if (x->tl_seqs_dropped) ms_xlate_continue(x, seq, ext);
    }
    *out_seq = ms_xlate_seq(x, seq);
    *e = ms_xlate_current(x);
    return 1;
}

/* VP8 payload descriptor (RFC 7741 4.2): rewrite picture ID and TL0PICIDX by the epoch's offsets, in place
 * and in the same width. original: a first transmission (a retransmission changes no state). */
static inline void ms_xlate_vp8(ms_xlate_t *x, ms_epoch_t *e, uint8_t *d, int len, int original) {
    if (len < 2 || !(d[0] & 0x80)) return;
    uint8_t xb = d[1];
    int off = 2;
    if (xb & 0x80) {
        if (off >= len) return;
        int wide = d[off] & 0x80;
        if (wide && off + 1 >= len) return;
        uint16_t pic = wide ? (uint16_t)(((d[off] & 0x7f) << 8) | d[off + 1]) : (uint16_t)(d[off] & 0x7f);
        uint16_t mask = wide ? 0x7fff : 0x7f;
        if (original && x->pic_resync) e->pic_off = x->has_pic ? (uint16_t)(x->last_pic_out + 1 - pic) : 0;
        uint16_t out = (uint16_t)(pic + e->pic_off) & mask;
        if (wide) { d[off] = (uint8_t)(0x80 | (out >> 8)); d[off + 1] = (uint8_t)out; off += 2; }
        else { d[off] = (uint8_t)out; off += 1; }
        if (original) x->last_pic_out = out;
    }
    if (xb & 0x40) {
        if (off >= len) return;
        if (original && x->pic_resync) e->tl0_off = x->has_pic ? (uint8_t)(x->last_tl0_out + 1 - d[off]) : 0;
        d[off] = (uint8_t)(d[off] + e->tl0_off);
        if (original) x->last_tl0_out = d[off];
    }
    if (original && (xb & 0xc0)) { x->pic_resync = 0; x->has_pic = 1; }
}
#endif
