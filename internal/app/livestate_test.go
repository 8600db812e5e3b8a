package app

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/livehouse/livehouse/internal/media"
	"github.com/livehouse/livehouse/internal/media/flv"
	"github.com/livehouse/livehouse/internal/media/rtmp"
	"github.com/livehouse/livehouse/internal/media/webrtc"
)

// liveResp is a channel's live state as GET /api/channels/{slug} gives it.
type liveResp struct {
	Live        bool      `json:"live"`
	Viewers     int       `json:"viewers"`
	StartedAt   time.Time `json:"started_at"`
	BitrateKbps int       `json:"bitrate_kbps"`
	FPS         float64   `json:"fps"`
	Tracks      []struct {
		Codec string `json:"codec"`
	} `json:"tracks"`
	Node *struct {
		ID  int    `json:"id"`
		URL string `json:"url"`
	} `json:"node"`
	Here bool `json:"here"`
}

// inputsResp is a channel's backup ingest state (stream health "inputs").
type inputsResp struct {
	OnAir        string `json:"on_air"`
	Standby      string `json:"standby"`
	StandbyInput string `json:"standby_input"`
	Failovers    int    `json:"failovers"`
}

// inputsOf reads a channel's inputs (zero when it has one input or is
// offline).
func inputsOf(n *testNode, slug string) inputsResp {
	var h struct {
		Inputs *inputsResp `json:"inputs"`
	}
	n.api("GET", "/api/channels/"+slug+"/health", testAdminToken, nil, &h)
	if h.Inputs == nil {
		return inputsResp{}
	}
	return *h.Inputs
}

func liveOf(t *testing.T, n *testNode, slug string) liveResp {
	t.Helper()
	var out liveResp
	if code := n.api("GET", "/api/channels/"+slug, "", nil, &out); code != http.StatusOK {
		t.Fatalf("GET channel %s: %d", slug, code)
	}
	return out
}

// pollFor polls cond every 5 ms (waitFor's 50 ms would blur the figures
// this test reports) and returns when it first held.
func pollFor(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Now()
}

var nodeIDLog = regexp.MustCompile(`livehouse started.*node=(\d+)`)

// nodeIDOf reads the node id a process logged when it started (the last
// start when it started more than once).
func nodeIDOf(t *testing.T, c *cluster, n *testNode) int {
	t.Helper()
	m := nodeIDLog.FindAllStringSubmatch(c.logs(n), -1)
	if len(m) == 0 {
		t.Fatalf("no node id in the log of %s", c.procs[n].name)
	}
	var id int
	fmt.Sscan(m[len(m)-1][1], &id)
	return id
}

