/* STUN binding messages for an ICE-lite agent (RFC 5389, RFC 8445). */
#include "stun.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "util.h"

#define ATTR_MAPPED 0x0001
#define ATTR_USERNAME 0x0006
#define ATTR_INTEGRITY 0x0008
#define ATTR_ERROR_CODE 0x0009
#define ATTR_XOR_MAPPED 0x0020
#define ATTR_PRIORITY 0x0024
#define ATTR_USE_CANDIDATE 0x0025
#define ATTR_FINGERPRINT 0x8028
#define ATTR_ICE_CONTROLLED 0x8029
#define ATTR_ICE_CONTROLLING 0x802A

static uint32_t crc_table[256];
static int crc_ready;

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
    crc_ready = 1;
}

uint32_t stun_crc32(const uint8_t *buf, int len) {
    if (!crc_ready) crc_init();
    uint32_t c = 0xFFFFFFFFu;
    for (int i = 0; i < len; i++) c = crc_table[(c ^ buf[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

int stun_is_stun(const uint8_t *buf, int len) {
    return len >= 20 && buf[0] < 4 && rd32(buf + 4) == STUN_MAGIC;
}

static int parse_xor_addr(const uint8_t *v, int vlen, const uint8_t *txid, struct sockaddr_storage *out) {
    if (vlen < 8) return -1;
    memset(out, 0, sizeof(*out));
    uint16_t port = rd16(v + 2) ^ (STUN_MAGIC >> 16);
    if (v[1] == 1) {
        struct sockaddr_in *sin = (struct sockaddr_in *)out;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        uint32_t a = rd32(v + 4) ^ STUN_MAGIC;
        sin->sin_addr.s_addr = htonl(a);
        return 0;
    }
    if (v[1] == 2 && vlen >= 20) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        uint8_t mask[16];
        wr32(mask, STUN_MAGIC);
        memcpy(mask + 4, txid, 12);
        for (int i = 0; i < 16; i++) s6->sin6_addr.s6_addr[i] = v[4 + i] ^ mask[i];
        return 0;
    }
    return -1;
}

int stun_parse(const uint8_t *buf, int len, stun_msg_t *m) {
    memset(m, 0, sizeof(*m));
    if (!stun_is_stun(buf, len)) return -1;
    int mlen = rd16(buf + 2);
    if ((mlen & 3) || 20 + mlen > len) return -2;
    m->type = rd16(buf);
    memcpy(m->txid, buf + 8, 12);
    int off = 20, end = 20 + mlen;
    while (off + 4 <= end) {
        uint16_t at = rd16(buf + off), al = rd16(buf + off + 2);
        const uint8_t *v = buf + off + 4;
        if (off + 4 + al > end) return -3;
        if (m->has_fingerprint) return -4; /* nothing may follow FINGERPRINT */
        if (m->has_integrity && at != ATTR_FINGERPRINT) { off += 4 + ((al + 3) & ~3); continue; }
        switch (at) {
        case ATTR_USERNAME: m->username = v; m->username_len = al; break;
        case ATTR_INTEGRITY:
            if (al != 20) return -5;
            m->has_integrity = 1; m->integrity_offset = off; break;
        case ATTR_FINGERPRINT: {
            if (al != 4) return -6;
            m->has_fingerprint = 1;
            /* FINGERPRINT is last, so the header's length field already covers it. */
            m->fingerprint_ok = (stun_crc32(buf, off) ^ 0x5354554eu) == rd32(v);
            break;
        }
        case ATTR_PRIORITY: if (al == 4) m->priority = rd32(v); break;
        case ATTR_USE_CANDIDATE: m->use_candidate = 1; break;
        case ATTR_ICE_CONTROLLING: m->ice_controlling = 1; break;
        case ATTR_ICE_CONTROLLED: m->ice_controlled = 1; break;
        case ATTR_ERROR_CODE: if (al >= 4) m->error_code = (v[2] & 7) * 100 + v[3]; break;
        case ATTR_XOR_MAPPED:
            if (parse_xor_addr(v, al, m->txid, &m->xor_mapped) == 0) m->has_xor_mapped = 1;
            break;
        default: break;
        }
        off += 4 + ((al + 3) & ~3);
    }
    if (off != end) return -7;
    if (m->has_fingerprint && !m->fingerprint_ok) return -8;
    return 0;
}

static void hmac_sha1(const char *key, int keylen, const uint8_t *data, int len, uint8_t out[20]) {
    unsigned int olen = 20;
    HMAC(EVP_sha1(), key, keylen, data, (size_t)len, out, &olen);
}

int stun_check_integrity(const uint8_t *buf, int len, const stun_msg_t *m, const char *key, int keylen) {
    if (!m->has_integrity || m->integrity_offset + 24 > len) return 0;
    uint8_t tmp[2048];
    int off = m->integrity_offset;
    if (off > (int)sizeof(tmp)) return 0;
    memcpy(tmp, buf, off);
    wr16(tmp + 2, (uint16_t)(off - 20 + 24)); /* length as if MESSAGE-INTEGRITY were last */
    uint8_t mac[20];
    hmac_sha1(key, keylen, tmp, off, mac);
    return CRYPTO_memcmp(mac, buf + off + 4, 20) == 0;
}

static int put_attr(uint8_t *out, int off, int cap, uint16_t type, const void *val, int len) {
    int padded = (len + 3) & ~3;
    if (off + 4 + padded > cap) return -1;
    wr16(out + off, type);
    wr16(out + off + 2, (uint16_t)len);
    if (len) memcpy(out + off + 4, val, len);
    if (padded > len) memset(out + off + 4 + len, 0, padded - len);
    return off + 4 + padded;
}

static int finish(uint8_t *out, int off, int cap, const char *key, int keylen) {
    if (key) {
        if (off + 24 > cap) return -1;
        wr16(out + 2, (uint16_t)(off - 20 + 24));
        uint8_t mac[20];
        hmac_sha1(key, keylen, out, off, mac);
        off = put_attr(out, off, cap, ATTR_INTEGRITY, mac, 20);
        if (off < 0) return -1;
    }
    if (off + 8 > cap) return -1;
    wr16(out + 2, (uint16_t)(off - 20 + 8));
    uint8_t fp[4];
    wr32(fp, stun_crc32(out, off) ^ 0x5354554eu);
    return put_attr(out, off, cap, ATTR_FINGERPRINT, fp, 4);
}

static void header(uint8_t *out, uint16_t type, const uint8_t txid[12]) {
    wr16(out, type);
    wr16(out + 2, 0);
    wr32(out + 4, STUN_MAGIC);
    memcpy(out + 8, txid, 12);
}

int stun_build_success(uint8_t *out, int cap, const uint8_t txid[12], const struct sockaddr *addr,
                       const char *key, int keylen) {
    if (cap < 20) return -1;
    header(out, STUN_BINDING_SUCCESS, txid);
    uint8_t v[20];
    int vlen;
    v[0] = 0;
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)addr;
        v[1] = 1;
        wr16(v + 2, ntohs(s->sin_port) ^ (STUN_MAGIC >> 16));
        wr32(v + 4, ntohl(s->sin_addr.s_addr) ^ STUN_MAGIC);
        vlen = 8;
    } else {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)addr;
        v[1] = 2;
        wr16(v + 2, ntohs(s6->sin6_port) ^ (STUN_MAGIC >> 16));
        uint8_t mask[16];
        wr32(mask, STUN_MAGIC);
        memcpy(mask + 4, txid, 12);
        for (int i = 0; i < 16; i++) v[4 + i] = s6->sin6_addr.s6_addr[i] ^ mask[i];
        vlen = 20;
    }
    int off = put_attr(out, 20, cap, ATTR_XOR_MAPPED, v, vlen);
    if (off < 0) return -1;
    return finish(out, off, cap, key, keylen);
}

