package app

import (
	"context"
	"crypto/rand"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/gortmplib/pkg/handshake"

	"github.com/livehouse/livehouse/internal/media/flv"
	"github.com/livehouse/livehouse/internal/media/rtmp"
)

// dialPublisher connects like OBS (app "live", stream name KEY) and
// announces tracks.
func dialPublisher(t *testing.T, n *testNode, key string, tracks ...*gortmplib.Track) (*gortmplib.Client, *gortmplib.Writer, error) {
	t.Helper()
	u, _ := url.Parse(n.rtmp)
	u.Fragment = key
	c := &gortmplib.Client{URL: u, Publish: true}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Initialize(ctx); err != nil {
		return nil, nil, err
	}
	t.Cleanup(c.Close)
	w := &gortmplib.Writer{Conn: c, Tracks: tracks}
	if err := w.Initialize(); err != nil {
		return nil, nil, err
	}
	return c, w, nil
}

func (n *testNode) waitLog(substr string) {
	n.t.Helper()
	waitFor(n.t, 10*time.Second, "log line containing "+substr, func() bool { return strings.Contains(n.logs.String(), substr) })
}

func TestIngestRefusesBadPublishers(t *testing.T) {
	n := startNode(t, "")
	key := n.createChannel("guarded")
	rec, err := flv.ReadFile(fixturePath())
	if err != nil {
		t.Fatal(err)
	}

	t.Run("wrong key", func(t *testing.T) {
		err := rtmp.PublishRecording(context.Background(), n.rtmp+"/sk_notarealkey000000000000", rec, rtmp.PublishOptions{})
		if err == nil {
			t.Fatal("publish with a wrong key succeeded")
		}
		n.waitLog("unknown stream key")
		if strings.Contains(n.logs.String(), "sk_notarealkey") {
			t.Error("the refused key was written to the log")
		}
	})

	t.Run("malformed publish path", func(t *testing.T) {
		err := rtmp.PublishRecording(context.Background(), "rtmp://"+n.app.RTMP.Addr().String()+"/other/"+key, rec, rtmp.PublishOptions{})
		if err == nil {
			t.Fatal("publish to /other/KEY succeeded")
		}
		n.waitLog("want /live/STREAM_KEY")
	})

	t.Run("second publisher on a live key stands by, a third is refused", func(t *testing.T) {
		ctx, stop := context.WithCancel(context.Background())
		defer stop()
		first := make(chan error, 1)
		go func() {
			first <- rtmp.PublishRecording(ctx, n.rtmp+"/"+key, rec, rtmp.PublishOptions{Realtime: true, Loop: true})
		}()
		waitFor(t, 10*time.Second, "first publisher live", func() bool { return n.channel("guarded").Live })
		sctx, stopSecond := context.WithCancel(context.Background())
		second := make(chan error, 1)
		go func() {
			second <- rtmp.PublishRecording(sctx, n.rtmp+"/"+key, rec, rtmp.PublishOptions{Realtime: true, Loop: true})
		}()
		n.waitLog("standby input connected")
		err := rtmp.PublishRecording(context.Background(), n.rtmp+"/"+key, rec, rtmp.PublishOptions{})
		if err == nil {
			t.Fatal("third publisher was accepted")
		}
		n.waitLog("channel is already live")
		before := n.channel("guarded")
		time.Sleep(500 * time.Millisecond)
		if after := n.channel("guarded"); !after.Live || after.Uptime < before.Uptime {
			t.Fatalf("first stream disturbed: before %+v after %+v", before, after)
		}
		stopSecond()
		if err := <-second; err != nil {
			t.Fatalf("standby publisher: %v", err)
		}
		n.waitLog("standby input left")
		stop()
		if err := <-first; err != nil {
			t.Fatalf("first publisher: %v", err)
		}
		waitFor(t, 10*time.Second, "offline", func() bool { return !n.channel("guarded").Live })
	})

	t.Run("garbage bytes", func(t *testing.T) {
		conn, err := net.Dial("tcp", n.app.RTMP.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		junk := make([]byte, 4096)
		_, _ = rand.Read(junk)
		junk[0] = 0x42 // not RTMP version 3
		_, _ = conn.Write(junk)
		expectClosed(t, conn)
		n.waitLog("handshake")
	})

	t.Run("oversized message", func(t *testing.T) {
		conn := handshakeOnly(t, n)
		// Chunk type 0 on stream 3 announcing a 16 MiB command: above the
		// 10 MiB limit, so the server must drop us before reading it.
		hdr := []byte{0x03, 0, 0, 0, 0xff, 0xff, 0xff, 20, 0, 0, 0, 0}
		_, _ = conn.Write(append(hdr, make([]byte, 128)...)) // the first 128-byte chunk
		expectClosed(t, conn)
		n.waitLog("exceeds maximum")
	})

	t.Run("truncated chunk", func(t *testing.T) {
		conn := handshakeOnly(t, n)
		hdr := []byte{0x03, 0, 0, 0, 0, 0x01, 0x00, 20, 0, 0, 0, 0} // 256-byte command...
		_, _ = conn.Write(append(hdr, make([]byte, 40)...))         // ...of which 40 bytes arrive
		conn.(*net.TCPConn).CloseWrite()
		expectClosed(t, conn)
	})

	t.Run("absurd timestamp", func(t *testing.T) {
		video := &gortmplib.Track{Codec: &codecs.H264{SPS: rec.SPS, PPS: rec.PPS}}
		audio := &gortmplib.Track{Codec: &codecs.MPEG4Audio{Config: rec.AAC}}
		c, w, err := dialPublisher(t, n, key, video, audio)
		if err != nil {
			t.Fatal(err)
		}
		// 3 s of real media gets the stream past track analysis and live...
		var last time.Duration
		for _, f := range rec.Frames {
			if f.DTS > 3*time.Second {
				break
			}
			if f.Video {
				err = w.WriteH264(video, f.PTS, f.DTS, f.Data)
			} else {
				err = w.WriteMPEG4Audio(audio, f.PTS, f.Data[0])
			}
			if err != nil {
				t.Fatal(err)
			}
			last = f.DTS
		}
		waitFor(t, 10*time.Second, "live", func() bool { return n.channel("guarded").Live })
		// ...then the clock leaps five hours.
		for i := 0; i < 20; i++ {
			jump := last + 5*time.Hour + time.Duration(i)*33*time.Millisecond
			if err := w.WriteH264(video, jump, jump, rec.Frames[1].Data); err != nil {
				break
			}
		}
		n.waitLog("absurd timestamp")
		waitFor(t, 10*time.Second, "offline after the leap", func() bool { return !n.channel("guarded").Live })
		c.Close()
	})

	t.Run("unsupported codec", func(t *testing.T) {
		video := &gortmplib.Track{Codec: &codecs.H264{SPS: rec.SPS, PPS: rec.PPS}}
		pcm := &gortmplib.Track{Codec: &codecs.G711{MULaw: true, ChannelCount: 1}}
		_, w, err := dialPublisher(t, n, key, video, pcm)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 100; i++ {
			ts := time.Duration(i) * 40 * time.Millisecond
			if err := w.WriteG711(pcm, ts, make([]byte, 320)); err != nil {
				break
			}
			if i%10 == 0 {
				_ = w.WriteH264(video, ts, ts, rec.Frames[0].Data)
			}
		}
		n.waitLog("is not supported")
		if n.channel("guarded").Live {
			t.Fatal("a G.711 stream went live")
		}
	})

	// After all of that, the server still takes a good publisher.
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- rtmp.PublishRecording(ctx, n.rtmp+"/"+key, rec, rtmp.PublishOptions{Realtime: true, Loop: true})
	}()
	waitFor(t, 10*time.Second, "good publisher live", func() bool { return n.channel("guarded").Live })
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// handshakeOnly completes the RTMP handshake and nothing else.
func handshakeOnly(t *testing.T, n *testNode) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", n.app.RTMP.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := handshake.DoClient(conn, false, false); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	_ = conn.SetDeadline(time.Time{})
	return conn
}

// expectClosed waits for the server to close conn.
func expectClosed(t *testing.T, conn net.Conn) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	for {
		_, err := conn.Read(buf)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("server kept the connection open")
		}
		return
	}
}
