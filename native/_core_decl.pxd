# cython: language_level=3
"""C declarations of the native media core (native/core/*.h) that the .pyx modules use, in one place.

Array sizes and limits come from the headers' own constants (enum blocks below), never as numbers here.
"""
from libc.stdint cimport int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t


cdef extern from "worker.h" nogil:
    ctypedef struct ms_worker_t:
        pass
    enum:
        DROP_MAX
        EV_ICE, EV_DTLS, EV_CONSUMER_CLOSED, EV_PRODUCER_SSRC, EV_NOTICE
        MS_MAX_LAYERS
        MS_PT_COUNT
        MS_MID_LEN
        MS_RID_LEN
        MS_EVENT_TEXT
        MS_SINK_SSRCS
        MS_CAPTURE_PAYLOAD
        MS_LAT_BUCKETS
        MS_CAPTURE
        MS_LAYER_AUTO
        MS_RTX_PER_RTCP
        MS_RTX_RTT_MIN_US
        MS_RTX_RTT_MAX_US
        MS_RTX_RTT_DEFAULT_US
        MS_RTX_SHARE_PCT
        MS_RTX_FLOOR_BYTES
        MS_RTX_BURST_MS
        MS_RTX_OVERHEAD
    ctypedef struct ms_stats_t:
        uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes
        uint64_t rtp_rx, rtcp_rx, stun_rx, dtls_rx, rtp_tx, rtcp_tx
        uint64_t drops[DROP_MAX]
        uint64_t nacks_rx, nacks_tx, rtx_tx, plis_rx, plis_tx, rx_batches, tx_batches
        uint64_t tx_messages, tx_gso_messages
        uint64_t transports, producers, consumers, tcp_conns
        uint64_t events_dropped
        uint64_t twcc_rx, twcc_tx, remb_rx, probes_tx
        uint64_t rtx_skipped
        uint64_t overloads, rtx_shed
        uint64_t rtx_refused_rtcp, rtx_refused_repeat, rtx_refused_rate
        uint64_t pipe_tx, pipe_dropped, pipe_rx, pipe_plis, pipes_in, pipe_wakes
        uint64_t cpu_us
    ctypedef struct ms_event_t:
        int type
        uint32_t id
        int64_t a, b
        char text[MS_EVENT_TEXT]
    ctypedef struct ms_producer_params_t:
        int kind
        uint32_t ssrc, rtx_ssrc
        uint8_t codec_of_pt[MS_PT_COUNT]
        uint8_t apt_of_rtx[MS_PT_COUNT]
        uint32_t clock_rate
        uint8_t ext_mid, ext_rid, ext_rrid, ext_abs, ext_twcc, ext_alevel
        char mid[MS_MID_LEN]
        int nack
        int nlayers
        char rids[MS_MAX_LAYERS][MS_RID_LEN]
        uint32_t layer_ssrc[MS_MAX_LAYERS]
        uint32_t layer_rtx_ssrc[MS_MAX_LAYERS]
    ctypedef struct ms_consumer_params_t:
        uint32_t ssrc, rtx_ssrc
        uint8_t pt_map[MS_PT_COUNT]
        uint8_t rtx_pt_of[MS_PT_COUNT]
        uint8_t ext_mid, ext_abs, ext_twcc, ext_alevel
        uint8_t ext_playout
        uint8_t first
        char mid[MS_MID_LEN]
    ctypedef struct ms_stream_stats_t:
        uint64_t packets, bytes, lost, nacks, plis, rtx, keyframes
        uint32_t ssrc
        int32_t fraction_lost
        uint32_t jitter
        int64_t rtt_us
        int nlayers
        uint32_t layer_ssrc[MS_MAX_LAYERS]
        uint32_t layer_bps[MS_MAX_LAYERS]
        int layer_active[MS_MAX_LAYERS]
        int layer_rank[MS_MAX_LAYERS]
        int cur_layer, target_layer
        uint32_t bps
        int temporal
        uint64_t frames_dropped
        uint64_t rtx_refused
    ctypedef struct ms_transport_stats_t:
        int ice_state, dtls_state, srtp_profile
        int dtls_frozen
        int remote_port, over_tcp
        uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes
        uint64_t sink_packets, sink_bytes, sink_lost, sink_decrypt_errors
        uint32_t sink_ssrc[MS_SINK_SSRCS]
        uint32_t sink_max_seq[MS_SINK_SSRCS]
        uint64_t sink_received[MS_SINK_SSRCS]
        uint64_t latency_hist[MS_LAT_BUCKETS]
        uint32_t bwe_bps, bwe_acked_bps, wanted_bps
        int bwe_state, bwe_feedback

    ms_worker_t *ms_worker_new(const char *ip, int port, char *err, int errlen)
    int ms_worker_start(ms_worker_t *w)
    void ms_worker_stop(ms_worker_t *w)
    void ms_worker_free(ms_worker_t *w)
    void ms_worker_lock(ms_worker_t *w)
    void ms_worker_unlock(ms_worker_t *w)
    int ms_worker_port(ms_worker_t *w)
    int ms_worker_set_cpu(ms_worker_t *w, int cpu)
    int ms_worker_tcp_enabled(ms_worker_t *w)
    int ms_worker_gso_enabled(ms_worker_t *w)
    void ms_worker_set_gso(ms_worker_t *w, int on)
    void ms_worker_set_consent_timeout(ms_worker_t *w, uint64_t us)
    int ms_worker_eventfd(ms_worker_t *w)
    const char *ms_worker_fingerprint(ms_worker_t *w)
    int ms_worker_poll_events(ms_worker_t *w, ms_event_t *out, int max)
    void ms_worker_stats(ms_worker_t *w, ms_stats_t *out)
    int ms_transport_create(ms_worker_t *w, const char *ufrag, const char *pwd, int dtls_client, const char *fp_alg,
                            const uint8_t *fp, int fp_len, char *err, int errlen)
    int ms_transport_create_client(ms_worker_t *w, const char *remote_ip, int remote_port, const char *local_ufrag,
                                   const char *remote_ufrag, const char *remote_pwd, const char *fp_alg,
                                   const uint8_t *fp, int fp_len, int sink_abs_ext, const char *local_ip,
                                   int relay, char *err, int errlen)
    int ms_transport_set_dtls(ms_worker_t *w, uint32_t id, int dtls_client, const char *fp_alg, const uint8_t *fp,
                              int fp_len, char *err, int errlen)
    int ms_transport_create_recorder(ms_worker_t *w, uint32_t buffer_bytes, char *err, int errlen)
    int ms_transport_recorder_drain(ms_worker_t *w, uint32_t id, uint8_t *out, int cap, uint64_t *dropped)
    int ms_transport_close(ms_worker_t *w, uint32_t id)
    int ms_transport_stats(ms_worker_t *w, uint32_t id, ms_transport_stats_t *out)
    int ms_transport_send_rtp(ms_worker_t *w, uint32_t id, const uint8_t *pkt, int len, int abs_ext)
    int ms_transport_send_rtcp(ms_worker_t *w, uint32_t id, const uint8_t *pkt, int len)
    ctypedef struct ms_capture_t:
        uint64_t arrival_us
        uint32_t ts, ssrc
        uint16_t seq
        uint8_t pt, marker
        int16_t len
        uint8_t payload[MS_CAPTURE_PAYLOAD]
        uint8_t npayload
    int ms_transport_capture(ms_worker_t *w, uint32_t id, ms_capture_t *out, int max)
    int ms_producer_create(ms_worker_t *w, uint32_t transport_id, const ms_producer_params_t *p)
    int ms_producer_close(ms_worker_t *w, uint32_t id)
    int ms_producer_stats(ms_worker_t *w, uint32_t id, ms_stream_stats_t *out)
    int ms_producer_request_keyframe(ms_worker_t *w, uint32_t id)
    int ms_pipe_create(ms_worker_t *src, uint32_t producer_id, ms_worker_t *dst, char *err, int errlen)
    int ms_pipe_close(ms_worker_t *src, ms_worker_t *dst, uint32_t pipe_producer_id)
    int ms_consumer_create(ms_worker_t *w, uint32_t transport_id, uint32_t producer_id, const ms_consumer_params_t *p)
    int ms_consumer_close(ms_worker_t *w, uint32_t id)
    int ms_consumer_pause(ms_worker_t *w, uint32_t id, int paused)
    int ms_consumer_stats(ms_worker_t *w, uint32_t id, ms_stream_stats_t *out)
    int ms_consumer_set_layer(ms_worker_t *w, uint32_t id, int layer)
    int ms_consumer_set_temporal(ms_worker_t *w, uint32_t id, int tl)
    int ms_consumer_set_budget(ms_worker_t *w, uint32_t id, uint32_t max_bps, int priority)
    int ms_transport_set_budget(ms_worker_t *w, uint32_t id, uint32_t max_bps)

