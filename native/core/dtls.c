/* DTLS-SRTP handshake glue: one SSL_CTX per worker, one SSL per transport, datagram-preserving BIO. */
#include "dtls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "srtp.h"

static BIO_METHOD *dgram_method;

/* Write side: every write OpenSSL makes is one datagram, handed to the transport at once. */
static int bio_write(BIO *b, const char *data, int len) {
    dtls_conn_t *d = BIO_get_data(b);
    if (d && d->send) d->send(d->opaque, (const uint8_t *)data, len);
    return len;
}
static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
    (void)b; (void)num; (void)ptr;
    switch (cmd) {
    case BIO_CTRL_FLUSH: return 1;
    case BIO_CTRL_DGRAM_QUERY_MTU: return 1200;
    case BIO_CTRL_DGRAM_GET_FALLBACK_MTU: return 1200;
    case BIO_CTRL_WPENDING: case BIO_CTRL_PENDING: return 0;
    case BIO_CTRL_DGRAM_SET_NEXT_TIMEOUT: return 1;
    default: return 0;
    }
}
static int bio_create(BIO *b) { BIO_set_init(b, 1); return 1; }

static BIO_METHOD *get_method(void) {
    if (!dgram_method) {
        BIO_METHOD *m = BIO_meth_new(BIO_TYPE_SOURCE_SINK | 0x80, "ms-dgram");
        BIO_meth_set_write(m, bio_write);
        BIO_meth_set_ctrl(m, bio_ctrl);
        BIO_meth_set_create(m, bio_create);
        dgram_method = m;
    }
    return dgram_method;
}

static int accept_any(int ok, X509_STORE_CTX *ctx) { (void)ok; (void)ctx; return 1; }

int dtls_is_dtls(const uint8_t *buf, int len) { return len >= 13 && buf[0] >= 20 && buf[0] <= 63; }

int dtls_cert_init(dtls_cert_t *c) {
    memset(c, 0, sizeof(*c));
    EVP_PKEY *key = EVP_EC_gen("P-256");
    if (!key) return -1;
    X509 *x = X509_new();
    X509_set_version(x, 2);
    uint64_t serial;
    RAND_bytes((unsigned char *)&serial, sizeof(serial));
    ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial >> 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -86400);
    X509_gmtime_adj(X509_getm_notAfter(x), 30L * 86400);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"mediaserver", -1, -1, 0);
    X509_set_issuer_name(x, name);
    if (!X509_sign(x, key, EVP_sha256())) { X509_free(x); EVP_PKEY_free(key); return -1; }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    X509_digest(x, EVP_sha256(), md, &mdlen);
    char *p = c->fingerprint;
    for (unsigned i = 0; i < mdlen; i++) p += sprintf(p, i ? ":%02X" : "%02X", md[i]);
    c->ctx = SSL_CTX_new(DTLS_method());
    SSL_CTX_set_min_proto_version(c->ctx, DTLS1_2_VERSION);
    SSL_CTX_use_certificate(c->ctx, x);
    SSL_CTX_use_PrivateKey(c->ctx, key);
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, accept_any);
    SSL_CTX_set_tlsext_use_srtp(c->ctx, "SRTP_AEAD_AES_128_GCM:SRTP_AEAD_AES_256_GCM:SRTP_AES128_CM_SHA1_80");
    SSL_CTX_set_options(c->ctx, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_TICKET);
    SSL_CTX_set_read_ahead(c->ctx, 1);
    SSL_CTX_set_cipher_list(c->ctx, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
                                    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305");
    X509_free(x);
    EVP_PKEY_free(key);
    return 0;
}

void dtls_cert_free(dtls_cert_t *c) {
    if (c->ctx) SSL_CTX_free(c->ctx);
    c->ctx = NULL;
}

static const EVP_MD *md_by_name(const char *alg) {
    if (!strcasecmp(alg, "sha-256")) return EVP_sha256();
    if (!strcasecmp(alg, "sha-1")) return EVP_sha1();
    if (!strcasecmp(alg, "sha-384")) return EVP_sha384();
    if (!strcasecmp(alg, "sha-512")) return EVP_sha512();
    return NULL;
}

