/*
 * srtp.h - SRTP/SRTCP packet protection for the media core.
 *
 * RFC 3711 (SRTP, AES-CM + HMAC-SHA1), RFC 7714 (AEAD AES-GCM for SRTP),
 * RFC 5764 (DTLS-SRTP protection profile ids and keying material layout).
 *
 * Plain C11; depends only on libc and OpenSSL libcrypto.
 *
 * A srtp_ctx_t holds the session keys of one direction of one DTLS-SRTP
 * association plus per-SSRC state (ROC, replay windows, SRTCP index) for any
 * number of SSRCs. Key derivation and cipher key schedules happen once, in
 * srtp_ctx_new() (AES-GCM: on the first packet of each direction, so that a
 * context used one way keys only that way); per packet there is no key
 * schedule and no heap allocation
 * (the SSRC table only grows when a previously unseen SSRC is admitted).
 *
 * A context is NOT thread-safe: serialise calls on the same context.
 */
#ifndef MEDIASERVER_SRTP_H
#define MEDIASERVER_SRTP_H

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { SRTP_PROFILE_AES128_CM_SHA1_80 = 1, SRTP_PROFILE_AEAD_AES_128_GCM = 7, SRTP_PROFILE_AEAD_AES_256_GCM = 8 };
enum { SRTP_OK = 0, SRTP_ERR_BAD_PARAM = -1, SRTP_ERR_AUTH = -2, SRTP_ERR_REPLAY = -3, SRTP_ERR_TOO_SHORT = -4, SRTP_ERR_NO_SPACE = -5, SRTP_ERR_CRYPTO = -6 };

/* Size of the replay window (packets) for SRTP and SRTCP. */
#define SRTP_REPLAY_WINDOW 128
/* Maximum number of distinct SSRCs tracked by one context. */
#define SRTP_MAX_STREAMS 4096
/* Largest value srtp_overhead() can return, plus the 4-byte SRTCP index. */
#define SRTP_MAX_TRAILER 20

typedef struct srtp_ctx srtp_ctx_t;  /* one direction of one DTLS-SRTP association; many SSRCs */

int srtp_key_len(int profile);   /* master key length, or -1 */
int srtp_salt_len(int profile);  /* master salt length, or -1 */
int srtp_overhead(int profile);  /* max bytes added to an RTP packet (tag), for SRTCP add 4 for the index */

srtp_ctx_t *srtp_ctx_new(int profile, const uint8_t *master_key, const uint8_t *master_salt); /* NULL on error */
void srtp_ctx_free(srtp_ctx_t *);

/* In place: pkt holds a plain RTP packet of len bytes in a buffer of cap bytes; returns the new length or an SRTP_ERR_*. */
int srtp_protect_rtp(srtp_ctx_t *, uint8_t *pkt, int len, int cap);
int srtp_unprotect_rtp(srtp_ctx_t *, uint8_t *pkt, int len);   /* returns plain length or error */
int srtp_protect_rtcp(srtp_ctx_t *, uint8_t *pkt, int len, int cap);
int srtp_unprotect_rtcp(srtp_ctx_t *, uint8_t *pkt, int len);

/* DTLS-SRTP key split helper: from the exported keying material (2*key + 2*salt bytes, RFC 5764 4.2 order:
 * client key, server key, client salt, server salt) fill the four outputs. */
int srtp_split_keying_material(int profile, const uint8_t *material, uint8_t *client_key, uint8_t *client_salt,
                               uint8_t *server_key, uint8_t *server_salt);

/* ---- extras ---------------------------------------------------------------------------------------- */

/* Profile of a context. */
int srtp_ctx_profile(const srtp_ctx_t *);

/* RFC 3711 4.3.1 AES-CM PRF with key_derivation_rate 0 (index DIV kdr = 0). key_len is 16 or 32
 * (AES-128 / AES-256 CM), salt_len 12 or 14 (a 12-byte salt is zero-padded to 14 as RFC 7714 / libsrtp do),
 * label 0..255, out_len 0..1024. Returns SRTP_OK or an error. */
int srtp_kdf(const uint8_t *master_key, int key_len, const uint8_t *master_salt, int salt_len, int label,
             uint8_t *out, int out_len);

/* Forget all state kept for an SSRC (RTP and RTCP, both directions). Returns SRTP_OK, or
 * SRTP_ERR_BAD_PARAM if the SSRC is unknown. */
int srtp_ctx_remove_ssrc(srtp_ctx_t *, uint32_t ssrc);

/* Number of SSRCs currently tracked. */
int srtp_ctx_stream_count(const srtp_ctx_t *);

/* Current rollover counter of an SSRC: inbound != 0 selects the unprotect side, 0 the protect side.
 * Returns SRTP_OK and stores the ROC, or SRTP_ERR_BAD_PARAM if there is no such state. */
int srtp_ctx_get_roc(const srtp_ctx_t *, uint32_t ssrc, int inbound, uint32_t *roc);

/* Short static description of an SRTP_ERR_* code. */
const char *srtp_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* MEDIASERVER_SRTP_H */