cdef extern from "alloc.h" nogil:
    enum:
        MS_ALLOC_MAX_LAYERS
        MS_ALLOC_MAX_STREAMS
    ctypedef struct ms_alloc_stream_t:
        int kind, priority
        uint32_t max_bps
        int nlayers
        uint32_t layer_bps[MS_ALLOC_MAX_LAYERS]
        uint8_t layer_active[MS_ALLOC_MAX_LAYERS]
        int current, target
        int previous
        uint64_t off_since_us
    ctypedef struct ms_alloc_ctx_t:
        uint64_t now_us
        uint32_t estimate_bps, validated_bps, budget_bps
        uint64_t sending_bps
        int feedback, over_tcp
        uint64_t hold_until_us
        uint32_t wanted_bps, alloc_bps
        int congested
        uint64_t next_alloc_us
    uint32_t ms_allocate(ms_alloc_stream_t *s, int n, uint32_t available_bps, uint32_t total_budget_bps,
                         int hold_upgrades, int allow_off)
    void ms_alloc_policy(ms_alloc_ctx_t *ctx, ms_alloc_stream_t *s, int n)

cdef extern from "stun.h" nogil:
    ctypedef struct stun_msg_t:
        uint16_t type
        const uint8_t *username
        int username_len
        int has_integrity
        int has_fingerprint
        int fingerprint_ok
        int use_candidate, ice_controlling, ice_controlled
        uint32_t priority
        uint16_t error_code
    int stun_parse(const uint8_t *buf, int len, stun_msg_t *out)
    int stun_check_integrity(const uint8_t *buf, int len, const stun_msg_t *m, const char *key, int keylen)