// TestLiveStateAcrossTwoNodes runs two livehouse processes on one
// PostgreSQL and one NATS: a stream ingested on A reads as live on B
// (channel API, directory, stats) within a second, with A as its node; a
// second publish of the key on B is refused; when A is killed, B reads the
// channel offline within seconds and accepts the key; A restarting (with
// its old node id) leaves B's session alone.
func TestLiveStateAcrossTwoNodes(t *testing.T) {
	needTool(t, "ffmpeg")
	c := startCluster(t)
	a, b := c.a, c.b
	idA, idB := nodeIDOf(t, c, a), nodeIDOf(t, c, b)
	if idA == idB || idA < 1 || idB < 1 {
		t.Fatalf("node ids %d and %d", idA, idB)
	}
	key := a.createChannel("relay")

	// Live on A, seen on B.
	ffA := startFFmpeg(t, a.rtmp+"/"+key, "320x180")
	seenOnB := pollFor(t, 20*time.Second, "relay live on B", func() bool { return liveOf(t, b, "relay").Live })
	onA, onB := liveOf(t, a, "relay"), liveOf(t, b, "relay")
	if !onA.Live || !onA.Here || onB.Here || onB.Node == nil || onB.Node.ID != idA || !strings.HasSuffix(onB.Node.URL, ":"+c.procs[a].httpPort) {
		t.Fatalf("A says %+v; B says %+v (node %+v), want node %d", onA, onB, onB.Node, idA)
	}
	lag := seenOnB.Sub(onA.StartedAt)
	t.Logf("stream started on A at %s, seen live on B %v later", onA.StartedAt.Format("15:04:05.000"), lag.Round(time.Millisecond))
	if lag > time.Second {
		t.Errorf("B saw the stream %v after it started on A, want within 1 s", lag)
	}
	if !onB.StartedAt.Equal(onA.StartedAt) || len(onB.Tracks) != 2 {
		t.Errorf("B's state: started %v (A: %v), tracks %+v", onB.StartedAt, onA.StartedAt, onB.Tracks)
	}
	// Numbers that change without an event travel with the heartbeat.
	waitFor(t, 10*time.Second, "B to see the bitrate", func() bool { return liveOf(t, b, "relay").BitrateKbps > 0 })

	var dir struct {
		Channels []struct {
			Slug string `json:"slug"`
			Live bool   `json:"live"`
		} `json:"channels"`
		Categories []struct {
			Name string `json:"name"`
			Live int    `json:"live"`
		} `json:"categories"`
	}
	if code := b.api("GET", "/api/directory", "", nil, &dir); code != 200 || len(dir.Channels) != 1 || !dir.Channels[0].Live {
		t.Fatalf("directory on B: %d %+v", code, dir)
	}
	if len(dir.Categories) != 1 || dir.Categories[0].Live != 1 {
		t.Fatalf("categories on B: %+v", dir.Categories)
	}
	var stats struct {
		Live          bool  `json:"live"`
		UptimeSeconds int64 `json:"uptime_seconds"`
		BitrateKbps   int   `json:"bitrate_kbps"`
	}
	if code := b.api("GET", "/api/channels/relay/stats", testAdminToken, nil, &stats); code != 200 || !stats.Live || stats.BitrateKbps <= 0 {
		t.Fatalf("stats on B: %d %+v", code, stats)
	}
	// A WHEP viewer who asks B is sent to A (307), where the media is, and
	// plays; the session lives on A.
	var whepVideo atomic.Int64
	whepViewer, err := webrtc.Play(context.Background(), b.http+"/whep/relay", webrtc.ClientOptions{OnPacket: func(mime string, _ *rtp.Packet) {
		if strings.EqualFold(mime, "video/h264") {
			whepVideo.Add(1)
		}
	}})
	if err != nil {
		t.Fatalf("WHEP through B: %v", err)
	}
	waitFor(t, 15*time.Second, "video over WHEP from A via B", func() bool { return whepVideo.Load() > 100 })
	if !strings.HasPrefix(whepViewer.Location(), onB.Node.URL+"/whep/relay/") {
		t.Errorf("WHEP session at %q, want on A (%s)", whepViewer.Location(), onB.Node.URL)
	}
	whepViewer.Close()

	// The rename guard on B knows the channel is live.
	if code := b.api("PATCH", "/api/channels/relay", testAdminToken, map[string]any{"slug": "relay2"}, nil); code != http.StatusConflict {
		t.Fatalf("rename on B while live on A: %d, want 409", code)
	}

	// A viewer on B earns watch experience, and danmaku sent on B carry
	// their offset into A's stream.
	if out, err := exec.Command(c.bin, "user", "create", "watcher", "--password", "watcher-password", "--db", c.dbURL).CombinedOutput(); err != nil {
		t.Fatalf("user create: %v %s", err, out)
	}
	viewer := b.browser("127.0.0.1")
	if r := viewer.login("watcher", "watcher-password"); r.code != 200 {
		t.Fatalf("login on B: %d %s", r.code, r.raw)
	}
	if r := viewer.do("POST", "/api/channels/relay/heartbeat", nil); r.code != 200 || r.body["earned"] != true {
		t.Fatalf("heartbeat on B while live on A: %d %s", r.code, r.raw)
	}
	if r := viewer.do("POST", "/api/rooms/relay/danmaku", map[string]string{"text": "hello from B"}); r.code != 201 {
		t.Fatalf("danmaku on B: %d %s", r.code, r.raw)
	} else if off, _ := r.body["offset_ms"].(float64); off <= 0 {
		t.Fatalf("danmaku on B while live on A has offset %v, want > 0: %s", r.body["offset_ms"], r.raw)
	}

	// A WHIP publisher of the key on B (video only: the stream's audio is
	// AAC, WebRTC's is Opus, and a playlist cannot change codec): B relays
	// it to A over RTMP, where it stands by; it leaves, and A's stream
	// goes on.
	rec, err := flv.ReadFile(fixturePath())
	if err != nil {
		t.Fatal(err)
	}
	whipVideo, err := media.NewH264Track(rec.SPS, rec.PPS)
	if err != nil {
		t.Fatal(err)
	}
	whipCtx, stopWHIP := context.WithTimeout(context.Background(), 60*time.Second)
	whip, err := webrtc.Publish(whipCtx, b.http+"/whip/relay", key, []*media.Track{whipVideo}, webrtc.ClientOptions{})
	if err != nil {
		t.Fatalf("WHIP publisher on B: %v", err)
	}
	if err := whip.Connected(whipCtx); err != nil {
		t.Fatal(err)
	}
	whipSent := publishWHIP(whipCtx, t, whip, rec, nil)
	waitFor(t, 20*time.Second, "the WHIP publisher on B to be A's standby", func() bool {
		in := inputsOf(a, "relay")
		return in.OnAir == "primary" && in.Standby == "ready" && in.StandbyInput == "backup"
	})
	stopWHIP()
	whipSent.Wait()
	whip.Close()
	waitFor(t, 10*time.Second, "the WHIP standby to leave A", func() bool { return inputsOf(a, "relay").Standby == "none" })
	if !liveOf(t, a, "relay").Live || inputsOf(a, "relay").Failovers != 0 {
		t.Fatal("the relayed WHIP standby disturbed A's stream")
	}

	// A second encoder of the key, on B: B relays it to A, where it is the
	// hot standby; A's stream goes on.
	ffB := startFFmpeg(t, b.rtmp+"/"+key, "320x180")
	waitFor(t, 20*time.Second, "the encoder on B to be A's standby", func() bool {
		in := inputsOf(a, "relay")
		return in.OnAir == "primary" && in.Standby == "ready" && in.StandbyInput == "backup"
	})
	if !strings.Contains(c.logs(b), "relayed as the standby of the node on air") {
		t.Fatal("B did not log the relay")
	}
	// A third encoder, on B: A takes no second standby, so B refuses it
	// with A's answer, and A's stream goes on.
	ffThird := startFFmpeg(t, b.rtmp+"/"+key, "320x180")
	exited := make(chan error, 1)
	go func() { exited <- ffThird.Wait() }()
	select {
	case err := <-exited:
		if err == nil {
			t.Fatal("the third publisher's ffmpeg exited cleanly; want an error")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the third publisher was not refused")
	}
	waitFor(t, 5*time.Second, "B to log the refusal", func() bool {
		logs := c.logs(b)
		return strings.Contains(logs, "RTMP publish refused") && strings.Contains(logs, fmt.Sprintf("node %d", idA)) &&
			strings.Contains(logs, "did not take this encoder as its standby")
	})
	if !liveOf(t, a, "relay").Live || !liveOf(t, b, "relay").Live || inputsOf(a, "relay").Failovers != 0 {
		t.Fatal("the refused publish disturbed A's stream")
	}

	// A dies without a word: once its claim lapses, B puts the relayed
	// encoder on air itself.
	c.kill(t, a)
	killed := time.Now()
	waitFor(t, 20*time.Second, "relay live on B", func() bool {
		st := liveOf(t, b, "relay")
		return st.Live && st.Here
	})
	t.Logf("A killed; the relayed encoder on air on B %v later", time.Since(killed).Round(time.Millisecond))
	stopGracefully(ffA)
	if st := liveOf(t, b, "relay"); !st.Here || st.Node.ID != idB {
		t.Fatalf("relay on B: %+v node %+v", st, st.Node)
	}
	waitFor(t, 10*time.Second, "B's stream to carry video", func() bool { return liveOf(t, b, "relay").BitrateKbps > 0 })
	_ = ffB

	// A restarts on its data directory: same node id, and B's session stays open.
	a = c.restart(t, a)
	if id := nodeIDOf(t, c, a); id != idA {
		t.Fatalf("A restarted as node %d, want its old id %d", id, idA)
	}
	waitFor(t, 5*time.Second, "A to see relay live on B", func() bool {
		st := liveOf(t, a, "relay")
		return st.Live && st.Node != nil && st.Node.ID == idB
	})
	var sessions struct {
		Sessions []struct {
			EndedAt   *time.Time `json:"ended_at"`
			EndReason string     `json:"end_reason"`
		} `json:"sessions"`
	}
	if code := a.api("GET", "/api/channels/relay/sessions", "", nil, &sessions); code != 200 || len(sessions.Sessions) != 2 {
		t.Fatalf("sessions: %d %+v", code, sessions)
	}
	if s := sessions.Sessions[0]; s.EndedAt != nil {
		t.Fatalf("B's session was ended (%q) when A restarted", s.EndReason)
	}
	if s := sessions.Sessions[1]; s.EndedAt == nil || s.EndReason != "node lost" {
		t.Fatalf("A's session: ended %v reason %q, want node lost", s.EndedAt, s.EndReason)
	}
	if !liveOf(t, b, "relay").Live {
		t.Fatal("relay went offline on B when A restarted")
	}
}

// TestLiveStateLostClaimEndsPublish: when a node finds at renewal that its
// claim was closed (another node judged it dead), it ends that publish, so
// the channel is never ingested twice for long.
func TestLiveStateLostClaimEndsPublish(t *testing.T) {
	n := startNode(t, "")
	key := n.createChannel("fenced")
	rec, err := flv.ReadFile(fixturePath())
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	published := make(chan error, 1)
	go func() {
		published <- rtmp.PublishRecording(ctx, n.rtmp+"/"+key, rec, rtmp.PublishOptions{Realtime: true, Loop: true})
	}()
	waitFor(t, 10*time.Second, "fenced live", func() bool { return n.channel("fenced").Live })
	if _, err := n.app.DB.Exec(`UPDATE live_sessions SET ended_at = $1, end_reason = 'node lost' WHERE ended_at IS NULL`, time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the publish whose claim was lost to end", func() bool { return !n.channel("fenced").Live })
	select {
	case <-published:
	case <-time.After(5 * time.Second):
		t.Fatal("the publisher's connection stayed open")
	}
	if !strings.Contains(n.logs.String(), "live claim lapsed before it was renewed") {
		t.Fatal("the node did not say why it ended the publish")
	}
	// The key works again at once: the claim is free.
	ctx2, stop2 := context.WithCancel(context.Background())
	defer stop2()
	go func() {
		_ = rtmp.PublishRecording(ctx2, n.rtmp+"/"+key, rec, rtmp.PublishOptions{Realtime: true, Loop: true})
	}()
	waitFor(t, 10*time.Second, "fenced live again", func() bool { return n.channel("fenced").Live })
}
