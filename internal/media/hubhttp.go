package media

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
)

// The hub's faces to the outside: LL-HLS requests and /metrics.

// ServeHLS answers GET /hls/{slug}/{file} and, for the ABR ladder's
// renditions, GET /hls/{slug}/{rung}/{file}.
func (h *Hub) ServeHLS(w http.ResponseWriter, r *http.Request) {
	slug, file := r.PathValue("slug"), r.PathValue("file")
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	defer func() {
		h.hlsRequests.WithLabelValues(HLSKind(file), fmt.Sprint(rec.code)).Inc()
		if rec.code >= 400 {
			h.log.Debug("LL-HLS request failed", "channel", slug, "file", file, "query", r.URL.RawQuery, "code", rec.code)
		}
	}()
	defer func() { h.egressBytes.Add(float64(rec.bytes)) }()
	// A draining node takes no new players: a multivariant playlist asked
	// for without a playback session starts one. Players already here
	// (sessions, blocking reloads, parts) go on until they are moved.
	if h.drain.Draining() && file == "index.m3u8" && r.PathValue("rung") == "" &&
		!ValidSessionID(r.URL.Query().Get(SessionParam)) && !r.URL.Query().Has("_HLS_msn") {
		hlsError(rec, http.StatusServiceUnavailable, "node_draining", "this node is shutting down: play the stream from another node")
		return
	}
	s, ok := h.Stream(slug)
	if !ok {
		hlsError(rec, http.StatusNotFound, "not_live", "channel is not live")
		return
	}
	// Requests the muxer may hold open: a blocking playlist reload or a
	// part not made yet.
	if _, part := parsePartName(file); part || r.URL.Query().Has("_HLS_msn") {
		h.hlsWaiting.Add(1)
		defer h.hlsWaiting.Add(-1)
	}
	// Players on other origins (an embed, a test page) may read the stream.
	rec.Header().Set("Access-Control-Allow-Origin", "*")
	if rung := r.PathValue("rung"); rung != "" {
		if s.ladder == nil {
			notFound(rec, "no such rendition")
			return
		}
		s.ladder.serveRung(rung, rec, r)
		return
	}
	if file == "index.m3u8" && s.ladder != nil {
		s.ladder.serveMultivariant(s.hls, rec, r)
		return
	}
	s.hls.serve(rec, r)
}

type statusRecorder struct {
	http.ResponseWriter
	code  int
	bytes int // body bytes written (egress)
}

func (r *statusRecorder) WriteHeader(code int) { r.code = code; r.ResponseWriter.WriteHeader(code) }

