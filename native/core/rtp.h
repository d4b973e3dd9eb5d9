/* RTP (RFC 3550) header parsing, header extensions (RFC 8285) and keyframe detection. */
#ifndef MS_RTP_H
#define MS_RTP_H
#include <stdint.h>

#define RTP_MAX_EXT 16

typedef struct {
    uint8_t marker, pt, padding, cc;
    uint16_t seq;
    uint32_t ts, ssrc;
    int header_len;          /* bytes before the payload */
    int payload_len;         /* excluding padding */
    int ext_profile;         /* 0xBEDE, 0x100x or 0 */
    int n_ext;
    uint8_t ext_id[RTP_MAX_EXT];
    uint8_t ext_len[RTP_MAX_EXT];
    uint16_t ext_off[RTP_MAX_EXT]; /* offset of the value in the packet */
} rtp_hdr_t;

enum { CODEC_OTHER = 0, CODEC_OPUS, CODEC_VP8, CODEC_VP9, CODEC_H264, CODEC_AV1 };

/* 1 when the datagram is RTP or RTCP (RFC 7983: first byte 128..191). */
static inline int rtp_is_rtp_or_rtcp(const uint8_t *b, int len) { return len >= 12 && b[0] >= 128 && b[0] <= 191; }
/* RTCP when the payload type (second byte) is 192..223 (RFC 5761). */
static inline int rtp_is_rtcp(const uint8_t *b, int len) { return len >= 8 && b[1] >= 192 && b[1] <= 223; }

int rtp_parse(const uint8_t *buf, int len, rtp_hdr_t *h);
/* Value of extension id, or NULL; *len receives its length. */
const uint8_t *rtp_ext(const uint8_t *buf, const rtp_hdr_t *h, int id, int *len);
/* Whether this packet starts (or is part of) a keyframe for the codec. */
int rtp_is_keyframe(int codec, const uint8_t *payload, int len);
/* VP8 payload descriptor (RFC 7741 4.2): frame start, picture ID, temporal layer index and sync flag. */
typedef struct { int start, has_pic, pic, has_tid, tid, y; } vp8_desc_t;
int rtp_vp8_desc(const uint8_t *p, int len, vp8_desc_t *d);
#endif
