/* Typed parsers of the RTCP packets the worker acts on, one per type (RFC 3550, RFC 4585, RFC 5104,
 * RFC 3611). Each takes one sub-packet as rtcp_next() walks a compound packet (p at its first byte, len its
 * length from the header), checks type, format and length, and fills a plain struct; 0 on success, -1 when
 * the packet is not of that type or too short for it. REMB and transport-cc feedback have theirs in bwe.h
 * (remb_parse, twcc_parse). No dependency on the worker. */
#ifndef MS_RTCP_FB_H
#define MS_RTCP_FB_H
#include <stdint.h>

#include "rtcp.h"

#define RTCP_MAX_REPORTS 31          /* report blocks in one SR or RR (5-bit count) */
#define RTCP_NACK_MAX_SEQS 64        /* sequence numbers taken from one NACK: a NACK is no amplifier */

/* SR (200) and RR (201): the sender, its sender info (SR only) and its complete report blocks. */
typedef struct {
    uint32_t ssrc;
    int has_sender_info;
    uint32_t ntp_mid;                /* SR: the middle 32 bits of its NTP timestamp, what an LSR echoes */
    uint32_t rtp_ts, packets, octets;
    int nblocks;
    rtcp_report_t blocks[RTCP_MAX_REPORTS];
} rtcp_reports_t;
int rtcp_parse_sr(const uint8_t *p, int len, rtcp_reports_t *out);
int rtcp_parse_rr(const uint8_t *p, int len, rtcp_reports_t *out);

/* Generic NACK (RTPFB FMT 1): the media SSRC and the lost sequence numbers, in the order the FCI lists
 * them (each PID, then its BLP bits), at most RTCP_NACK_MAX_SEQS. */
typedef struct {
    uint32_t sender, media;
    int nseqs;
    uint16_t seqs[RTCP_NACK_MAX_SEQS];
} rtcp_nack_t;
int rtcp_parse_nack(const uint8_t *p, int len, rtcp_nack_t *out);

/* PLI (PSFB FMT 1) and FIR (PSFB FMT 4; the first FCI entry, media 0 without one): a keyframe request. */
typedef struct { uint32_t sender, media; uint8_t fir_seq; } rtcp_keyframe_req_t;
int rtcp_parse_pli(const uint8_t *p, int len, rtcp_keyframe_req_t *out);
int rtcp_parse_fir(const uint8_t *p, int len, rtcp_keyframe_req_t *out);

/* XR (207) receiver reference time (RRTR, block type 4): the latest one of the packet. 0 found, -1 none. */
typedef struct { uint32_t ssrc, ntp_mid; } rtcp_rrtr_t;
int rtcp_parse_xr_rrtr(const uint8_t *p, int len, rtcp_rrtr_t *out);
#endif
