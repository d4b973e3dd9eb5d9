/* The recorder transport: no network. Its consumers' packets, rewritten but not encrypted, are appended to
 * a buffer as records (u32 length, u64 time in µs, the RTP packet; little-endian) that the control plane
 * drains now and then into a file, so the media thread never touches a disk. */
#include "worker_int.h"

#include <stdio.h>

void recorder_append(ms_worker_t *w, ms_transport_t *t, const uint8_t *pkt, int len) {
    uint32_t need = 12 + (uint32_t)len;
    if (t->rec_len + need > t->rec_cap) { t->rec_dropped++; return; }   /* not drained in time */
    uint8_t *r = t->rec_buf + t->rec_len;
    uint32_t l32 = (uint32_t)len;
    uint64_t now = w->now_us;
    memcpy(r, &l32, 4); memcpy(r + 4, &now, 8); memcpy(r + 12, pkt, len);
    t->rec_len += need;
    t->rec_packets++;
    t->tx_packets++; t->tx_bytes += len;
}

int ms_transport_create_recorder(ms_worker_t *w, uint32_t buffer_bytes, char *err, int errlen) {
    if (buffer_bytes < 65536 || buffer_bytes > (256u << 20)) {
        snprintf(err, errlen, "a recorder's buffer takes 64 KB to 256 MB"); return -1;
    }
    ms_transport_t *t = transport_alloc(w);
    t->rec_buf = malloc(buffer_bytes);
    if (!t->rec_buf) { snprintf(err, errlen, "out of memory"); transport_free_mem(t); return -1; }
    t->rec_cap = buffer_bytes;
    int id = transport_common(w, t, 0, "", NULL, 0, err, errlen);
    if (id < 0) { transport_free_mem(t); return -1; }
    return id;
}

int ms_transport_recorder_drain(ms_worker_t *w, uint32_t id, uint8_t *out, int cap, uint64_t *dropped) {
    ms_transport_t *t = ms_map_get(&w->by_id, id);
    if (!t || t->id != id || !t->rec_buf) return -1;
    if (dropped) *dropped = t->rec_dropped;
    if (!out) return (int)t->rec_len;    /* how much waits */
    uint32_t n = 0;                      /* whole records only */
    while (n + 12 <= t->rec_len) {
        uint32_t l;
        memcpy(&l, t->rec_buf + n, 4);
        if (n + 12 + l > (uint32_t)cap) break;
        n += 12 + l;
    }
    memcpy(out, t->rec_buf, n);
    memmove(t->rec_buf, t->rec_buf + n, t->rec_len - n);
    t->rec_len -= n;
    return (int)n;
}
