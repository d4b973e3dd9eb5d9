/* Pipes (issue 18: one room over several media workers of a process): a published stream's packets, every
 * simulcast layer, handed from the worker that receives it to a worker with subscribers of it, through a
 * lock-free single-producer single-consumer ring (ring.h) and no socket. On the receiving worker a pipe
 * producer mirrors the source (its layers, codecs and extensions) and is fed from the ring as if its packets
 * had come from the network, after their decryption: it has its own retransmission cache, which answers its
 * subscribers' NACKs there, its own layer measurements, and its consumers' layer selection and bandwidth
 * estimation are that worker's. Keyframe requests go back as bits of an atomic word, one per layer, that the
 * source's worker reads each tick and turns into at most one request per layer and interval, whatever the
 * number of subscribers and workers asking.
 *
 * Threads: the source's worker pushes (its lock held), the receiving worker pops (its lock held); creating
 * and closing a pipe hold both locks (ms_pipe_create, ms_pipe_close). A source producer that closes detaches
 * its pipes (their producers on the other side stay idle until the pipe is closed). */
#include "io.h"

#include <stdio.h>
#include <sys/epoll.h>
#include <unistd.h>

struct ms_pipe {
    ms_worker_t *src, *dst;
    ms_producer_t *from;          /* the source head on src; NULL once it closed (src's side) */
    ms_producer_t *to;            /* the pipe producer (head) on dst (dst's side) */
    ms_ring_t ring;
    _Atomic uint32_t want_key;    /* dst -> src: bit l = a keyframe of layer l is wanted */
    int dirty;                    /* src: pushed to this batch, dst not yet woken */
    ms_pipe_t *next_in;           /* dst's list of the pipes it receives */
};

/* ---------- the sending worker ---------- */

void pipe_push(ms_worker_t *w, ms_producer_t *p, const cache_slot_t *slot) {
    ms_producer_t *hd = p->head;
    for (int i = 0; i < hd->npipes; i++) {
        ms_pipe_t *pp = hd->pipes[i];
        if (ms_ring_push(&pp->ring, slot->data, slot->len, slot->ext, 0, (uint8_t)p->layer_idx, w->now_us)) {
            w->st.pipe_tx++;
            if (!pp->dirty && w->ndirty < PIPE_DIRTY_MAX) { pp->dirty = 1; w->dirty[w->ndirty++] = pp; }
        } else {
            w->st.pipe_dropped++;   /* the receiving worker fell a ring behind: its cache and NACKs cope */
        }
    }
    if (w->ndirty == PIPE_DIRTY_MAX) pipe_wake(w);
}

/* Wake the workers this batch pushed to that sleep: one eventfd write each, once per batch; a worker that
 * is awake takes the packets in before it sleeps (worker_main looks at its pipes after saying it parks). */
void pipe_wake(ms_worker_t *w) {
    atomic_thread_fence(memory_order_seq_cst);    /* the pushes before the look at `parked` */
    for (int i = 0; i < w->ndirty; i++) {
        ms_pipe_t *pp = w->dirty[i];
        if (!pp->dirty) continue;
        for (int j = i; j < w->ndirty; j++)       /* several pipes to one worker: one wake-up */
            if (w->dirty[j]->dst == pp->dst) w->dirty[j]->dirty = 0;
        if (!atomic_load_explicit(&pp->dst->parked, memory_order_relaxed)) continue;
        uint64_t one = 1;
        ssize_t r = write(pp->dst->pipe_evfd, &one, sizeof(one));
        (void)r;
    }
    w->ndirty = 0;
}

/* Whether a pipe of w has packets waiting (w's thread, before it sleeps). */
int pipe_pending(ms_worker_t *w) {
    for (ms_pipe_t *pp = w->pipes_in; pp; pp = pp->next_in)
        if (ms_ring_ready(&pp->ring, 1)) return 1;
    return 0;
}

/* Each tick of the source's worker: the keyframes its pipes' subscribers wait for, asked of the publisher
 * within request_keyframe's interval per layer (many workers and subscribers, one request). */
void pipe_source_tick(ms_worker_t *w, ms_producer_t *hd) {
    for (int i = 0; i < hd->npipes; i++) {
        uint32_t want = atomic_exchange_explicit(&hd->pipes[i]->want_key, 0, memory_order_acq_rel);
        for (int l = 0; want && l < hd->nlayers; l++, want >>= 1)
            if ((want & 1) && hd->layer[l]) { w->st.pipe_plis++; request_keyframe(w, hd->layer[l]); }
    }
}

void pipe_source_gone(ms_worker_t *w, ms_producer_t *hd) {
    (void)w;
    for (int i = 0; i < hd->npipes; i++) hd->pipes[i]->from = NULL;
    free(hd->pipes);
    hd->pipes = NULL;
    hd->npipes = 0;
}

/* ---------- the receiving worker ---------- */