int dtls_conn_init(dtls_conn_t *d, dtls_cert_t *c, int client, const char *algorithm, const uint8_t *fp,
                   int fp_len, dtls_send_fn send, void *opaque) {
    memset(d, 0, sizeof(*d));
    d->remote_md = md_by_name(algorithm);
    if (!d->remote_md || fp_len != EVP_MD_get_size(d->remote_md)) {
        snprintf(d->error, sizeof(d->error), "unsupported fingerprint %s/%d", algorithm, fp_len);
        return -1;
    }
    memcpy(d->remote_fp, fp, fp_len);
    d->remote_fp_len = fp_len;
    d->client = client;
    d->send = send;
    d->opaque = opaque;
    d->ssl = SSL_new(c->ctx);
    d->rbio = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(d->rbio, -1);
    BIO *w = BIO_new(get_method());
    BIO_set_data(w, d);
    SSL_set_bio(d->ssl, d->rbio, w);
    SSL_set_mtu(d->ssl, 1200);
    DTLS_set_link_mtu(d->ssl, 1200);
    if (client) SSL_set_connect_state(d->ssl); else SSL_set_accept_state(d->ssl);
    d->state = DTLS_NEW;
    return 0;
}

void dtls_conn_free(dtls_conn_t *d) {
    if (d->ssl) SSL_free(d->ssl); /* frees both BIOs */
    d->ssl = NULL;
    OPENSSL_cleanse(d->rx_key, sizeof(d->rx_key));
    d->state = DTLS_CLOSED;
}

static int finish_handshake(dtls_conn_t *d) {
    X509 *peer = SSL_get1_peer_certificate(d->ssl);
    if (!peer) { snprintf(d->error, sizeof(d->error), "peer sent no certificate"); return -1; }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    X509_digest(peer, d->remote_md, md, &mdlen);
    X509_free(peer);
    if ((int)mdlen != d->remote_fp_len || CRYPTO_memcmp(md, d->remote_fp, mdlen) != 0) {
        snprintf(d->error, sizeof(d->error), "certificate fingerprint does not match the SDP");
        return -1;
    }
    SRTP_PROTECTION_PROFILE *prof = SSL_get_selected_srtp_profile(d->ssl);
    if (!prof) { snprintf(d->error, sizeof(d->error), "no SRTP profile negotiated"); return -1; }
    d->srtp_profile = (int)prof->id;
    int klen = srtp_key_len(d->srtp_profile), slen = srtp_salt_len(d->srtp_profile);
    if (klen < 0 || slen < 0) { snprintf(d->error, sizeof(d->error), "unsupported SRTP profile"); return -1; }
    if (SSL_export_keying_material(d->ssl, d->keying, 2 * (klen + slen), "EXTRACTOR-dtls_srtp", 19, NULL, 0, 0) != 1) {
        snprintf(d->error, sizeof(d->error), "keying material export failed");
        return -1;
    }
    d->state = DTLS_CONNECTED;
    /* The record layer's read and write buffers (about 17 KB each) are idle from now on: the peer sends
     * no application data, only a rare retransmitted flight or a close_notify. SSL_read allocates them
     * again when a record comes (dtls1_read_bytes sets both up), and step() frees them after it. */
    SSL_free_buffers(d->ssl);
    return 1;
}

static int step(dtls_conn_t *d) {
    if (d->state == DTLS_CONNECTED) {
        uint8_t buf[2048];
        int n = SSL_read(d->ssl, buf, sizeof(buf));
        if (n <= 0) {
            int e = SSL_get_error(d->ssl, n);
            if (e == SSL_ERROR_ZERO_RETURN) { d->state = DTLS_CLOSED; return 0; }
            ERR_clear_error();
        }
        SSL_free_buffers(d->ssl);   /* keeps them when a record is still pending */
        return 0; /* no data channel here: application data is discarded */
    }
    int r = SSL_do_handshake(d->ssl);
    if (r == 1) {
        if (finish_handshake(d) < 0) { d->state = DTLS_FAILED; return -1; }
        return 1;
    }
    int e = SSL_get_error(d->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) { d->state = DTLS_CONNECTING; return 0; }
    unsigned long err = ERR_get_error();
    snprintf(d->error, sizeof(d->error), "handshake failed: %s", err ? ERR_reason_error_string(err) : "?");
    ERR_clear_error();
    d->state = DTLS_FAILED;
    return -1;
}

int dtls_start(dtls_conn_t *d) {
    if (d->state != DTLS_NEW) return 0;
    return step(d);
}

static void frozen_feed(dtls_conn_t *d, const uint8_t *buf, int len);

int dtls_feed(dtls_conn_t *d, const uint8_t *buf, int len) {
    if (d->state == DTLS_FAILED || d->state == DTLS_CLOSED) return -1;
    if (d->frozen) { frozen_feed(d, buf, len); return 0; }
    if (!d->ssl) return -1;
    (void)BIO_reset(d->rbio);
    BIO_write(d->rbio, buf, len);
    return step(d);
}

