/* Small shared helpers of the native core: clock, byte order, a u64 hash map. No dependency on our code. */
#ifndef MS_UTIL_H
#define MS_UTIL_H
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline uint64_t ms_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000ull;
}
static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t rd24(const uint8_t *p) { return ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | p[2]; }
static inline uint32_t rd32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void wr16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }
static inline void wr24(uint8_t *p, uint32_t v) { p[0] = (v >> 16) & 0xff; p[1] = (v >> 8) & 0xff; p[2] = v & 0xff; }
static inline void wr32(uint8_t *p, uint32_t v) { p[0] = v >> 24; p[1] = (v >> 16) & 0xff; p[2] = (v >> 8) & 0xff; p[3] = v & 0xff; }

/* Sequence-number arithmetic (RFC 1982 style, 16 bit). */
static inline int seq_newer(uint16_t a, uint16_t b) { return a != b && (uint16_t)(a - b) < 0x8000; }
static inline int16_t seq_diff(uint16_t a, uint16_t b) { return (int16_t)(uint16_t)(a - b); }

/* Open-addressing map from a non-zero u64 key to a pointer. Deletion uses tombstones. */
typedef struct { uint64_t key; void *val; } ms_slot_t;
typedef struct { ms_slot_t *slots; uint32_t cap, used, live; } ms_map_t;
#define MS_MAP_TOMB ((void *)1)

static inline uint64_t ms_mix64(uint64_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdull; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull; x ^= x >> 33;
    return x;
}
static inline void ms_map_init(ms_map_t *m) { m->cap = 64; m->used = m->live = 0; m->slots = calloc(m->cap, sizeof(ms_slot_t)); }
static inline void ms_map_free(ms_map_t *m) { free(m->slots); m->slots = NULL; m->cap = m->used = m->live = 0; }
static inline void *ms_map_get(const ms_map_t *m, uint64_t key) {
    uint32_t mask = m->cap - 1, i = (uint32_t)ms_mix64(key) & mask;
    for (;;) {
        const ms_slot_t *s = &m->slots[i];
        if (s->val == NULL) return NULL;
        if (s->key == key && s->val != MS_MAP_TOMB) return s->val;
        i = (i + 1) & mask;
    }
}
static inline void ms_map_put(ms_map_t *m, uint64_t key, void *val);
static inline void ms_map_grow(ms_map_t *m) {
    ms_map_t n; n.cap = m->cap * (m->live * 2 >= m->cap ? 2 : 1); n.used = n.live = 0;
    n.slots = calloc(n.cap, sizeof(ms_slot_t));
    for (uint32_t i = 0; i < m->cap; i++)
        if (m->slots[i].val && m->slots[i].val != MS_MAP_TOMB) ms_map_put(&n, m->slots[i].key, m->slots[i].val);
    free(m->slots); *m = n;
}
static inline void ms_map_put(ms_map_t *m, uint64_t key, void *val) {
    if ((m->used + 1) * 4 >= m->cap * 3) ms_map_grow(m);
    uint32_t mask = m->cap - 1, i = (uint32_t)ms_mix64(key) & mask;
    int64_t tomb = -1;
    for (;;) {
        ms_slot_t *s = &m->slots[i];
        if (s->val == NULL) break;
        if (s->val == MS_MAP_TOMB) { if (tomb < 0) tomb = i; }
        else if (s->key == key) { s->val = val; return; }
        i = (i + 1) & mask;
    }
    if (tomb >= 0) i = (uint32_t)tomb; else m->used++;
    m->slots[i].key = key; m->slots[i].val = val; m->live++;
}
static inline void ms_map_del(ms_map_t *m, uint64_t key) {
    uint32_t mask = m->cap - 1, i = (uint32_t)ms_mix64(key) & mask;
    for (;;) {
        ms_slot_t *s = &m->slots[i];
        if (s->val == NULL) return;
        if (s->key == key && s->val != MS_MAP_TOMB) { s->val = MS_MAP_TOMB; m->live--; return; }
        i = (i + 1) & mask;
    }
}
#endif