int stun_build_error(uint8_t *out, int cap, const uint8_t txid[12], int code, const char *reason) {
    if (cap < 20) return -1;
    header(out, STUN_BINDING_ERROR, txid);
    uint8_t v[128];
    int rl = (int)strlen(reason);
    if (rl > 120) rl = 120;
    v[0] = v[1] = 0;
    v[2] = (uint8_t)(code / 100);
    v[3] = (uint8_t)(code % 100);
    memcpy(v + 4, reason, rl);
    int off = put_attr(out, 20, cap, ATTR_ERROR_CODE, v, 4 + rl);
    if (off < 0) return -1;
    return finish(out, off, cap, NULL, 0);
}

int stun_build_request(uint8_t *out, int cap, const uint8_t txid[12], const char *username, const char *key,
                       int keylen, uint64_t tiebreaker, int use_candidate, uint32_t priority) {
    if (cap < 20) return -1;
    header(out, STUN_BINDING_REQUEST, txid);
    int off = put_attr(out, 20, cap, ATTR_USERNAME, username, (int)strlen(username));
    if (off < 0) return -1;
    uint8_t p[8];
    wr32(p, priority);
    off = put_attr(out, off, cap, ATTR_PRIORITY, p, 4);
    if (off < 0) return -1;
    wr32(p, (uint32_t)(tiebreaker >> 32));
    wr32(p + 4, (uint32_t)tiebreaker);
    off = put_attr(out, off, cap, ATTR_ICE_CONTROLLING, p, 8);
    if (off < 0) return -1;
    if (use_candidate) {
        off = put_attr(out, off, cap, ATTR_USE_CANDIDATE, NULL, 0);
        if (off < 0) return -1;
    }
    return finish(out, off, cap, key, keylen);
}
