/* dtls_freeze (native/core/dtls.c) against OpenSSL itself, in memory: for every cipher suite the server
 * certificate allows, each side frozen or not, each side closing: the close_notify is accepted by the
 * other side; a record with a flipped bit is not. Built and run by tests/native/test_memory.py. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtls.h"

typedef struct { dtls_conn_t *peer; int q; uint8_t buf[64][2048]; int len[64]; } pipe_t;
static pipe_t to_client, to_server;

static void snd(void *o, const uint8_t *b, int len) {
    pipe_t *p = o;
    if (p->q < 64 && len <= 2048) { memcpy(p->buf[p->q], b, len); p->len[p->q++] = len; }
}
static void pump(pipe_t *p) {
    static uint8_t tmp[64][2048];
    int tl[64], n = p->q;
    memcpy(tmp, p->buf, sizeof(tmp));
    memcpy(tl, p->len, sizeof(tl));
    p->q = 0;
    for (int i = 0; i < n; i++) dtls_feed(p->peer, tmp[i], tl[i]);
}
static void parse_fp(const char *x, unsigned char *o) {
    for (int k = 0; k < 32; k++, x += 3) o[k] = (unsigned char)strtol(x, NULL, 16);
}

static int run(const char *ciphers, int freeze_s, int freeze_c, int server_closes, int tamper) {
    dtls_cert_t cs, cc;
    if (dtls_cert_init(&cs) || dtls_cert_init(&cc)) { printf("cert\n"); return 1; }
    unsigned char fs[32], fc[32];
    parse_fp(cs.fingerprint, fs);
    parse_fp(cc.fingerprint, fc);
    dtls_conn_t S, C;
    dtls_conn_init(&S, &cs, 0, "sha-256", fc, 32, snd, &to_client);
    dtls_conn_init(&C, &cc, 1, "sha-256", fs, 32, snd, &to_server);
    SSL_set_cipher_list(C.ssl, ciphers);
    to_client.peer = &C; to_server.peer = &S; to_client.q = to_server.q = 0;
    dtls_start(&C);
    for (int it = 0; it < 20 && (to_client.q || to_server.q); it++) { pump(&to_server); pump(&to_client); }
    if (S.state != DTLS_CONNECTED || C.state != DTLS_CONNECTED) { printf("%s: handshake failed\n", ciphers); return 1; }
    int fz_s = freeze_s ? dtls_freeze(&S) : 0, fz_c = freeze_c ? dtls_freeze(&C) : 0;
    int bad = (freeze_s && !fz_s) || (freeze_c && !fz_c);
    dtls_conn_t *other = server_closes ? &C : &S;
    pipe_t *out = server_closes ? &to_client : &to_server;
    dtls_close(server_closes ? &S : &C);
    int sent = out->q;
    if (tamper && sent) out->buf[0][out->len[0] - 1] ^= 1;
    pump(out);
    int ok = sent == 1 && (tamper ? other->state == DTLS_CONNECTED : other->state == DTLS_CLOSED);
    printf("%-30s frozen S=%d C=%d, %s closes%s: %s\n", ciphers, fz_s, fz_c, server_closes ? "server" : "client",
           tamper ? " (tampered)" : "", ok && !bad ? "ok" : "FAIL");
    dtls_conn_free(&S); dtls_conn_free(&C); dtls_cert_free(&cs); dtls_cert_free(&cc);
    return !ok || bad;
}

int main(void) {
    const char *suites[] = {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                            "ECDHE-ECDSA-CHACHA20-POLY1305"};
    int bad = 0;
    for (int i = 0; i < 3; i++)
        for (int m = 0; m < 8; m++) bad += run(suites[i], m & 1, (m >> 1) & 1, (m >> 2) & 1, 0);
    for (int i = 0; i < 3; i++) bad += run(suites[i], 1, 1, 0, 1) + run(suites[i], 1, 1, 1, 1);
    printf("%d failed\n", bad);
    return bad != 0;
}
