package srt

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	gosrt "github.com/datarhei/gosrt"

	"github.com/livehouse/livehouse/internal/media"
)

// watch subscribes to a channel's stream and collects what arrives.
type watched struct {
	tracks []*media.Track
	frames chan media.Frame
}

func (e *env) watch(slug string) *watched {
	e.t.Helper()
	var st *media.Stream
	waitFor(e.t, 10*time.Second, slug+" live", func() bool {
		var ok bool
		st, ok = e.hub.Stream(slug)
		return ok
	})
	sub, err := st.Subscribe(media.SubscribeOptions{Queue: 4096})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(sub.Close)
	w := &watched{tracks: sub.Tracks, frames: make(chan media.Frame, 4096)}
	go func() {
		for f := range sub.Frames() {
			w.frames <- f
		}
		close(w.frames)
	}()
	return w
}

// collect reads frames for d (or until the stream ends) and checks that
// each track's DTS only grows, as a muxer needs, and that PTS follows DTS
// closely.
func (w *watched) collect(t *testing.T, d time.Duration) (video, audio int, firstKey bool) {
	t.Helper()
	last := map[int]time.Duration{}
	timeout := time.After(d)
	for {
		select {
		case f, ok := <-w.frames:
			if !ok {
				return
			}
			if prev, seen := last[f.Track]; seen && f.DTS <= prev {
				t.Fatalf("track %d DTS went from %v to %v", f.Track, prev, f.DTS)
			}
			last[f.Track] = f.DTS
			// A frame is shown at most a few frames after it is decoded,
			// whatever clock the encoder started at.
			if d := f.PTS - f.DTS; d < 0 || d > 500*time.Millisecond {
				t.Fatalf("track %d: PTS %v is %v after DTS %v", f.Track, f.PTS, d, f.DTS)
			}
			if w.tracks[f.Track].Codec.IsVideo() {
				if video == 0 {
					firstKey = f.Key
				}
				video++
			} else {
				audio++
			}
		case <-timeout:
			return
		}
	}
}

func codecs(tracks []*media.Track) string {
	var s []string
	for _, t := range tracks {
		s = append(s, string(t.Codec))
	}
	return strings.Join(s, "+")
}

