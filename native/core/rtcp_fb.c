/* Typed RTCP parsers: see rtcp_fb.h. */
#include "rtcp_fb.h"

#include <string.h>

#include "util.h"

static int header_ok(const uint8_t *p, int len, int type, int min_len) {
    return p && len >= min_len && (p[0] >> 6) == 2 && p[1] == type;
}

static int parse_blocks(const uint8_t *p, int len, int base, rtcp_reports_t *out) {
    int count = p[0] & 0x1f;
    out->nblocks = 0;
    for (int i = 0; i < count && base + 24 * (i + 1) <= len; i++)
        rtcp_parse_report(p + base + 24 * i, &out->blocks[out->nblocks++]);
    return 0;
}

int rtcp_parse_sr(const uint8_t *p, int len, rtcp_reports_t *out) {
    if (!header_ok(p, len, RTCP_SR, 28)) return -1;
    out->ssrc = rd32(p + 4);
    out->has_sender_info = 1;
    out->ntp_mid = (rd32(p + 8) << 16) | (rd32(p + 12) >> 16);
    out->rtp_ts = rd32(p + 16); out->packets = rd32(p + 20); out->octets = rd32(p + 24);
    return parse_blocks(p, len, 28, out);
}

int rtcp_parse_rr(const uint8_t *p, int len, rtcp_reports_t *out) {
    if (!header_ok(p, len, RTCP_RR, 8)) return -1;
    out->ssrc = rd32(p + 4);
    out->has_sender_info = 0;
    out->ntp_mid = out->rtp_ts = out->packets = out->octets = 0;
    return parse_blocks(p, len, 8, out);
}

int rtcp_parse_nack(const uint8_t *p, int len, rtcp_nack_t *out) {
    if (!header_ok(p, len, RTCP_RTPFB, 12) || (p[0] & 0x1f) != 1) return -1;
    out->sender = rd32(p + 4);
    out->media = rd32(p + 8);
    out->nseqs = 0;
    for (int k = 12; k + 4 <= len && out->nseqs < RTCP_NACK_MAX_SEQS; k += 4) {
        uint16_t pid = rd16(p + k), blp = rd16(p + k + 2);
        out->seqs[out->nseqs++] = pid;
        for (int b = 0; b < 16 && out->nseqs < RTCP_NACK_MAX_SEQS; b++)
            if (blp & (1 << b)) out->seqs[out->nseqs++] = (uint16_t)(pid + b + 1);
    }
    return 0;
}

int rtcp_parse_pli(const uint8_t *p, int len, rtcp_keyframe_req_t *out) {
    if (!header_ok(p, len, RTCP_PSFB, 12) || (p[0] & 0x1f) != 1) return -1;
    out->sender = rd32(p + 4);
    out->media = rd32(p + 8);
    out->fir_seq = 0;
    return 0;
}

int rtcp_parse_fir(const uint8_t *p, int len, rtcp_keyframe_req_t *out) {
    if (!header_ok(p, len, RTCP_PSFB, 12) || (p[0] & 0x1f) != 4) return -1;
    out->sender = rd32(p + 4);
    out->media = len >= 20 ? rd32(p + 12) : 0;
    out->fir_seq = len >= 20 ? p[16] : 0;
    return 0;
}

int rtcp_parse_xr_rrtr(const uint8_t *p, int len, rtcp_rrtr_t *out) {
    if (!header_ok(p, len, RTCP_XR, 8)) return -1;
    int found = -1;
    for (int k = 8; k + 4 <= len;) {
        int bt = p[k], bl = 4 * (rd16(p + k + 2) + 1);
        if (k + bl > len) break;
        if (bt == 4 && bl == 12) {
            out->ssrc = rd32(p + 4);
            out->ntp_mid = (rd32(p + k + 4) << 16) | (rd32(p + k + 8) >> 16);
            found = 0;
        }
        k += bl;
    }
    return found;
}
