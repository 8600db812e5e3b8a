package app

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/codecs"

	"github.com/livehouse/livehouse/internal/account"
	"github.com/livehouse/livehouse/internal/media/flv"
	"github.com/livehouse/livehouse/internal/media/rtmp"
)

// TestPublishFixtureReadLLHLS is the core loop: publish the committed FLV
// over RTMP, read it back as LL-HLS with a real HLS client, then unpublish.
func TestPublishFixtureReadLLHLS(t *testing.T) {
	n := startNode(t, "")
	key := n.createChannel("loop")
	rec, err := flv.ReadFile(fixturePath())
	if err != nil {
		t.Fatal(err)
	}

	ctx, stopPublishing := context.WithCancel(context.Background())
	published := make(chan error, 1)
	go func() {
		published <- rtmp.PublishRecording(ctx, n.rtmp+"/"+key, rec, rtmp.PublishOptions{Realtime: true, Loop: true})
	}()
	waitFor(t, 10*time.Second, "channel to go live", func() bool { return n.channel("loop").Live })

	// Playlist shape: fMP4 parts, blocking reload, program date-time.
	code, media := httpGet(t, n.http+"/hls/loop/video1_stream.m3u8")
	if code != http.StatusOK {
		t.Fatalf("media playlist: %d %s", code, media)
	}
	for _, want := range []string{"#EXT-X-PART-INF:PART-TARGET=0.2", "CAN-BLOCK-RELOAD=YES", "#EXT-X-PROGRAM-DATE-TIME:", "#EXT-X-MAP:URI=", "#EXT-X-PART:DURATION="} {
		if !strings.Contains(media, want) {
			t.Errorf("media playlist lacks %q:\n%s", want, media)
		}
	}

	reader := readHLS(t, n.http+"/hls/loop/index.m3u8")
	waitFor(t, 15*time.Second, "3 s of video over LL-HLS", func() bool { return reader.has(90, 100) })
	if h264, ok := codecOf[*codecs.H264](reader); !ok || !bytes.Equal(h264.SPS, rec.SPS) || !bytes.Equal(h264.PPS, rec.PPS) {
		t.Errorf("H.264 parameters differ from the fixture's")
	}
	if aac, ok := codecOf[*codecs.MPEG4Audio](reader); !ok || aac.Config.SampleRate != 48000 || aac.Config.ChannelCount != 2 {
		t.Errorf("AAC config = %+v, want 48 kHz stereo", aac)
	}
	reader.checkTimestamps()
	if reader.partCount() == 0 {
		t.Error("the client never fetched an LL-HLS part")
	}

	live := n.channel("loop")
	if len(live.Tracks) != 2 || live.Tracks[0].Codec != "h264" || live.Tracks[0].Width != 1280 || live.Tracks[0].Height != 720 ||
		live.Tracks[1].Codec != "aac" || live.Tracks[1].SampleRate != 48000 {
		t.Errorf("live tracks = %+v", live.Tracks)
	}
	if live.BitrateKbps < 2000 || live.BitrateKbps > 4500 {
		t.Errorf("bitrate = %d kbit/s, want about 3000", live.BitrateKbps)
	}
	if live.FPS < 25 || live.FPS > 35 {
		t.Errorf("fps = %v, want about 30", live.FPS)
	}
	if live.Viewers < 1 {
		t.Errorf("viewers = %d while a client reads", live.Viewers)
	}

	// Unpublish: the stream ends cleanly, the playlist goes away, and the
	// reader sees the end.
	stopPublishing()
	if err := <-published; err != nil {
		t.Fatalf("publish: %v", err)
	}
	waitFor(t, 10*time.Second, "channel to go offline", func() bool { return !n.channel("loop").Live })
	select {
	case err := <-reader.client.Wait():
		if err == nil || errors.Is(err, context.Canceled) {
			t.Fatalf("client ended with %v, want an end-of-stream error", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("HLS client did not notice the end of the stream")
	}
	if code, _ := httpGet(t, n.http+"/hls/loop/index.m3u8"); code != http.StatusNotFound {
		t.Fatalf("playlist after unpublish: %d, want 404", code)
	}

	// Publishing again starts a new live session.
	ctx2, stop2 := context.WithCancel(context.Background())
	go func() {
		published <- rtmp.PublishRecording(ctx2, n.rtmp+"/"+key, rec, rtmp.PublishOptions{Realtime: true, Loop: true})
	}()
	waitFor(t, 10*time.Second, "channel to go live again", func() bool { return n.channel("loop").Live })
	stop2()
	<-published
	waitFor(t, 10*time.Second, "second session to end", func() bool { return !n.channel("loop").Live })
	var sessions struct {
		Sessions []struct {
			ID        int64      `json:"id"`
			EndedAt   *time.Time `json:"ended_at"`
			EndReason string     `json:"end_reason"`
		} `json:"sessions"`
	}
	n.api("GET", "/api/channels/loop/sessions", "", nil, &sessions)
	if len(sessions.Sessions) != 2 || sessions.Sessions[0].ID == sessions.Sessions[1].ID {
		t.Fatalf("sessions = %+v, want two distinct", sessions.Sessions)
	}
	for _, s := range sessions.Sessions {
		if s.EndedAt == nil || s.EndReason == "" {
			t.Errorf("session %d not closed: %+v", s.ID, s)
		}
	}
}

// TestGoLiveOnPostgres runs a live session end to end with the store on
// PostgreSQL, as a scaled-out node does.
func TestGoLiveOnPostgres(t *testing.T) {
	n := startPostgresNode(t)
	key := n.createChannel("on-pg")
	rec, err := flv.ReadFile(fixturePath())
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- rtmp.PublishRecording(ctx, n.rtmp+"/"+key, rec, rtmp.PublishOptions{Realtime: true, Loop: true})
	}()
	waitFor(t, 10*time.Second, "live on PostgreSQL", func() bool { return n.channel("on-pg").Live })
	waitFor(t, 10*time.Second, "playlist", func() bool {
		code, body := httpGet(t, n.http+"/hls/on-pg/video1_stream.m3u8")
		return code == 200 && strings.Contains(body, "#EXT-X-PART:")
	})
	// A logged-in viewer's watch minute earns one point, once.
	if _, err := n.app.Accounts.Users.Create(context.Background(), account.NewUser{Username: "watcher", Password: "watcher-password"}); err != nil {
		t.Fatal(err)
	}
	viewer := n.browser("127.0.0.1")
	viewer.login("watcher", "watcher-password")
	if r := viewer.do("POST", "/api/channels/on-pg/heartbeat", nil); r.code != 200 || r.body["earned"] != true {
		t.Fatalf("first heartbeat: %d %s", r.code, r.raw)
	}
	if r := viewer.do("POST", "/api/channels/on-pg/heartbeat", nil); r.code != 200 || r.body["earned"] != false {
		t.Fatalf("second heartbeat within the minute: %d %s", r.code, r.raw)
	}
	if r := n.browser("127.0.0.1").do("POST", "/api/channels/on-pg/heartbeat", nil); r.code != http.StatusUnauthorized {
		t.Fatalf("anonymous heartbeat: %d", r.code)
	}
	if me := viewer.do("GET", "/api/me", nil); me.body["xp"] != float64(1) {
		t.Fatalf("xp after a watch minute: %s", me.raw)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "offline", func() bool { return !n.channel("on-pg").Live })
	if r := viewer.do("POST", "/api/channels/on-pg/heartbeat", nil); r.code != http.StatusConflict {
		t.Fatalf("heartbeat for an offline channel: %d", r.code)
	}
	var sessions struct {
		Sessions []struct {
			EndReason   string `json:"end_reason"`
			IngestBytes int64  `json:"ingest_bytes"`
		} `json:"sessions"`
	}
	n.api("GET", "/api/channels/on-pg/sessions", "", nil, &sessions)
	if len(sessions.Sessions) != 1 || sessions.Sessions[0].EndReason != "publisher disconnected" || sessions.Sessions[0].IngestBytes <= 0 {
		t.Fatalf("sessions = %+v", sessions.Sessions)
	}
}