cdef extern from "rtp.h" nogil:
    enum:
        RTP_MAX_EXT
    ctypedef struct rtp_hdr_t:
        uint8_t marker, pt, padding, cc
        uint16_t seq
        uint32_t ts, ssrc
        int header_len, payload_len, ext_profile, n_ext
        uint8_t ext_id[RTP_MAX_EXT]
        uint8_t ext_len[RTP_MAX_EXT]
        uint16_t ext_off[RTP_MAX_EXT]
    int rtp_parse(const uint8_t *buf, int len, rtp_hdr_t *h)
    int rtp_is_keyframe(int codec, const uint8_t *payload, int len)

cdef extern from "rtcp.h" nogil:
    int rtcp_next(const uint8_t *buf, int len, int off, int *pkt_len)
    int rtcp_build_nack(uint8_t *out, int cap, uint32_t sender, uint32_t media, const uint16_t *seqs, int n)

cdef extern from "bwe.h" nogil:
    int TWCC_RX_RING
    int TWCC_FB_MIN
    int TWCC_LOST
    int TWCC_NO_TIME
    int BWE_HIST
    ctypedef struct twcc_rx_t:
        pass
    ctypedef struct twcc_result_t:
        uint16_t seq
        int64_t recv_us
    ctypedef struct bwe_t:
        uint32_t delay_bps
        uint32_t loss_bps
        uint32_t remb_bps
        double thr_ms
        double cap_kbps
    void twcc_rx_init(twcc_rx_t *r)
    void twcc_rx_on_packet(twcc_rx_t *r, uint16_t twcc_seq, uint64_t arrival_us)
    int twcc_rx_build(twcc_rx_t *r, uint8_t *out, int cap, uint32_t sender_ssrc, uint32_t media_ssrc)
    int twcc_parse(const uint8_t *pkt, int len, twcc_result_t *out, int max, uint8_t *fb_count)
    int remb_parse(const uint8_t *pkt, int len, uint32_t *bps)
    int remb_build(uint8_t *out, uint32_t sender_ssrc, uint32_t bps, const uint32_t *ssrcs, int n)
    void bwe_init(bwe_t *b, uint32_t start_bps, uint32_t min_bps, uint32_t max_bps)
    void bwe_free(bwe_t *b)
    void bwe_on_sent(bwe_t *b, uint16_t twcc_seq, int size_bytes, uint64_t send_us, int probe_cluster)
    void bwe_on_feedback(bwe_t *b, const twcc_result_t *res, int n, uint64_t now_us)
    void bwe_on_remb(bwe_t *b, uint32_t bps, uint64_t now_us)
    void bwe_on_loss(bwe_t *b, uint8_t fraction_lost, uint64_t now_us)
    void bwe_on_rtt(bwe_t *b, int64_t rtt_us)
    uint32_t bwe_estimate(const bwe_t *b)
    uint32_t bwe_acked_bps(const bwe_t *b)
    int bwe_state(const bwe_t *b)
    int bwe_detector(const bwe_t *b)
    int bwe_probe_start(bwe_t *b, uint32_t target_bps, uint64_t now_us)
    int bwe_should_probe(const bwe_t *b, uint32_t wanted_bps, uint64_t now_us)