void pipe_keyframe(ms_worker_t *w, ms_producer_t *p) {
    ms_pipe_t *pp = p->head->pipe_in;
    uint32_t bit = 1u << p->layer_idx;
    (void)w;
    if (atomic_load_explicit(&pp->want_key, memory_order_relaxed) & bit) return;   /* already on its way */
    p->plis_tx++;
    atomic_fetch_or_explicit(&pp->want_key, bit, memory_order_release);
}

/* Everything the pipes brought, into the pipe producers' caches and on to their consumers. */
void pipe_drain(ms_worker_t *w) {
    for (ms_pipe_t *pp = w->pipes_in; pp; pp = pp->next_in) {
        uint32_t n;
        while ((n = ms_ring_ready(&pp->ring, 64)) > 0) {
            for (uint32_t i = 0; i < n; i++) {
                ms_ring_slot_t *s = ms_ring_at(&pp->ring, i);
                w->st.pipe_rx++;
                ms_producer_t *p = s->layer < pp->to->nlayers ? pp->to->layer[s->layer] : NULL;
                rtp_hdr_t h;
                if (!p || rtp_parse(s->data, s->len, &h) < 0) { w->st.drops[DROP_RTP_MALFORMED]++; continue; }
                ingest_rtp(w, p, s->data, s->len, &h);   /* copies the packet into p's cache */
            }
            ms_ring_release(&pp->ring, n);
            forward_pending(w);
        }
    }
}

/* ---------- life cycle (both workers locked) ---------- */

static ms_producer_t *head_of(ms_worker_t *w, uint32_t id) { return ms_map_get(&w->prod_by_id, id); }

int ms_pipe_create(ms_worker_t *src, uint32_t producer_id, ms_worker_t *dst, char *err, int errlen) {
    ms_producer_t *from = head_of(src, producer_id);
    if (!from || src == dst) { snprintf(err, errlen, "no such producer on the source worker"); return -1; }
    if (!dst->pipe_t) {
        dst->pipe_t = transport_alloc(dst);
        if (!dst->pipe_t) { snprintf(err, errlen, "out of memory"); return -1; }
        dst->pipe_t->id = new_id(dst);
    }
    ms_pipe_t *pp = calloc(1, sizeof(*pp));
    ms_pipe_t **grown = realloc(from->pipes, sizeof(ms_pipe_t *) * (size_t)(from->npipes + 1));
    if (!pp || !grown || ms_ring_init(&pp->ring, PIPE_SLOTS) != 0) {
        if (grown) from->pipes = grown;
        free(pp);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    from->pipes = grown;
    ms_producer_params_t prm = from->prm;
    prm.nack = 0;                 /* nothing is lost on the way: no NACKs upstream */
    prm.nlayers = from->nlayers;
    prm.ssrc = prm.rtx_ssrc = 0;
    for (int i = 0; i < MS_MAX_LAYERS; i++) prm.layer_ssrc[i] = prm.layer_rtx_ssrc[i] = 0;
    int id = producer_mirror(dst, dst->pipe_t, &prm, from);
    if (id < 0) { ms_ring_free(&pp->ring); free(pp); snprintf(err, errlen, "out of memory"); return -1; }
    pp->src = src;
    pp->dst = dst;
    pp->from = from;
    pp->to = ms_map_get(&dst->prod_by_id, (uint32_t)id);
    for (int i = 0; i < pp->to->nlayers; i++) pp->to->layer[i]->pipe_in = pp;
    atomic_init(&pp->want_key, 0);
    from->pipes[from->npipes++] = pp;
    pp->next_in = dst->pipes_in;
    dst->pipes_in = pp;
    dst->st.pipes_in++;
    return id;
}

int ms_pipe_close(ms_worker_t *src, ms_worker_t *dst, uint32_t pipe_producer_id) {
    ms_producer_t *to = head_of(dst, pipe_producer_id);
    if (!to || !to->pipe_in || to->pipe_in->src != src) return -1;
    ms_pipe_t *pp = to->pipe_in;
    if (pp->from) {
        ms_producer_t *from = pp->from;
        for (int i = 0; i < from->npipes; i++)
            if (from->pipes[i] == pp) { from->pipes[i] = from->pipes[--from->npipes]; break; }
    }
    for (int i = 0; i < src->ndirty; i++)
        if (src->dirty[i] == pp) src->dirty[i] = src->dirty[--src->ndirty];
    for (ms_pipe_t **q = &dst->pipes_in; *q; q = &(*q)->next_in)
        if (*q == pp) { *q = pp->next_in; break; }
    dst->st.pipes_in--;
    for (int i = 0; i < to->nlayers; i++) to->layer[i]->pipe_in = NULL;
    ms_producer_close(dst, pipe_producer_id);
    ms_ring_free(&pp->ring);
    free(pp);
    return 0;
}

/* A worker going away: the pipes it receives are left to leak rather than touched by a freed worker; the
 * control plane closes them first (ms_pipe_close). */
void pipe_worker_free(ms_worker_t *w) {
    free(w->pipe_t ? (char *)w->pipe_t - offsetof(transport_box_t, t) : NULL);
    w->pipe_t = NULL;
    close(w->pipe_evfd);
}
