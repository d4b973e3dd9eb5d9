/* Per-subscriber allocation of the available bandwidth across its streams (R-MEDIA-3, R-NET-2).
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
} ms_alloc_stream_t;

/* Chooses every stream's target within available_bps (and total_budget_bps when not 0). With
 * hold_upgrades no video stream goes above its current layer (after a recent downgrade). Without
 * allow_off every video stream keeps at least its lowest active layer: for estimates that cannot see
 * beyond what flows (a receiver's REMB is at most ~1.5x its incoming rate), turning video off would be
 * for good. Returns the bit/s allocated. */
uint32_t ms_allocate(ms_alloc_stream_t *s, int n, uint32_t available_bps, uint32_t total_budget_bps,
                     int hold_upgrades, int allow_off);
#endif