func (r *statusRecorder) Write(b []byte) (int, error) {
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func describeTracks(tracks []*Track) string {
	out := ""
	for i, t := range tracks {
		if i > 0 {
			out += ", "
		}
		if t.Codec.IsVideo() {
			out += fmt.Sprintf("%s %dx%d", t.Codec, t.Width, t.Height)
		} else {
			out += fmt.Sprintf("%s %d Hz %d ch", t.Codec, t.SampleRate, t.ChannelCount)
		}
	}
	return out
}

// hubCollector reports live streams and viewers at scrape time, so a
// channel that went offline leaves no stale series behind.
type hubCollector struct{ h *Hub }

var (
	liveStreamsDesc = prometheus.NewDesc("livehouse_live_streams", "Channels live right now.", nil, nil)
	viewersDesc     = prometheus.NewDesc("livehouse_viewers",
		"Viewers of a live channel: external HLS players (livehouse_hls_players) plus viewers on Livehouse's own pages (their room connections).",
		[]string{"channel"}, nil)
	playersDesc = prometheus.NewDesc("livehouse_hls_players",
		"External HLS players of a live channel (VLC, ffplay, apps; not Livehouse's pages): playback sessions seen in the last 15 s, capped per client address, on the ingesting node and the edges pulling it through.",
		[]string{"channel"}, nil)
	ingestBitrateDesc = prometheus.NewDesc("livehouse_ingest_bitrate_bits_per_second",
		"Bitrate a live channel's publisher sends, over the last 2 s of its timeline.", []string{"channel", "protocol"}, nil)
	ingestFPSDesc = prometheus.NewDesc("livehouse_ingest_fps",
		"Video frames a second a live channel's publisher sends.", []string{"channel"}, nil)
	keyframeIntervalDesc = prometheus.NewDesc("livehouse_ingest_keyframe_interval_seconds",
		"Time between a live channel's last two keyframes (or since the last, when longer).", []string{"channel"}, nil)
	droppedFramesDesc = prometheus.NewDesc("livehouse_ingest_dropped_frames_total",
		"Video frames missing from a live channel's timeline (gaps in its timestamps), this session.", []string{"channel"}, nil)
	lateFramesDesc = prometheus.NewDesc("livehouse_ingest_late_frames_total",
		"Frames of a live channel that arrived over 0.5 s behind their time, this session.", []string{"channel"}, nil)
	streamWarningDesc = prometheus.NewDesc("livehouse_stream_warning",
		"1 for each stream-health warning a live channel has now (see GET /api/channels/SLUG/health).", []string{"channel", "code"}, nil)
	ladderLagDesc = prometheus.NewDesc("livehouse_ladder_encode_lag_seconds",
		"ABR ladder: how long the last frame of a rendition took from the source into ffmpeg and out again.", []string{"channel", "rung"}, nil)
	ladderLiveDesc = prometheus.NewDesc("livehouse_ladder_rung_live",
		"ABR ladder: 1 when a rendition is in the channel's multivariant playlist.", []string{"channel", "rung"}, nil)
	inputsDesc = prometheus.NewDesc("livehouse_ingest_inputs",
		"Publishers on this node by state: on_air (feeding a live stream) or standby (hot standby of a live channel, backup ingest).", []string{"state"}, nil)
	drainingDesc   = prometheus.NewDesc("livehouse_node_draining", "1 while this node drains (SIGTERM): it takes no new publishers or players.", nil, nil)
	hlsWaitingDesc = prometheus.NewDesc("livehouse_hls_waiting_requests",
		"LL-HLS requests in progress that may be held open: blocking playlist reloads (_HLS_msn) and parts not made yet.", nil, nil)
)

func (c hubCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- liveStreamsDesc
	ch <- viewersDesc
	ch <- playersDesc
	ch <- hlsWaitingDesc
	ch <- inputsDesc
	ch <- drainingDesc
	ch <- ladderLagDesc
	ch <- ladderLiveDesc
	for _, d := range []*prometheus.Desc{ingestBitrateDesc, ingestFPSDesc, keyframeIntervalDesc, droppedFramesDesc, lateFramesDesc, streamWarningDesc} {
		ch <- d
	}
}

func (c hubCollector) Collect(ch chan<- prometheus.Metric) {
	c.h.mu.Lock()
	streams := make([]*Stream, 0, len(c.h.bySlug))
	for _, s := range c.h.bySlug {
		streams = append(streams, s)
	}
	c.h.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(liveStreamsDesc, prometheus.GaugeValue, float64(len(streams)))
	ch <- prometheus.MustNewConstMetric(hlsWaitingDesc, prometheus.GaugeValue, float64(c.h.hlsWaiting.Load()))
	onAir, standby := c.h.inputCounts()
	ch <- prometheus.MustNewConstMetric(inputsDesc, prometheus.GaugeValue, float64(onAir), "on_air")
	ch <- prometheus.MustNewConstMetric(inputsDesc, prometheus.GaugeValue, float64(standby), "standby")
	draining := 0.0
	if c.h.drain.Draining() {
		draining = 1
	}
	ch <- prometheus.MustNewConstMetric(drainingDesc, prometheus.GaugeValue, draining)
	for _, s := range streams {
		st := s.Status()
		ch <- prometheus.MustNewConstMetric(viewersDesc, prometheus.GaugeValue, float64(st.Viewers), s.Channel.Slug)
		ch <- prometheus.MustNewConstMetric(playersDesc, prometheus.GaugeValue, float64(st.ExternalPlayers), s.Channel.Slug)
		hl, slug := s.Health(), s.Channel.Slug
		ch <- prometheus.MustNewConstMetric(ingestBitrateDesc, prometheus.GaugeValue, float64(hl.BitrateKbps)*1000, slug, hl.Protocol)
		ch <- prometheus.MustNewConstMetric(ingestFPSDesc, prometheus.GaugeValue, hl.FPS, slug)
		ch <- prometheus.MustNewConstMetric(keyframeIntervalDesc, prometheus.GaugeValue, float64(hl.KeyframeIntervalMS)/1000, slug)
		ch <- prometheus.MustNewConstMetric(droppedFramesDesc, prometheus.CounterValue, float64(hl.DroppedFrames), slug)
		ch <- prometheus.MustNewConstMetric(lateFramesDesc, prometheus.CounterValue, float64(hl.LateFrames), slug)
		if s.ladder != nil {
			for _, r := range s.ladder.status() {
				live := 0.0
				if r.Live {
					live = 1
				}
				ch <- prometheus.MustNewConstMetric(ladderLagDesc, prometheus.GaugeValue, r.LagMS/1000, slug, r.Name)
				ch <- prometheus.MustNewConstMetric(ladderLiveDesc, prometheus.GaugeValue, live, slug, r.Name)
			}
		}
		for _, code := range hl.Warnings {
			ch <- prometheus.MustNewConstMetric(streamWarningDesc, prometheus.GaugeValue, 1, slug, code)
		}
	}
}
