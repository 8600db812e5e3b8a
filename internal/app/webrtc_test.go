package app

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"

	"github.com/livehouse/livehouse/internal/media"
	"github.com/livehouse/livehouse/internal/media/flv"
	"github.com/livehouse/livehouse/internal/media/rtmp"
	"github.com/livehouse/livehouse/internal/media/webrtc"
)

// opusPacket is one Opus packet of a recording and its time.
type opusPacket struct {
	pts  time.Duration
	data []byte
}

// opusRecording encodes a 440 Hz tone to Ogg Opus with ffmpeg (one packet
// per page) and reads it back.
func opusRecording(t *testing.T, seconds string) []opusPacket {
	t.Helper()
	ff := needTool(t, "ffmpeg")
	path := filepath.Join(t.TempDir(), "tone.ogg")
	if out, err := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "sine=f=440:d="+seconds,
		"-c:a", "libopus", "-page_duration", "20000", "-f", "ogg", path).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg opus: %v %s", err, out)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ogg, _, err := oggreader.NewWith(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []opusPacket
	var prev uint64
	for {
		data, hdr, err := ogg.ParseNextPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(data) == 0 || hdr.GranulePosition == 0 || string(data[:min(8, len(data))]) == "OpusTags" {
			continue
		}
		out = append(out, opusPacket{pts: time.Duration(prev) * time.Second / 48000, data: data})
		prev = hdr.GranulePosition
	}
	if len(out) < 10 {
		t.Fatalf("only %d Opus packets", len(out))
	}
	return out
}

// publishWHIP sends the FLV fixture's video and an Opus tone over WHIP in
// real time, each looped (timestamps going on), until ctx ends.
func publishWHIP(ctx context.Context, t *testing.T, c *webrtc.Client, rec *flv.Recording, opus []opusPacket) *sync.WaitGroup {
	var wg sync.WaitGroup
	start := time.Now()
	pace := func(at time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Until(start.Add(at))):
			return true
		}
	}
	var video []flv.Frame
	for _, f := range rec.Frames {
		if f.Video {
			video = append(video, f)
		}
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		if len(video) < 2 {
			return
		}
		period := video[len(video)-1].DTS + (video[1].DTS - video[0].DTS)
		for loop := time.Duration(0); ; loop += period {
			for _, f := range video {
				if !pace(loop + f.DTS) {
					return
				}
				if err := c.Write(media.Frame{Track: 0, PTS: loop + f.PTS, DTS: loop + f.DTS, Data: f.Data, Key: f.Keyframe}); err != nil {
					t.Logf("write video: %v", err)
				}
			}
		}
	}()
	go func() {
		defer wg.Done()
		if len(opus) < 2 {
			return
		}
		period := opus[len(opus)-1].pts + (opus[1].pts - opus[0].pts)
		for loop := time.Duration(0); ; loop += period {
			for _, p := range opus {
				if !pace(loop + p.pts) {
					return
				}
				if err := c.Write(media.Frame{Track: 1, PTS: loop + p.pts, DTS: loop + p.pts, Data: [][]byte{p.data}}); err != nil {
					t.Logf("write audio: %v", err)
				}
			}
		}
	}()
	return &wg
}

