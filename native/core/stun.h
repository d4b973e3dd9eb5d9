/* STUN (RFC 5389) for ICE-lite (RFC 8445 section 2.5): parse, verify and build binding messages. */
#ifndef MS_STUN_H
#define MS_STUN_H
#include <stdint.h>
#include <sys/socket.h>

#define STUN_BINDING_REQUEST 0x0001
#define STUN_BINDING_SUCCESS 0x0101
#define STUN_BINDING_ERROR 0x0111
#define STUN_BINDING_INDICATION 0x0011
#define STUN_MAGIC 0x2112A442u

typedef struct {
    uint16_t type;
    uint8_t txid[12];
    const uint8_t *username; int username_len;
    int has_integrity; int integrity_offset;  /* offset of the MESSAGE-INTEGRITY attribute header */
    int has_fingerprint; int fingerprint_ok;
    int use_candidate, ice_controlling, ice_controlled;
    uint32_t priority;
    uint16_t error_code;
    struct sockaddr_storage xor_mapped; int has_xor_mapped;
} stun_msg_t;

/* 1 when the datagram looks like STUN (RFC 7983 demux + magic cookie). */
int stun_is_stun(const uint8_t *buf, int len);
/* Parse; returns 0 or a negative error. Checks FINGERPRINT when present. */
int stun_parse(const uint8_t *buf, int len, stun_msg_t *out);
/* Verify MESSAGE-INTEGRITY (HMAC-SHA1, short-term key). 1 ok, 0 bad. */
int stun_check_integrity(const uint8_t *buf, int len, const stun_msg_t *m, const char *key, int keylen);
/* Build a binding success response with XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY and FINGERPRINT. */
int stun_build_success(uint8_t *out, int cap, const uint8_t txid[12], const struct sockaddr *addr,
                       const char *key, int keylen);
/* Build an error response (e.g. 401 Unauthorized, 400 Bad Request) with FINGERPRINT. */
int stun_build_error(uint8_t *out, int cap, const uint8_t txid[12], int code, const char *reason);
/* Build a binding request (controlling agent) for a client transport. */
int stun_build_request(uint8_t *out, int cap, const uint8_t txid[12], const char *username, const char *key,
                       int keylen, uint64_t tiebreaker, int use_candidate, uint32_t priority);
uint32_t stun_crc32(const uint8_t *buf, int len);
#endif