long dtls_timer(dtls_conn_t *d) {
    if (!d->ssl || d->state == DTLS_CONNECTED || d->state == DTLS_FAILED || d->state == DTLS_CLOSED) return -1;
    struct timeval tv;
    if (!DTLSv1_get_timeout(d->ssl, &tv)) return -1;
    if (tv.tv_sec == 0 && tv.tv_usec == 0) {
        if (DTLSv1_handle_timeout(d->ssl) < 0) {
            d->state = DTLS_FAILED;
            snprintf(d->error, sizeof(d->error), "handshake timed out");
            return -1;
        }
        if (!DTLSv1_get_timeout(d->ssl, &tv)) return -1;
    }
    return tv.tv_sec * 1000000L + tv.tv_usec;
}

void dtls_close(dtls_conn_t *d) {
    if (d->frozen && d->state == DTLS_CONNECTED) {
        if (d->close_len > 0 && d->send) d->send(d->opaque, d->close_rec, d->close_len);
        d->state = DTLS_CLOSED;
        return;
    }
    if (d->ssl && d->state == DTLS_CONNECTED && d->close_len > 0) {   /* prepared by a dtls_freeze that failed */
        if (d->send) d->send(d->opaque, d->close_rec, d->close_len);
        d->state = DTLS_CLOSED;
        return;
    }
    if (d->ssl && d->state == DTLS_CONNECTED) {
        /* The buffers were released after the handshake and the DTLS write path does not set them up
         * again: a read on the empty BIO does (dtls1_read_bytes -> ssl3_setup_buffers), then the alert
         * can go out. */
        uint8_t buf[16];
        (void)BIO_reset(d->rbio);
        if (SSL_read(d->ssl, buf, sizeof(buf)) <= 0) ERR_clear_error();
        SSL_shutdown(d->ssl);
        d->state = DTLS_CLOSED;
    }
}

/* ---------- frozen connections ---------- */

/* Open one AEAD-protected DTLS 1.2 record (RFC 6347 4.1, RFC 5288 AES-GCM, RFC 7905 ChaCha20-Poly1305) with
 * the given write key and IV; rec is the whole record (13-byte header first). Returns the plaintext length
 * (into out, at most outcap bytes), or -1 when it does not authenticate. */
static int open_record(int aead, const uint8_t *key, int key_len, const uint8_t *iv, const uint8_t *rec, int len,
                       uint8_t *out, int outcap) {
    const int tag_len = 16, explicit_len = aead == 1 ? 8 : 0;
    int plen = len - 13 - explicit_len - tag_len;
    if (plen < 0 || plen > outcap) return -1;
    uint8_t nonce[12];
    if (aead == 1) { memcpy(nonce, iv, 4); memcpy(nonce + 4, rec + 13, 8); }
    else { memcpy(nonce, iv, 12); for (int i = 0; i < 8; i++) nonce[4 + i] ^= rec[3 + i]; }
    uint8_t aad[13];
    memcpy(aad, rec + 3, 8);                       /* epoch and sequence number */
    aad[8] = rec[0]; aad[9] = rec[1]; aad[10] = rec[2];
    aad[11] = (uint8_t)(plen >> 8); aad[12] = (uint8_t)plen;
    const EVP_CIPHER *c = aead == 2 ? EVP_chacha20_poly1305() : key_len == 32 ? EVP_aes_256_gcm() : EVP_aes_128_gcm();
    EVP_CIPHER_CTX *e = EVP_CIPHER_CTX_new();
    int ok = 0, n = 0, f = 0;
    const uint8_t *ct = rec + 13 + explicit_len;
    if (e && EVP_DecryptInit_ex(e, c, NULL, NULL, NULL) == 1 &&
        EVP_CIPHER_CTX_ctrl(e, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) == 1 &&
        EVP_DecryptInit_ex(e, NULL, NULL, key, nonce) == 1 &&
        EVP_DecryptUpdate(e, NULL, &n, aad, sizeof(aad)) == 1 &&
        EVP_DecryptUpdate(e, out, &n, ct, plen) == 1 &&
        EVP_CIPHER_CTX_ctrl(e, EVP_CTRL_AEAD_SET_TAG, tag_len, (void *)(ct + plen)) == 1 &&
        EVP_DecryptFinal_ex(e, out + n, &f) == 1)
        ok = 1;
    EVP_CIPHER_CTX_free(e);
    return ok ? plen : -1;
}

static void frozen_feed(dtls_conn_t *d, const uint8_t *buf, int len) {
    /* a datagram may carry several records; only an authentic close_notify alert matters */
    for (int off = 0; off + 13 <= len;) {
        const uint8_t *rec = buf + off;
        int rlen = 13 + (rec[11] << 8 | rec[12]);
        if (off + rlen > len) break;
        off += rlen;
        if (rec[0] != 21 || (rec[3] == 0 && rec[4] == 0)) continue;   /* alerts of the protected epoch */
        uint8_t pt[64];
        int n = open_record(d->rx_aead, d->rx_key, d->rx_key_len, d->rx_iv, rec, rlen, pt, sizeof(pt));
        if (n == 2 && pt[1] == 0) { d->state = DTLS_CLOSED; return; }   /* close_notify (RFC 5246 7.2.1) */
    }
}

