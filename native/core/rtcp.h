/* RTCP (RFC 3550, RFC 4585, RFC 5104) building and compound-packet walking. */
#ifndef MS_RTCP_H
#define MS_RTCP_H
#include <stdint.h>

#define RTCP_SR 200
#define RTCP_RR 201
#define RTCP_SDES 202
#define RTCP_BYE 203
#define RTCP_RTPFB 205
#define RTCP_PSFB 206
#define RTCP_XR 207

typedef struct {
    uint32_t ssrc;        /* source this block reports on */
    uint8_t fraction_lost;
    int32_t cumulative_lost;
    uint32_t highest_seq; /* extended */
    uint32_t jitter;
    uint32_t lsr, dlsr;
} rtcp_report_t;

/* Walks a compound packet: returns the next sub-packet's offset and length, or -1 when done/malformed. */
int rtcp_next(const uint8_t *buf, int len, int off, int *pkt_len);
int rtcp_build_sr(uint8_t *out, uint32_t ssrc, uint64_t ntp, uint32_t rtp_ts, uint32_t packets, uint32_t octets);
int rtcp_build_rr(uint8_t *out, int cap, uint32_t ssrc, const rtcp_report_t *blocks, int n);
int rtcp_build_pli(uint8_t *out, uint32_t sender, uint32_t media);
int rtcp_build_fir(uint8_t *out, uint32_t sender, uint32_t media, uint8_t seqnr);
/* Generic NACK (RFC 4585 6.2.1) for a sorted list of sequence numbers; returns its length. */
int rtcp_build_nack(uint8_t *out, int cap, uint32_t sender, uint32_t media, const uint16_t *seqs, int n);
int rtcp_parse_report(const uint8_t *p, rtcp_report_t *r);
uint64_t rtcp_ntp_now(void);
#endif