cdef extern from "srtp.h" nogil:
    enum:
        SRTP_PROFILE_AES128_CM_SHA1_80
        SRTP_PROFILE_AEAD_AES_128_GCM
        SRTP_PROFILE_AEAD_AES_256_GCM
    enum:
        SRTP_OK
        SRTP_ERR_BAD_PARAM
        SRTP_ERR_AUTH
        SRTP_ERR_REPLAY
        SRTP_ERR_TOO_SHORT
        SRTP_ERR_NO_SPACE
        SRTP_ERR_CRYPTO
    int SRTP_REPLAY_WINDOW
    int SRTP_MAX_STREAMS
    ctypedef struct srtp_ctx_t:
        pass
    int srtp_key_len(int profile)
    int srtp_salt_len(int profile)
    int srtp_overhead(int profile)
    srtp_ctx_t *srtp_ctx_new(int profile, const uint8_t *master_key, const uint8_t *master_salt)
    void srtp_ctx_free(srtp_ctx_t *)
    int srtp_protect_rtp(srtp_ctx_t *, uint8_t *pkt, int len, int cap)
    int srtp_unprotect_rtp(srtp_ctx_t *, uint8_t *pkt, int len)
    int srtp_protect_rtcp(srtp_ctx_t *, uint8_t *pkt, int len, int cap)
    int srtp_unprotect_rtcp(srtp_ctx_t *, uint8_t *pkt, int len)
    int srtp_split_keying_material(int profile, const uint8_t *material, uint8_t *client_key,
                                   uint8_t *client_salt, uint8_t *server_key, uint8_t *server_salt)
    int srtp_kdf(const uint8_t *master_key, int key_len, const uint8_t *master_salt, int salt_len, int label,
                 uint8_t *out, int out_len)
    int srtp_ctx_remove_ssrc(srtp_ctx_t *, uint32_t ssrc)
    int srtp_ctx_stream_count(const srtp_ctx_t *)
    int srtp_ctx_get_roc(const srtp_ctx_t *, uint32_t ssrc, int inbound, uint32_t *roc)
    const char *srtp_strerror(int err)

cdef extern from "ring.h" nogil:
    enum:
        MS_RING_DATA
    ctypedef struct ms_ring_slot_t:
        uint64_t at_us
        uint32_t ssrc
        uint16_t len
        uint8_t kind, layer
        uint8_t data[MS_RING_DATA]
    ctypedef struct ms_ring_t:
        uint64_t pushed, dropped, popped
        uint32_t mask
    int ms_ring_init(ms_ring_t *r, uint32_t slots)
    void ms_ring_free(ms_ring_t *r)
    ms_ring_slot_t *ms_ring_reserve(ms_ring_t *r, uint32_t *pos)
    void ms_ring_publish(ms_ring_t *r, uint32_t n)
    int ms_ring_push(ms_ring_t *r, const uint8_t *data, int len, uint32_t ssrc, uint8_t kind, uint8_t layer,
                     uint64_t at_us)
    uint32_t ms_ring_ready(ms_ring_t *r, uint32_t max)
    ms_ring_slot_t *ms_ring_at(ms_ring_t *r, uint32_t i)
    void ms_ring_release(ms_ring_t *r, uint32_t n)


