/* RTP header parsing and codec-aware keyframe detection. */
#include "rtp.h"

#include <string.h>

#include "util.h"

int rtp_parse(const uint8_t *b, int len, rtp_hdr_t *h) {
    if (len < 12 || (b[0] >> 6) != 2) return -1;
    h->padding = (b[0] >> 5) & 1;
    h->cc = b[0] & 0x0f;
    h->marker = b[1] >> 7;
    h->pt = b[1] & 0x7f;
    h->seq = rd16(b + 2);
    h->ts = rd32(b + 4);
    h->ssrc = rd32(b + 8);
    int off = 12 + 4 * h->cc;
    h->n_ext = 0;
    h->ext_profile = 0;
    if (off > len) return -2;
    if (b[0] & 0x10) {
        if (off + 4 > len) return -3;
        int profile = rd16(b + off), words = rd16(b + off + 2);
        int start = off + 4, end = start + 4 * words;
        if (end > len) return -4;
        h->ext_profile = profile;
        int p = start;
        if (profile == 0xBEDE) {
            while (p < end) {
                uint8_t idl = b[p];
                if (idl == 0) { p++; continue; }           /* padding */
                int id = idl >> 4, l = (idl & 0x0f) + 1;
                if (id == 15) break;                         /* reserved: stop */
                if (p + 1 + l > end) return -5;
                if (h->n_ext < RTP_MAX_EXT) {
                    h->ext_id[h->n_ext] = id; h->ext_len[h->n_ext] = l; h->ext_off[h->n_ext] = p + 1; h->n_ext++;
                }
                p += 1 + l;
            }
        } else if ((profile & 0xfff0) == 0x1000) {
            while (p < end) {
                if (b[p] == 0) { p++; continue; }
                if (p + 2 > end) return -6;
                int id = b[p], l = b[p + 1];
                if (p + 2 + l > end) return -7;
                if (h->n_ext < RTP_MAX_EXT) {
                    h->ext_id[h->n_ext] = id; h->ext_len[h->n_ext] = l; h->ext_off[h->n_ext] = p + 2; h->n_ext++;
                }
                p += 2 + l;
            }
        }
        off = end;
    }
    int pad = 0;
    if (h->padding) {
        if (len <= off) return -8;
        pad = b[len - 1];
        if (pad == 0 || off + pad > len) return -9;
    }
    h->header_len = off;
    h->payload_len = len - off - pad;
    return 0;
}

const uint8_t *rtp_ext(const uint8_t *buf, const rtp_hdr_t *h, int id, int *len) {
    if (id <= 0) return NULL;
    for (int i = 0; i < h->n_ext; i++)
        if (h->ext_id[i] == id) { *len = h->ext_len[i]; return buf + h->ext_off[i]; }
    return NULL;
}

static int vp8_key(const uint8_t *p, int len) {
    if (len < 1) return 0;
    int off = 1;
    uint8_t d = p[0];
    if (!(d & 0x10) || (d & 0x07) != 0) return 0;   /* need S=1 and partition 0 */
    if (d & 0x80) {                                  /* X: extension byte */
        if (len < 2) return 0;
        uint8_t x = p[1];
        off = 2;
        if (x & 0x80) { if (off >= len) return 0; off += (p[off] & 0x80) ? 2 : 1; }
        if (x & 0x40) off++;
        if (x & 0x30) off++;
    }
    if (off >= len) return 0;
    return (p[off] & 0x01) == 0;                     /* P bit of the VP8 frame header: 0 = keyframe */
}

static int vp9_key(const uint8_t *p, int len) {
    if (len < 1) return 0;
    uint8_t d = p[0];
    /* I P L F B E V Z: P=0 (not inter-predicted) and B=1 (start of frame) */
    return !(d & 0x40) && (d & 0x08);
}

static int h264_key(const uint8_t *p, int len) {
    if (len < 1) return 0;
    int nal = p[0] & 0x1f;
    if (nal == 5 || nal == 7) return 1;
    if (nal == 24) {                                 /* STAP-A */
        int off = 1;
        while (off + 2 < len) {
            int sz = rd16(p + off);
            if (sz == 0 || off + 2 + sz > len) break;
            int t = p[off + 2] & 0x1f;
            if (t == 5 || t == 7) return 1;
            off += 2 + sz;
        }
        return 0;
    }
    if (nal == 28 && len >= 2) {                     /* FU-A start of an IDR */
        return (p[1] & 0x80) && ((p[1] & 0x1f) == 5 || (p[1] & 0x1f) == 7);
    }
    return 0;
}

static int av1_key(const uint8_t *p, int len) {
    /* Aggregation header Z Y W W N - - -: N=1 marks the first packet of a coded video sequence. */
    return len >= 1 && (p[0] & 0x08);
}

int rtp_is_keyframe(int codec, const uint8_t *payload, int len) {
    switch (codec) {
    case CODEC_VP8: return vp8_key(payload, len);
    case CODEC_VP9: return vp9_key(payload, len);
    case CODEC_H264: return h264_key(payload, len);
    case CODEC_AV1: return av1_key(payload, len);
    default: return 1; /* audio: every packet decodes */
    }
}

int rtp_vp8_desc(const uint8_t *p, int len, vp8_desc_t *d) {
    memset(d, 0, sizeof(*d));
    if (len < 1) return -1;
    d->start = (p[0] & 0x10) && (p[0] & 0x07) == 0;
    if (!(p[0] & 0x80)) return 0;
    if (len < 2) return -1;
    uint8_t x = p[1];
    int off = 2;
    if (x & 0x80) {
        if (off >= len) return -1;
        if (p[off] & 0x80) { if (off + 1 >= len) return -1; d->pic = ((p[off] & 0x7f) << 8) | p[off + 1]; off += 2; }
        else { d->pic = p[off] & 0x7f; off += 1; }
        d->has_pic = 1;
    }
    if (x & 0x40) off++;
    if (x & 0x30) {
        if (off >= len) return -1;
        if (x & 0x20) { d->has_tid = 1; d->tid = p[off] >> 6; d->y = (p[off] >> 5) & 1; }
    }
    return 0;
}
