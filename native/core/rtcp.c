/* RTCP builders and compound walking. */
#include "rtcp.h"

#include <time.h>

#include "util.h"

int rtcp_next(const uint8_t *buf, int len, int off, int *pkt_len) {
    if (off + 4 > len) return -1;
    if ((buf[off] >> 6) != 2) return -1;
    int l = 4 * (rd16(buf + off + 2) + 1);
    if (off + l > len) return -1;
    *pkt_len = l;
    return off;
}

uint64_t rtcp_ntp_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t sec = (uint64_t)ts.tv_sec + 2208988800ull;
    uint64_t frac = ((uint64_t)ts.tv_nsec << 32) / 1000000000ull;
    return (sec << 32) | frac;
}

int rtcp_build_sr(uint8_t *o, uint32_t ssrc, uint64_t ntp, uint32_t rtp_ts, uint32_t packets, uint32_t octets) {
    o[0] = 0x80; o[1] = RTCP_SR; wr16(o + 2, 6);
    wr32(o + 4, ssrc);
    wr32(o + 8, (uint32_t)(ntp >> 32)); wr32(o + 12, (uint32_t)ntp);
    wr32(o + 16, rtp_ts); wr32(o + 20, packets); wr32(o + 24, octets);
    return 28;
}

int rtcp_build_rr(uint8_t *o, int cap, uint32_t ssrc, const rtcp_report_t *b, int n) {
    if (n > 31) n = 31;
    if (8 + 24 * n > cap) return -1;
    o[0] = 0x80 | (uint8_t)n; o[1] = RTCP_RR; wr16(o + 2, (uint16_t)(1 + 6 * n));
    wr32(o + 4, ssrc);
    uint8_t *p = o + 8;
    for (int i = 0; i < n; i++, p += 24) {
        wr32(p, b[i].ssrc);
        p[4] = b[i].fraction_lost;
        int32_t cl = b[i].cumulative_lost;
        if (cl > 0x7fffff) cl = 0x7fffff;
        if (cl < -0x800000) cl = -0x800000;
        wr24(p + 5, (uint32_t)cl & 0xffffff);
        wr32(p + 8, b[i].highest_seq); wr32(p + 12, b[i].jitter);
        wr32(p + 16, b[i].lsr); wr32(p + 20, b[i].dlsr);
    }
    return 8 + 24 * n;
}

int rtcp_parse_report(const uint8_t *p, rtcp_report_t *r) {
    r->ssrc = rd32(p);
    r->fraction_lost = p[4];
    uint32_t cl = rd24(p + 5);
    r->cumulative_lost = (cl & 0x800000) ? (int32_t)(cl | 0xff000000u) : (int32_t)cl;
    r->highest_seq = rd32(p + 8); r->jitter = rd32(p + 12); r->lsr = rd32(p + 16); r->dlsr = rd32(p + 20);
    return 0;
}

int rtcp_build_pli(uint8_t *o, uint32_t sender, uint32_t media) {
    o[0] = 0x81; o[1] = RTCP_PSFB; wr16(o + 2, 2);
    wr32(o + 4, sender); wr32(o + 8, media);
    return 12;
}

int rtcp_build_fir(uint8_t *o, uint32_t sender, uint32_t media, uint8_t seqnr) {
    o[0] = 0x84; o[1] = RTCP_PSFB; wr16(o + 2, 4);
    wr32(o + 4, sender); wr32(o + 8, 0);
    wr32(o + 12, media); o[16] = seqnr; o[17] = o[18] = o[19] = 0;
    return 20;
}

int rtcp_build_nack(uint8_t *o, int cap, uint32_t sender, uint32_t media, const uint16_t *seqs, int n) {
    if (cap < 16 || n <= 0) return 0;
    o[0] = 0x81; o[1] = RTCP_RTPFB;
    wr32(o + 4, sender); wr32(o + 8, media);
    int off = 12, i = 0;
    while (i < n && off + 4 <= cap) {
        uint16_t pid = seqs[i++], blp = 0;
        while (i < n) {
            uint16_t d = (uint16_t)(seqs[i] - pid);
            if (d == 0) { i++; continue; }
            if (d > 16) break;
            blp |= (uint16_t)(1u << (d - 1));
            i++;
        }
        wr16(o + off, pid); wr16(o + off + 2, blp);
        off += 4;
    }
    wr16(o + 2, (uint16_t)(off / 4 - 1));
    return off;
}