// TestPublishH264AAC: an SRT publisher's MPEG-TS goes live with its H.264
// and AAC tracks, frames flow in order from a keyframe on, and the stream
// ends when the publisher leaves.
func TestPublishH264AAC(t *testing.T) {
	e := newEnv(t, Options{})
	key := e.channel("h264")
	conn, err := e.dial("publish:"+key, "")
	if err != nil {
		t.Fatal(err)
	}
	src := h264AAC(t)
	done := make(chan error, 1)
	go func() {
		done <- send(context.Background(), conn, src, sendOptions{Start: 90000, For: 3 * time.Second, Speed: 2})
	}()
	w := e.watch("h264")
	if got := codecs(w.tracks); got != "h264+aac" {
		t.Fatalf("tracks %s", got)
	}
	st, _ := e.hub.Stream("h264")
	if st.Ingest.Protocol != "srt" || st.Ingest.FirstArrival.IsZero() || st.Tracks[0].Width == 0 {
		t.Fatalf("ingest %+v, video %+v", st.Ingest, st.Tracks[0])
	}
	video, audio, firstKey := w.collect(t, 1500*time.Millisecond)
	if video < 20 || audio < 20 || !firstKey {
		t.Fatalf("got %d video (first a keyframe: %v) and %d audio frames", video, firstKey, audio)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	conn.Close()
	waitFor(t, 10*time.Second, "stream ends", func() bool { _, ok := e.hub.Stream("h264"); return !ok })
	if r := e.endReason("h264"); r != reasonDisconnected {
		t.Fatalf("end reason %q", r)
	}
}

// TestTimestampsWrap: an encoder clock that passes 2^33 (every 26.5 hours)
// mid-stream does not end the publish or step its timeline back.
func TestTimestampsWrap(t *testing.T) {
	e := newEnv(t, Options{})
	key := e.channel("wrap")
	conn, err := e.dial("#!::m=publish,r="+key, "")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Real-time pace: at 4x a loaded machine (the whole suite under -race)
	// made SRT drop late packets, and a skipped GOP is most of a second.
	go send(context.Background(), conn, h264AAC(t), sendOptions{Start: 1<<33 - 90000/2, For: 3 * time.Second, Speed: 1})
	w := e.watch("wrap")
	video, audio, _ := w.collect(t, 3*time.Second)
	if video < 30 || audio < 30 {
		t.Fatalf("got %d video and %d audio frames across the wrap", video, audio)
	}
	if _, ok := e.hub.Stream("wrap"); !ok {
		t.Fatalf("stream ended at the wrap: %q", e.endReason("wrap"))
	}
}

// TestPublishH265Opus: H.265 with Opus (the repository's MPEG-TS fixture)
// goes live; the Opus track is kept as Opus (LL-HLS gets AAC from the
// media package's transcoder).
func TestPublishH265Opus(t *testing.T) {
	e := newEnv(t, Options{})
	key := e.channel("hevc")
	conn, err := e.dial("publish:"+key, "")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go send(context.Background(), conn, tsFile(t, "../../../testdata/fixture-h265-opus.ts"), sendOptions{Start: 90000, For: 2 * time.Second, Speed: 2})
	w := e.watch("hevc")
	if got := codecs(w.tracks); got != "h265+opus" {
		t.Fatalf("tracks %s", got)
	}
	video, audio, firstKey := w.collect(t, time.Second)
	if video < 10 || audio < 10 || !firstKey {
		t.Fatalf("got %d video (first a keyframe: %v) and %d audio frames", video, firstKey, audio)
	}
}

// TestRefusals: each bad publisher is rejected during the handshake with
// the SRT code that says why, and the log says why too.
func TestRefusals(t *testing.T) {
	e := newEnv(t, Options{})
	key := e.channel("busy")

	_, err := e.dial("publish:sk_wrong_but_wellformed_0123", "")
	rejectedWith(t, err, gosrt.REJX_UNAUTHORIZED)
	e.waitLog("unknown stream key")

	_, err = e.dial("read:"+key, "")
	rejectedWith(t, err, gosrt.REJX_BAD_MODE)
	_, err = e.dial("#!::r="+key, "") // m defaults to request
	rejectedWith(t, err, gosrt.REJX_BAD_MODE)
	e.waitLog("reading over SRT is not offered")

	for _, id := range []string{"", "live/" + key, "publish:short", "#!::m=publish", "#!::r=" + key + ",m=publish,t=file"} {
		_, err = e.dial(id, "")
		rejectedWith(t, err, gosrt.REJX_BAD_REQUEST)
	}

	_, err = e.dial("publish:"+key, "passphrase-nobody-set")
	rejectedWith(t, err, gosrt.REJ_UNSECURE)

	off := e.channel("switched-off")
	if err := e.chs.SetDisabled(context.Background(), "switched-off", true); err != nil {
		t.Fatal(err)
	}
	_, err = e.dial("publish:"+off, "")
	rejectedWith(t, err, gosrt.REJX_FORBIDDEN)
	e.waitLog("channel is disabled by the platform")

	first, err := e.dial("publish:"+key, "")
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	go send(context.Background(), first, h264AAC(t), sendOptions{Start: 90000, For: 3 * time.Second, Speed: 1})
	e.watch("busy")
	// A second encoder on the same key is the hot standby; a third is refused.
	second, err := e.dial("#!::u=obs,r="+key+",m=publish,s=1", "")
	if err != nil {
		t.Fatalf("the second encoder should stand by: %v", err)
	}
	defer second.Close()
	_, err = e.dial("#!::u=obs,r="+key+",m=publish,s=2", "")
	rejectedWith(t, err, gosrt.REJX_CONFLICT)
	e.waitLog("with a standby input already")
	if _, ok := e.hub.Stream("busy"); !ok {
		t.Fatal("the second publisher ended the first one's stream")
	}
}

// TestPassphrase: with a passphrase set, only publishers encrypting with it
// get in, and their stream decrypts.
func TestPassphrase(t *testing.T) {
	const pass = "correct horse battery"
	e := newEnv(t, Options{Passphrase: pass})
	key := e.channel("secret")

	_, err := e.dial("publish:"+key, "")
	rejectedWith(t, err, gosrt.REJ_UNSECURE)
	_, err = e.dial("publish:"+key, "wrong passphrase!")
	rejectedWith(t, err, gosrt.REJ_BADSECRET)
	e.waitLog("wrong SRT passphrase")

	conn, err := e.dial("publish:"+key, pass)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go send(context.Background(), conn, h264AAC(t), sendOptions{Start: 90000, For: 2 * time.Second, Speed: 2})
	if video, audio, _ := e.watch("secret").collect(t, time.Second); video < 10 || audio < 10 {
		t.Fatalf("got %d video and %d audio frames", video, audio)
	}
}

// TestBadStreamsEndOnlyThemselves: garbage, a publisher that never sends a
// keyframe and one that falls silent are each dropped with a reason, while
// another channel's stream carries on.
func TestBadStreamsEndOnlyThemselves(t *testing.T) {
	// Read well above Detect and the publishers' 500 ms receive latency:
	// the keyframe-less publisher must be dropped for having no keyframe,
	// not for its first packets arriving late on a loaded machine.
	e := newEnv(t, Options{Timeouts: Timeouts{Read: 3 * time.Second, Detect: 2 * time.Second}})
	good, garbage, nokey, silent := e.channel("good"), e.channel("garbage"), e.channel("nokey"), e.channel("silent")
	src := h264AAC(t)

	conn, err := e.dial("publish:"+good, "")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go send(context.Background(), conn, src, sendOptions{Start: 90000, Speed: 1, Loops: 3})
	w := e.watch("good")

	// Random bytes: no MPEG-TS program is ever found.
	g, err := e.dial("publish:"+garbage, "")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	go func() {
		b := make([]byte, chunk)
		for i := 0; i < 400; i++ {
			_, _ = rand.Read(b)
			if _, err := g.Write(b); err != nil {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()

	// Video without a single keyframe.
	n, err := e.dial("publish:"+nokey, "")
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	noKeys := &source{tracks: src.tracks}
	for _, f := range src.frames {
		if f.track != 0 || len(f.data) < 3 { // keyframes carry SPS, PPS and the IDR
			noKeys.frames = append(noKeys.frames, f)
		}
	}
	go send(context.Background(), n, noKeys, sendOptions{Start: 90000, Speed: 1})

	// A publisher that goes live, then sends nothing while SRT keeps the
	// connection open.
	s, err := e.dial("publish:"+silent, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := send(context.Background(), s, src, sendOptions{Start: 90000, For: time.Second, Speed: 4}); err != nil {
		t.Fatal(err)
	}

	waitFor(t, 10*time.Second, "bad publishers dropped", func() bool {
		return e.endReason("silent") == reasonSilent && strings.Contains(e.logs.String(), "no H264 keyframe with its parameter sets within 2s") &&
			strings.Contains(e.logs.String(), "no MPEG-TS program")
	})
	if _, ok := e.hub.Stream("good"); !ok {
		t.Fatalf("the good stream ended: %q", e.endReason("good"))
	}
	if video, _, _ := w.collect(t, 500*time.Millisecond); video < 5 {
		t.Fatalf("the good stream stalled: %d video frames", video)
	}
}

// TestKickAndClose: the platform's kick ends a publish; closing the server
// ends the rest and waits for them.
func TestKickAndClose(t *testing.T) {
	e := newEnv(t, Options{})
	src := h264AAC(t)
	for _, slug := range []string{"kicked", "closed"} {
		conn, err := e.dial("publish:"+e.channel(slug), "")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		go send(context.Background(), conn, src, sendOptions{Start: 90000, Speed: 1})
		e.watch(slug)
	}
	if !e.hub.Kick("kicked") {
		t.Fatal("no publisher to kick")
	}
	waitFor(t, 5*time.Second, "kicked stream ends", func() bool { return e.endReason("kicked") == reasonKicked })

	e.hub.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.hub.Stream("closed"); ok {
		t.Fatal("stream still live after Close")
	}
	if r := e.endReason("closed"); r != reasonShutdown {
		t.Fatalf("end reason %q", r)
	}
}

// TestLossyLinkKeepsStreaming: packets lost for good (SRT gave up on them)
// damage frames; video skips to the next keyframe and the publish carries
// on (fed to the muxer, the damaged frames ended it: "unable to extract
// DTS"), and video flows again once the link is clean.
func TestLossyLinkKeepsStreaming(t *testing.T) {
	e := newEnv(t, Options{})
	key := e.channel("lossy")
	// About 1% of the packets for a second and a half, and every
	// retransmission of them; then a clean link.
	var sent int
	doomed := map[uint32]bool{}
	link := newLossyLink(t, e.srv.Addr(), func(seq uint32) bool {
		if sent++; sent > 300 && sent <= 800 && seq%97 == 0 {
			doomed[seq] = true
		}
		return doomed[seq]
	})
	cfg := gosrt.DefaultConfig()
	cfg.StreamId = "publish:" + key
	conn, err := gosrt.Dial("srt", link.pc.LocalAddr().String(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	done := make(chan error, 1)
	go func() {
		done <- send(context.Background(), conn, h264AAC(t), sendOptions{Start: 90000, Speed: 2, Loops: 2})
	}()
	w := e.watch("lossy")
	// Until the whole send is through (about 4 s at 2x), not a fixed
	// window: under load the clean part arrives later.
	video, audio, _ := w.collect(t, 6*time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if link.lost.Load() == 0 {
		t.Fatal("the link lost nothing")
	}
	if _, ok := e.hub.Stream("lossy"); !ok {
		t.Fatalf("stream ended: %q", e.endReason("lossy"))
	}
	if video < 45 || audio < 100 {
		t.Fatalf("got %d video and %d audio frames over a lossy link", video, audio)
	}
	t.Logf("%d packets lost; %d video and %d audio frames went through", link.lost.Load(), video, audio)
}

// TestBackupInputTakesOver: an SRT encoder on the channel's backup key
// stands by while the primary sends; when the primary goes, the backup goes
// on air and the stream carries on (same stream, DTS still growing per
// track, no end), as with RTMP.
func TestBackupInputTakesOver(t *testing.T) {
	e := newEnv(t, Options{})
	key := e.channel("twin")
	backupKey, err := e.chs.RegenerateBackupKey(context.Background(), "twin")
	if err != nil {
		t.Fatal(err)
	}
	e.keys = append(e.keys, backupKey)
	src := h264AAC(t)
	primary, err := e.dial("publish:"+key, "")
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close()
	ctx, stopPrimary := context.WithCancel(context.Background())
	defer stopPrimary()
	go send(ctx, primary, src, sendOptions{Start: 90000, Speed: 1, Loops: 20})
	w := e.watch("twin")
	stream, _ := e.hub.Stream("twin")

	backup, err := e.dial("publish:"+backupKey, "")
	if err != nil {
		t.Fatalf("backup refused: %v", err)
	}
	defer backup.Close()
	// Another encoder, another clock: its timeline starts elsewhere.
	go send(context.Background(), backup, src, sendOptions{Start: 50 * 90000, Speed: 1, Loops: 20})
	waitFor(t, 10*time.Second, "backup ready", func() bool {
		in := stream.Health().Inputs
		return in != nil && in.OnAir == media.InputPrimary && in.Standby == "ready" && in.StandbyInput == media.InputBackup
	})
	if video, _, _ := w.collect(t, time.Second); video < 10 {
		t.Fatalf("primary on air: %d video frames", video)
	}

	stopPrimary()
	primary.Close()
	waitFor(t, 10*time.Second, "backup on air", func() bool {
		in := stream.Health().Inputs
		return in != nil && in.OnAir == media.InputBackup && in.Failovers == 1
	})
	// collect fails the test if any track's DTS goes back.
	if video, audio, _ := w.collect(t, 2*time.Second); video < 20 || audio < 20 {
		t.Fatalf("after the switch: %d video and %d audio frames", video, audio)
	}
	if st, ok := e.hub.Stream("twin"); !ok || st != stream {
		t.Fatalf("the stream ended or restarted at the switch: %q", e.endReason("twin"))
	}
	e.waitLog("standby input ready to take over")
}
