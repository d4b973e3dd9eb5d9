/* Per-subscriber allocation of the available bandwidth across its streams (R-MEDIA-3, R-NET-2): the whole
 * policy, from the layer choice (ms_allocate) to its timing around a transport's estimate (ms_alloc_policy:
 * the hold after a downgrade, the lower aim under congestion, the delay before video goes off, when to run).
 *
 * Audio first, then video by priority (the stage before other cameras). Every video stream first gets
 * its lowest active layer, in priority order, while it fits; then, again in priority order, each one
 * climbs to the highest layer that fits its own budget and what is left. A stream that cannot get even
 * its lowest layer is turned off (video off before audio: audio is never cut). Going up to a video layer
 * needs its measured rate plus MS_ALLOC_HEADROOM_PCT percent for retransmissions and keyframe bursts;
 * staying on the current one needs 90% of its rate (hysteresis against flapping).
 * Pure functions on plain arrays: no dependency on the worker. */
#ifndef MS_ALLOC_H
#define MS_ALLOC_H
#include <stdint.h>

#define MS_ALLOC_MAX_LAYERS 3
#define MS_ALLOC_MAX_STREAMS 256           /* streams of one subscriber the allocation looks at */
#define MS_ALLOC_HEADROOM_PCT 15
#define MS_ALLOC_AUDIO_DEFAULT_BPS 48000   /* an audio stream not measured yet */
/* Video is only turned on with at least this much left after audio: below it a picture is not worth
 * risking the audio (R-MEDIA-3: video off before audio). Not applied without allow_off. */
#define MS_ALLOC_VIDEO_MIN_BPS 300000

typedef struct {
    int kind;                  /* 0 audio, 1 video */
    int priority;              /* higher is served first */
    uint32_t max_bps;          /* this stream's budget, 0 = none */
    int nlayers;               /* 1 without simulcast */
    uint32_t layer_bps[MS_ALLOC_MAX_LAYERS];  /* measured rate per layer, ranked lowest first */
    uint8_t layer_active[MS_ALLOC_MAX_LAYERS];
    int current;               /* rank selected now, -1 off */
    int target;                /* out: rank to select, -1 off */
    /* ms_alloc_policy only */
    int previous;              /* rank the previous allocation chose, -1 off */
    uint64_t off_since_us;     /* in/out: when the allocation first wanted this video off, 0 = it does not */
} ms_alloc_stream_t;

/* Chooses every stream's target within available_bps (and total_budget_bps when not 0). With
 * hold_upgrades no video stream goes above its current layer (after a recent downgrade). Without
 * allow_off every video stream keeps at least its lowest active layer: for estimates that cannot see
 * beyond what flows (a receiver's REMB is at most ~1.5x its incoming rate), turning video off would be
 * for good. Returns the bit/s allocated. */
uint32_t ms_allocate(ms_alloc_stream_t *s, int n, uint32_t available_bps, uint32_t total_budget_bps,
                     int hold_upgrades, int allow_off);

/* ---------- the policy around ms_allocate, for one subscriber transport ---------- */

#define MS_ALLOC_NO_ESTIMATE 1000000000u      /* until a transport has an estimate: the budgets alone decide */
#define MS_ALLOC_INTERVAL_US 1000000ull       /* an allocation every second ... */
#define MS_ALLOC_ESTIMATE_MOVE_PCT 15         /* ... or at once when the estimate moved this much */
#define MS_ALLOC_HOLD_US 4000000ull           /* no upgrade this long after a downgrade */
#define MS_ALLOC_CONGESTED_TARGET_PCT 75      /* sending over the estimate: aim at this share of it */
#define MS_ALLOC_FAR_OVER_PCT 70              /* estimate under this share of what is sent: congested */
#define MS_ALLOC_VIDEO_OFF_AFTER_US 1500000ull /* video goes off after the estimate stayed too low this long */
/* A start rate, as a browser's peer connection starts at 300 kbit/s: up to this much, what the estimate
 * allows needs no proof. A new subscriber's lowest layer (audio, and 300 kbit/s left for video) starts at
 * once instead of after the first probes, seconds later (issue 18: a join storm's first frames). */
#define MS_ALLOC_START_BPS 500000u

typedef struct {
    /* in */
    uint64_t now_us;
    uint32_t estimate_bps;     /* MS_ALLOC_NO_ESTIMATE without one */
    uint32_t validated_bps;    /* what the path has been seen to carry lately (delivered or probed) */
    uint32_t budget_bps;       /* the transport's total budget, 0 = none */
    uint64_t sending_bps;      /* what its streams send now */
    int feedback;              /* transport-cc negotiated: an estimate that can climb back by probing */
    int over_tcp;              /* ICE-TCP: its delays are the TCP path's; video never goes off on them */
    /* in and out */
    uint64_t hold_until_us;    /* upgrades wait until then */
    /* out */
    uint32_t wanted_bps;       /* what the best layers within the budgets would take: the probing goal */
    uint32_t alloc_bps;        /* the estimate the allocation worked with */
    int congested;             /* far over the estimate: a downgrade stops feeding the old layer at once */
    uint64_t next_alloc_us;
} ms_alloc_ctx_t;

/* Chooses every stream's target (rank, -1 off) for one transport: ms_allocate with the estimate, aiming at
 * MS_ALLOC_CONGESTED_TARGET_PCT of it while sending more; an upgrade only within the validated rate (an
 * estimate unused for a while is a guess: a probe finds out), up to MS_ALLOC_START_BPS without proof; no
 * upgrade for MS_ALLOC_HOLD_US after a downgrade of a stream that was flowing; a started video keeps its
 * lowest active layer until the allocation has wanted it off for MS_ALLOC_VIDEO_OFF_AFTER_US (one dip of a
 * noisy estimate must not cost seconds of picture). */
void ms_alloc_policy(ms_alloc_ctx_t *ctx, ms_alloc_stream_t *s, int n);
/* Whether the transport's allocation should run now, given its estimate now. */
int ms_alloc_due(const ms_alloc_ctx_t *ctx, uint32_t estimate_bps, uint64_t now_us);
#endif
