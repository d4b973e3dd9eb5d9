/* A single-producer, single-consumer ring of packets between two threads (issue 18: one room over several
 * media workers; a published track is handed from its worker to each worker with subscribers for it, in the
 * same process, without a socket). One thread pushes, one other thread pops; neither takes a lock or makes a
 * system call: the indexes are C11 atomics (release on publish, acquire on read), each on its own cache line,
 * and each side keeps a private copy of the other's index that it refreshes only when the ring looks full
 * (or empty), so a busy ring costs one shared cache-line transfer per batch rather than per packet.
 *
 * A packet that finds the ring full is not stored and is counted (dropped): the sender never waits for the
 * receiver. A slot holds a packet of up to MS_RING_DATA bytes with a few bytes of metadata that the two ends
 * agree on (kind, layer, flags, time). */
#ifndef MS_RING_H
#define MS_RING_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MS_RING_DATA 1500

typedef struct {
    uint64_t at_us;     /* when the sender received it */
    uint32_t ssrc;      /* a value the ends agree on (the stream it belongs to) */
    uint16_t len;
    uint8_t kind, layer;
    uint8_t data[MS_RING_DATA];
} ms_ring_slot_t;

typedef struct {
    _Alignas(64) _Atomic uint32_t head;     /* next slot the producer writes (written by the producer) */
    uint32_t tail_cache;                    /* the producer's copy of tail */
    uint64_t pushed, dropped;               /* the producer's counters */
    _Alignas(64) _Atomic uint32_t tail;     /* next slot the consumer reads (written by the consumer) */
    uint32_t head_cache;                    /* the consumer's copy of head */
    uint64_t popped;                        /* the consumer's counter */
    _Alignas(64) uint32_t mask;             /* slots - 1 (a power of two) */
    ms_ring_slot_t *slots;
} ms_ring_t;

/* A ring of `slots` packets (rounded up to a power of two, at least 2); 0, or -1 without memory. */
static inline int ms_ring_init(ms_ring_t *r, uint32_t slots) {
    uint32_t n = 2;
    while (n < slots && n < (1u << 24)) n <<= 1;
    memset(r, 0, sizeof(*r));
    r->slots = calloc(n, sizeof(ms_ring_slot_t));
    if (!r->slots) return -1;
    r->mask = n - 1;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    return 0;
}

static inline void ms_ring_free(ms_ring_t *r) {
    free(r->slots);
    r->slots = NULL;
}

/* Producer: the slot to fill next, or NULL when the ring is full (then the packet is counted dropped). Fill
 * it, then ms_ring_publish(); several slots may be filled before one publish. */
static inline ms_ring_slot_t *ms_ring_reserve(ms_ring_t *r, uint32_t *pos) {
    uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed) + *pos;
    if (h - r->tail_cache > r->mask) {
        r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (h - r->tail_cache > r->mask) { r->dropped++; return NULL; }
    }
    (*pos)++;
    return &r->slots[h & r->mask];
}

/* Producer: make the `n` slots reserved since the last publish visible to the consumer. */
static inline void ms_ring_publish(ms_ring_t *r, uint32_t n) {
    if (!n) return;
    r->pushed += n;
    atomic_store_explicit(&r->head, atomic_load_explicit(&r->head, memory_order_relaxed) + n,
                          memory_order_release);
}

/* Producer: one packet in (reserve, copy, publish); 1 stored, 0 dropped (full or too long). */
static inline int ms_ring_push(ms_ring_t *r, const uint8_t *data, int len, uint32_t ssrc, uint8_t kind,
                               uint8_t layer, uint64_t at_us) {
    if (len < 0 || len > MS_RING_DATA) { r->dropped++; return 0; }
    uint32_t pos = 0;
    ms_ring_slot_t *s = ms_ring_reserve(r, &pos);
    if (!s) return 0;
    s->at_us = at_us;
    s->ssrc = ssrc;
    s->len = (uint16_t)len;
    s->kind = kind;
    s->layer = layer;
    memcpy(s->data, data, (size_t)len);
    ms_ring_publish(r, 1);
    return 1;
}

/* Consumer: how many slots are ready, at most `max`; they are ms_ring_at(r, 0 .. n-1) until ms_ring_release. */
static inline uint32_t ms_ring_ready(ms_ring_t *r, uint32_t max) {
    uint32_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint32_t n = r->head_cache - t;
    if (n == 0) {
        r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
        n = r->head_cache - t;
    }
    return n < max ? n : max;
}

static inline ms_ring_slot_t *ms_ring_at(ms_ring_t *r, uint32_t i) {
    return &r->slots[(atomic_load_explicit(&r->tail, memory_order_relaxed) + i) & r->mask];
}

/* Consumer: the first `n` ready slots are read; the producer may reuse them. */
static inline void ms_ring_release(ms_ring_t *r, uint32_t n) {
    if (!n) return;
    r->popped += n;
    atomic_store_explicit(&r->tail, atomic_load_explicit(&r->tail, memory_order_relaxed) + n,
                          memory_order_release);
}

#endif