static void capture_send(void *opaque, const uint8_t *buf, int len) {
    dtls_conn_t *d = opaque;
    if (d->close_len == 0 && len <= (int)sizeof(d->close_rec)) { memcpy(d->close_rec, buf, len); d->close_len = len; }
    else d->close_len = -1;
}

int dtls_freeze(dtls_conn_t *d) {
    if (d->frozen || !d->ssl || d->state != DTLS_CONNECTED) return 0;
    const SSL_CIPHER *cipher = SSL_get_current_cipher(d->ssl);
    SSL_SESSION *sess = SSL_get_session(d->ssl);
    if (!cipher || !sess || SSL_version(d->ssl) != DTLS1_2_VERSION) return 0;
    int nid = SSL_CIPHER_get_cipher_nid(cipher), aead, key_len, iv_len;
    if (nid == NID_aes_128_gcm) { aead = 1; key_len = 16; iv_len = 4; }
    else if (nid == NID_aes_256_gcm) { aead = 1; key_len = 32; iv_len = 4; }
    else if (nid == NID_chacha20_poly1305) { aead = 2; key_len = 32; iv_len = 12; }
    else return 0;
    const EVP_MD *md = SSL_CIPHER_get_handshake_digest(cipher);
    if (!md) return 0;
    /* TLS 1.2 key block (RFC 5246 6.3), no MAC keys for AEAD: client key, server key, client IV, server IV */
    uint8_t master[SSL_MAX_MASTER_KEY_LENGTH], seed[13 + 64], block[2 * 32 + 2 * 12];
    size_t mlen = SSL_SESSION_get_master_key(sess, master, sizeof(master));
    memcpy(seed, "key expansion", 13);
    if (SSL_get_server_random(d->ssl, seed + 13, 32) != 32 || SSL_get_client_random(d->ssl, seed + 45, 32) != 32)
        return 0;
    size_t blen = 2 * (size_t)(key_len + iv_len);
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "TLS1-PRF", NULL);
    EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    EVP_KDF_free(kdf);
    OSSL_PARAM prm[4];
    prm[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)EVP_MD_get0_name(md), 0);
    prm[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, master, mlen);
    prm[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed, sizeof(seed));
    prm[3] = OSSL_PARAM_construct_end();
    int ok = kctx && EVP_KDF_derive(kctx, block, blen, prm) == 1;
    EVP_KDF_CTX_free(kctx);
    OPENSSL_cleanse(master, sizeof(master));
    if (!ok) return 0;
    const uint8_t *ckey = block, *skey = block + key_len, *civ = block + 2 * key_len, *siv = civ + iv_len;
    /* our close_notify, built by OpenSSL's record layer now (the next record we would send) */
    uint8_t tmp[16];
    (void)BIO_reset(d->rbio);
    if (SSL_read(d->ssl, tmp, sizeof(tmp)) <= 0) ERR_clear_error();   /* sets the write buffer up again */
    if (d->state != DTLS_CONNECTED) { OPENSSL_cleanse(block, sizeof(block)); return 0; }
    dtls_send_fn send = d->send;
    void *opaque = d->opaque;
    d->close_len = 0;
    d->send = capture_send;
    d->opaque = d;
    SSL_shutdown(d->ssl);
    ERR_clear_error();
    d->send = send;
    d->opaque = opaque;
    /* check the key block on our own record: it must open with our write key */
    uint8_t pt[64];
    if (d->close_len <= 0 ||
        open_record(aead, d->client ? ckey : skey, key_len, d->client ? civ : siv, d->close_rec, d->close_len,
                    pt, sizeof(pt)) != 2 || pt[1] != 0) {
        /* cannot happen with the ciphers above; keep the SSL (its close_notify, captured, goes out at close) */
        if (d->close_len < 0) d->close_len = 0;
        OPENSSL_cleanse(block, sizeof(block));
        return 0;
    }
    d->rx_aead = aead;
    d->rx_key_len = key_len;
    memcpy(d->rx_key, d->client ? skey : ckey, key_len);
    memcpy(d->rx_iv, d->client ? siv : civ, iv_len);
    OPENSSL_cleanse(block, sizeof(block));
    SSL_free(d->ssl);
    d->ssl = NULL;
    d->rbio = NULL;
    d->frozen = 1;
    return 1;
}
