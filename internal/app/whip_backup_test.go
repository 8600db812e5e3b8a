package app

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/media"
	"github.com/livehouse/livehouse/internal/media/flv"
	"github.com/livehouse/livehouse/internal/media/webrtc"
)

// TestWHIPBackupInput: a second WHIP publisher of a live channel is its
// hot standby, a third is refused, and when the first leaves the standby
// goes on air with the playlist carrying on (media sequence never back,
// new parts keep coming).
func TestWHIPBackupInput(t *testing.T) {
	n := startNode(t, "")
	key := n.createChannel("whipbk")
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
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	publish := func(name string) (*webrtc.Client, context.CancelFunc, func()) {
		c, err := webrtc.Publish(ctx, n.http+"/whip/whipbk", key, []*media.Track{video, audio}, webrtc.ClientOptions{})
		if err != nil {
			t.Fatalf("%s WHIP publisher: %v", name, err)
		}
		if err := c.Connected(ctx); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		pubCtx, stop := context.WithCancel(ctx)
		wg := publishWHIP(pubCtx, t, c, rec, opus)
		return c, stop, wg.Wait
	}
	first, stopFirst, firstDone := publish("first")
	defer func() { stopFirst(); firstDone(); first.Close() }()
	waitFor(t, 15*time.Second, "first publisher live", func() bool { return n.channel("whipbk").Live })

	second, stopSecond, secondDone := publish("second")
	defer func() { stopSecond(); secondDone(); second.Close() }()
	waitFor(t, 15*time.Second, "the second publisher to stand by, ready", func() bool {
		in := inputsOf(n, "whipbk")
		return in.OnAir == "primary" && in.Standby == "ready" && in.StandbyInput == "backup"
	})
	if _, err := webrtc.Publish(ctx, n.http+"/whip/whipbk", key, []*media.Track{video, audio}, webrtc.ClientOptions{}); !isStatus(err, http.StatusConflict) {
		t.Fatalf("third publisher: %v, want 409", err)
	}

	playlist := n.http + "/hls/whipbk/video1_stream.m3u8"
	seqBefore, segmentsBefore := segmentsOf(t, playlist)
	// The first publisher leaves (DELETE): the standby takes over.
	stopFirst()
	firstDone()
	if err := first.Close(); err != nil {
		t.Log(err)
	}
	left := time.Now()
	waitFor(t, 5*time.Second, "the standby on air", func() bool {
		in := inputsOf(n, "whipbk")
		return in.OnAir == "backup" && in.Failovers == 1
	})
	t.Logf("first publisher left; the standby was on air %v later", time.Since(left).Round(time.Millisecond))
	if !n.channel("whipbk").Live {
		t.Fatal("the stream ended with its first publisher")
	}
	waitFor(t, 10*time.Second, "two new segments after the switch", func() bool {
		seq, segments := segmentsOf(t, playlist)
		if seq < seqBefore {
			t.Fatalf("media sequence went back from %d to %d", seqBefore, seq)
		}
		return seq+segments >= seqBefore+segmentsBefore+2
	})
	n.waitLog("WHIP publisher is on air now")
}

// segmentsOf reads a media playlist's media sequence and how many complete
// segments it lists (their sum grows by one per segment made).
func segmentsOf(t *testing.T, url string) (seq, segments int) {
	t.Helper()
	code, pl := httpGet(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d", url, code)
	}
	for _, line := range strings.Split(pl, "\n") {
		if v, ok := strings.CutPrefix(line, "#EXT-X-MEDIA-SEQUENCE:"); ok {
			seq, _ = strconv.Atoi(v)
		}
	}
	return seq, strings.Count(pl, "#EXTINF:")
}

// isStatus reports whether err is a WHIP/WHEP refusal with code.
func isStatus(err error, code int) bool {
	se, ok := err.(*webrtc.StatusError)
	return ok && se.Code == code
}