func TestWHIPPublishGoesLiveAndPlaysOverLLHLS(t *testing.T) {
	probe := needTool(t, "ffprobe")
	n := startNode(t, "")
	key := n.createChannel("whip")
	rec, err := flv.ReadFile(fixturePath())
	if err != nil {
		t.Fatal(err)
	}
	opus := opusRecording(t, "12")
	video, err := media.NewH264Track(rec.SPS, rec.PPS)
	if err != nil {
		t.Fatal(err)
	}
	audio, _ := media.NewOpusTrack(2)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	posted := time.Now()
	c, err := webrtc.Publish(ctx, n.http+"/whip/whip", key, []*media.Track{video, audio}, webrtc.ClientOptions{})
	if err != nil {
		t.Fatalf("WHIP publish: %v", err)
	}
	answered := time.Since(posted)
	if !strings.HasPrefix(c.Location(), n.http+"/whip/whip/") {
		t.Errorf("Location %q", c.Location())
	}
	if err := c.Connected(ctx); err != nil {
		t.Fatal(err)
	}
	pubCtx, stopPub := context.WithCancel(ctx)
	wg := publishWHIP(pubCtx, t, c, rec, opus)
	defer func() { stopPub(); wg.Wait() }()

	waitFor(t, 15*time.Second, "WHIP stream live", func() bool {
		s, ok := n.app.Hub.Stream("whip")
		return ok && s != nil
	})
	live := time.Since(posted)
	var firstPart time.Duration
	waitFor(t, 15*time.Second, "first LL-HLS part", func() bool {
		code, body := httpGet(t, n.http+"/hls/whip/video1_stream.m3u8")
		if code == http.StatusOK && strings.Contains(body, "#EXT-X-PART:") {
			firstPart = time.Since(posted)
			return true
		}
		return false
	})
	t.Logf("WHIP: answer after %v, live after %v, first LL-HLS part after %v (from the POST)", answered.Round(time.Millisecond),
		live.Round(time.Millisecond), firstPart.Round(time.Millisecond))

	pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
	defer pcancel()
	out, err := exec.CommandContext(pctx, probe, "-v", "error", "-show_entries", "stream=codec_name,width,height",
		"-of", "compact", n.http+"/hls/whip/index.m3u8").CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "codec_name=h264|width=1280|height=720") {
		t.Fatalf("ffprobe saw:\n%s", out)
	}
	st := n.channel("whip")
	if !st.Live || len(st.Tracks) != 2 || st.Tracks[0].Codec != "h264" || st.Tracks[1].Codec != "opus" {
		t.Errorf("channel %+v", st)
	}

	// DELETE ends the publish and frees the channel.
	stopPub()
	wg.Wait()
	if err := c.Close(); err != nil {
		t.Log(err)
	}
	waitFor(t, 10*time.Second, "stream ended", func() bool { return !n.channel("whip").Live })
	if !strings.Contains(n.logs.String(), `reason="publisher disconnected"`) {
		t.Errorf("end reason not logged as publisher disconnected")
	}
}

func TestWHEPPlaysAnRTMPStream(t *testing.T) {
	n := startNode(t, "")
	key := n.createChannel("whep")
	rec, err := flv.ReadFile(fixturePath())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pubCtx, stopPub := context.WithCancel(ctx)
	pubDone := make(chan error, 1)
	go func() {
		pubDone <- rtmp.PublishRecording(pubCtx, n.rtmp+"/"+key, rec, rtmp.PublishOptions{Realtime: true, Loop: true})
	}()
	defer func() { stopPub(); <-pubDone }()
	waitFor(t, 15*time.Second, "RTMP stream live", func() bool { _, ok := n.app.Hub.Stream("whep"); return ok })
	stream, _ := n.app.Hub.Stream("whep")
	probeSub, err := stream.Subscribe(media.SubscribeOptions{AudioCodec: media.Opus})
	if err != nil {
		t.Fatal(err)
	}
	wantAudio := false
	for _, tr := range probeSub.Tracks {
		wantAudio = wantAudio || tr.Codec == media.Opus
	}
	probeSub.Close()

	var mu sync.Mutex
	var videoTS []uint32
	var audioPackets atomic.Int64
	var firstVideo atomic.Int64
	posted := time.Now()
	c, err := webrtc.Play(ctx, n.http+"/whep/whep", webrtc.ClientOptions{OnPacket: func(mime string, p *rtp.Packet) {
		switch strings.ToLower(mime) {
		case "video/h264":
			firstVideo.CompareAndSwap(0, int64(time.Since(posted)))
			mu.Lock()
			if len(videoTS) == 0 || videoTS[len(videoTS)-1] != p.Timestamp {
				videoTS = append(videoTS, p.Timestamp)
			}
			mu.Unlock()
		case "audio/opus":
			audioPackets.Add(1)
		}
	}})
	if err != nil {
		t.Fatalf("WHEP: %v", err)
	}
	defer c.Close()
	waitFor(t, 15*time.Second, "60 video frames over WHEP", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(videoTS) >= 60
	})
	t.Logf("WHEP: first video RTP packet %v after the POST (the stream's GOP decides most of it)",
		time.Duration(firstVideo.Load()).Round(time.Millisecond))
	mu.Lock()
	ts := append([]uint32(nil), videoTS...)
	mu.Unlock()
	// Timestamps are PTS (the fixture has B-frames): across the run they
	// advance at 90 kHz, about 2 s for 60 frames at 30 fps.
	if span := int32(ts[len(ts)-1] - ts[0]); span < 90000 || span > 5*90000 {
		t.Errorf("video RTP timestamps span %d ticks over %d frames", span, len(ts))
	}
	if wantAudio && audioPackets.Load() == 0 {
		t.Errorf("the stream has Opus for WebRTC but no audio packet arrived")
	}
	if n.app.WebRTC.Viewers() != 1 {
		t.Errorf("viewers = %d", n.app.WebRTC.Viewers())
	}
	c.Close()
	waitFor(t, 5*time.Second, "viewer session gone", func() bool { return n.app.WebRTC.Viewers() == 0 })
}