cdef extern from "translate.h" nogil:
    enum:
        MS_XLATE_EPOCHS
        MS_XLATE_TL_ALL
    ctypedef struct ms_seq_track_t:
        uint32_t ssrc
        uint16_t max_seq
        uint32_t cycles, base, received
        int init
    void ms_seq_track(ms_seq_track_t *s, uint16_t seq)
    uint32_t ms_seq_expected(const ms_seq_track_t *s)
    uint32_t ms_seq_ext(const ms_seq_track_t *s, uint16_t seq)
    ctypedef struct ms_epoch_t:
        uint16_t out_start, seq_off, pic_off
        uint8_t tl0_off
        int8_t layer
        uint32_t start_ext, ts_off
    ctypedef struct ms_xlate_t:
        ms_epoch_t ep[MS_XLATE_EPOCHS]
        int nep
        uint16_t seq_off
        uint32_t ts_off
        uint32_t start_ext
        int has_sent
        uint16_t last_seq_out
        uint32_t last_ts_out
        int pic_resync, has_pic
        uint16_t last_pic_out
        uint8_t last_tl0_out
        int tl_target, tl_cur, tl_pic, tl_drop
        uint32_t tl_seqs_dropped, tl_pics_dropped
        uint64_t tl_frames_dropped
    void ms_xlate_init(ms_xlate_t *x)
    ms_epoch_t *ms_xlate_start(ms_xlate_t *x, uint16_t seq, uint32_t ts, uint32_t ext, int layer, uint64_t gap_us,
                               uint32_t clock, uint16_t rand_seq, uint32_t rand_ts)
    void ms_xlate_continue(ms_xlate_t *x, uint16_t seq, uint32_t ext)
    int ms_xlate_temporal_drop(ms_xlate_t *x, const uint8_t *payload, int len)
    void ms_xlate_set_temporal(ms_xlate_t *x, int tl)
    ms_epoch_t *ms_xlate_current(ms_xlate_t *x)
    uint16_t ms_xlate_seq(const ms_xlate_t *x, uint16_t seq)
    ms_epoch_t *ms_xlate_epoch_of(ms_xlate_t *x, uint16_t out_seq)
    void ms_xlate_sent(ms_xlate_t *x, uint16_t out_seq, uint32_t out_ts)
    int ms_xlate_packet(ms_xlate_t *x, uint16_t seq, uint32_t ext, const uint8_t *payload, int len, int vp8,
                        uint16_t *out_seq, ms_epoch_t **e)
    void ms_xlate_vp8(ms_xlate_t *x, ms_epoch_t *e, uint8_t *d, int len, int original)

cdef extern from "rtcp_fb.h" nogil:
    enum:
        RTCP_MAX_REPORTS
        RTCP_NACK_MAX_SEQS
    ctypedef struct rtcp_report_t:
        uint32_t ssrc
        uint8_t fraction_lost
        int32_t cumulative_lost
        uint32_t highest_seq
        uint32_t jitter
        uint32_t lsr, dlsr
    ctypedef struct rtcp_reports_t:
        uint32_t ssrc
        int has_sender_info
        uint32_t ntp_mid
        uint32_t rtp_ts, packets, octets
        int nblocks
        rtcp_report_t blocks[RTCP_MAX_REPORTS]
    ctypedef struct rtcp_nack_t:
        uint32_t sender, media
        int nseqs
        uint16_t seqs[RTCP_NACK_MAX_SEQS]
    ctypedef struct rtcp_keyframe_req_t:
        uint32_t sender, media
        uint8_t fir_seq
    ctypedef struct rtcp_rrtr_t:
        uint32_t ssrc, ntp_mid
    int rtcp_parse_sr(const uint8_t *p, int len, rtcp_reports_t *out)
    int rtcp_parse_rr(const uint8_t *p, int len, rtcp_reports_t *out)
    int rtcp_parse_nack(const uint8_t *p, int len, rtcp_nack_t *out)
    int rtcp_parse_pli(const uint8_t *p, int len, rtcp_keyframe_req_t *out)
    int rtcp_parse_fir(const uint8_t *p, int len, rtcp_keyframe_req_t *out)
    int rtcp_parse_xr_rrtr(const uint8_t *p, int len, rtcp_rrtr_t *out)
