/* DTLS 1.2 with the use_srtp extension (RFC 5764) on OpenSSL, driven through memory BIOs. */
#ifndef MS_DTLS_H
#define MS_DTLS_H
#include <openssl/ssl.h>
#include <stdint.h>

typedef struct {
    SSL_CTX *ctx;
    char fingerprint[128]; /* sha-256 of our certificate, "AB:CD:..." */
} dtls_cert_t;

typedef void (*dtls_send_fn)(void *opaque, const uint8_t *buf, int len);

typedef struct {
    SSL *ssl;
    BIO *rbio;
    int client;          /* 1 = DTLS client ("active") */
    int state;           /* DTLS_NEW, DTLS_CONNECTING, DTLS_CONNECTED, DTLS_FAILED, DTLS_CLOSED */
    dtls_send_fn send;
    void *opaque;
    uint8_t remote_fp[64];
    int remote_fp_len;
    const EVP_MD *remote_md;
    int srtp_profile;    /* RFC 5764 profile id once connected */
    uint8_t keying[88];  /* exported keying material: 2 * (key + salt) */
    char error[128];
    /* Frozen (dtls_freeze): the SSL object is gone once the peer has shown it finished the handshake (it
     * sent authentic SRTP/SRTCP). What is left of DTLS then: our close_notify record, built by OpenSSL at
     * freeze time, and the peer's record key to authenticate its close_notify. */
    int frozen;
    int rx_aead;         /* 1 AES-GCM (4-byte fixed IV + explicit nonce), 2 ChaCha20-Poly1305 (12-byte IV) */
    int rx_key_len;
    uint8_t rx_key[32], rx_iv[12];
    uint8_t close_rec[64];
    int close_len;
} dtls_conn_t;

enum { DTLS_NEW = 0, DTLS_CONNECTING, DTLS_CONNECTED, DTLS_FAILED, DTLS_CLOSED };

int dtls_cert_init(dtls_cert_t *c);           /* fresh ECDSA P-256 self-signed certificate */
void dtls_cert_free(dtls_cert_t *c);
/* algorithm is "sha-256", "sha-1", "sha-384" or "sha-512"; fp is the raw digest. */
int dtls_conn_init(dtls_conn_t *d, dtls_cert_t *c, int client, const char *algorithm, const uint8_t *fp,
                   int fp_len, dtls_send_fn send, void *opaque);
void dtls_conn_free(dtls_conn_t *d);
int dtls_start(dtls_conn_t *d);               /* a client sends its ClientHello */
/* Feed one received DTLS datagram; returns 1 when the handshake has just completed, 0 otherwise,
 * -1 on a fatal error (state becomes DTLS_FAILED, reason in d->error). */
int dtls_feed(dtls_conn_t *d, const uint8_t *buf, int len);
/* Run the retransmission timer; returns microseconds until the next deadline or -1. */
long dtls_timer(dtls_conn_t *d);
void dtls_close(dtls_conn_t *d);              /* send close_notify */
/* Once the peer is known to have completed the handshake (an authentic SRTP or SRTCP packet came from it),
 * free the SSL object and its buffers (about 40 KB). Nothing is lost: the peer retransmits no flight any
 * more, our close_notify is prepared by OpenSSL now and sent by dtls_close(), and a close_notify from the
 * peer is still authenticated and moves the state to DTLS_CLOSED. Other records are ignored, as in
 * DTLS_CONNECTED. Returns 1 when frozen, 0 when kept (not connected, or a cipher it cannot handle). */
int dtls_freeze(dtls_conn_t *d);
int dtls_is_dtls(const uint8_t *buf, int len);
#endif