func TestWebRTCRefusals(t *testing.T) {
	n := startNode(t, "")
	key := n.createChannel("refuse")
	otherKey := n.createChannel("other")
	rec, err := flv.ReadFile(fixturePath())
	if err != nil {
		t.Fatal(err)
	}
	video, _ := media.NewH264Track(rec.SPS, rec.PPS)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	status := func(err error) int {
		var se *webrtc.StatusError
		if errors.As(err, &se) {
			return se.Code
		}
		t.Fatalf("want an HTTP refusal, got %v", err)
		return 0
	}
	post := func(path, key, ctype, body string) (int, string) {
		req, _ := http.NewRequest("POST", n.http+path, strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}

	if _, err := webrtc.Publish(ctx, n.http+"/whip/refuse", "", []*media.Track{video}, webrtc.ClientOptions{}); status(err) != 401 {
		t.Errorf("no key: %v", err)
	}
	if _, err := webrtc.Publish(ctx, n.http+"/whip/refuse", "wrong-key-0123456789", []*media.Track{video}, webrtc.ClientOptions{}); status(err) != 401 {
		t.Errorf("wrong key: %v", err)
	}
	if _, err := webrtc.Publish(ctx, n.http+"/whip/refuse", otherKey, []*media.Track{video}, webrtc.ClientOptions{}); status(err) != 403 {
		t.Errorf("key of another channel: %v", err)
	}
	if code, body := post("/whip/refuse", key, "application/sdp", "not an offer"); code != 400 || !strings.Contains(body, `"code":"bad_sdp"`) {
		t.Errorf("bad SDP: %d %s", code, body)
	}
	vp8 := "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=sendonly\r\na=rtpmap:96 VP8/90000\r\n"
	if code, body := post("/whip/refuse", key, "application/sdp", vp8); code != 400 || !strings.Contains(body, `"code":"no_usable_codec"`) {
		t.Errorf("VP8 only: %d %s", code, body)
	}
	if code, body := post("/whip/refuse", key, "application/json", "{}"); code != 415 {
		t.Errorf("JSON body: %d %s", code, body)
	}
	// The channel is free after every refusal: a real publisher gets it,
	// and a second one is refused.
	first, err := webrtc.Publish(ctx, n.http+"/whip/refuse", key, []*media.Track{video}, webrtc.ClientOptions{})
	if err != nil {
		t.Fatalf("first publisher: %v", err)
	}
	defer first.Close()
	if _, err := webrtc.Publish(ctx, n.http+"/whip/refuse", key, []*media.Track{video}, webrtc.ClientOptions{}); status(err) != 409 {
		t.Errorf("second publisher: %v", err)
	}
	// WHEP of a channel that is not live here.
	if _, err := webrtc.Play(ctx, n.http+"/whep/other", webrtc.ClientOptions{}); status(err) != 404 {
		t.Errorf("offline WHEP: %v", err)
	}
	// A malformed key is refused without asking the store; a disabled
	// channel says so (the code the rest of the API uses).
	if _, err := webrtc.Publish(ctx, n.http+"/whip/other", "not a key!", []*media.Track{video}, webrtc.ClientOptions{}); status(err) != 401 {
		t.Errorf("malformed key: %v", err)
	}
	if code := n.api("POST", "/api/admin/channels/other", testAdminToken, map[string]any{"disabled": true}, nil); code != 200 {
		t.Fatalf("disable channel: %d", code)
	}
	_, err = webrtc.Publish(ctx, n.http+"/whip/other", otherKey, []*media.Track{video}, webrtc.ClientOptions{})
	var se *webrtc.StatusError
	if !errors.As(err, &se) || se.Code != 403 || !strings.Contains(se.Body, `"code":"channel_disabled"`) {
		t.Errorf("disabled channel: %v", err)
	}
	// CORS preflight.
	req, _ := http.NewRequest("OPTIONS", n.http+"/whip/refuse", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 204 || res.Header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(res.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight: %d %v", res.StatusCode, res.Header)
	}
}
