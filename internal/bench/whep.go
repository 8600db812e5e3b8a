package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"github.com/livehouse/livehouse/internal/media/flv"
	"github.com/livehouse/livehouse/internal/media/rtmp"
	"github.com/livehouse/livehouse/internal/media/webrtc"
)

// WHEPOptions configures `livehouse bench whep`.
type WHEPOptions struct {
	Binary   string        // livehouse executable, run as the server pinned to core 0
	Fixture  string        // FLV published over RTMP, looped in real time
	Viewers  []int         // viewer counts, one run each
	Duration time.Duration // CPU measuring window per run
	Out      io.Writer
	// CPUProfile, when set, is where the server writes a CPU profile of
	// its whole run (go tool pprof BINARY FILE).
	CPUProfile string
}

// RunWHEP publishes the fixture over RTMP to a fresh server, then for each
// viewer count opens that many WHEP viewers (pion clients in this
// process, on addresses spread over 127.0.0.0/8 so the per-address cap
// does not apply) and measures the server's CPU. The publisher-only CPU is
// measured first and subtracted, so the per-viewer figure is what a viewer
// costs.
func RunWHEP(ctx context.Context, o WHEPOptions) error {
	rec, err := flv.ReadFile(o.Fixture)
	if err != nil {
		return err
	}
	var extra []string
	if o.CPUProfile != "" {
		extra = append(extra, "--cpuprofile", o.CPUProfile)
	}
	srv, err := startPinnedServer(ctx, o.Binary, extra...)
	if err != nil {
		return err
	}
	defer srv.stop()
	key, err := srv.createChannel("bench")
	if err != nil {
		return err
	}
	pctx, stop := context.WithCancel(ctx)
	pubErr := make(chan error, 1)
	go func() {
		pubErr <- rtmp.PublishRecording(pctx, srv.rtmp+"/"+key, rec, rtmp.PublishOptions{Realtime: true, Loop: true})
	}()
	defer func() { stop(); <-pubErr }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if n, err := liveCount(srv); err == nil && n == 1 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the bench stream did not go live")
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	pid := srv.cmd.Process.Pid
	measure := func(window time.Duration) (float64, error) {
		c0, err := cpuTicks(pid)
		if err != nil {
			return 0, err
		}
		t0 := time.Now()
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(window):
		}
		c1, err := cpuTicks(pid)
		if err != nil {
			return 0, err
		}
		return float64(c1-c0) / clockTicks / time.Since(t0).Seconds() * 100, nil
	}
	base, err := measure(o.Duration)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "WHEP viewers of one RTMP stream (%s), server pinned to core 0, %v windows\n", o.Fixture, o.Duration)
	fmt.Fprintf(o.Out, "publisher only: server CPU %.1f%% of a core\n", base)
	fmt.Fprintf(o.Out, "%8s %12s %16s %18s %14s %14s\n", "viewers", "CPU %core", "per viewer %", "video pkts/s/view", "first pkt p50", "first pkt p95")
	for _, n := range o.Viewers {
		if err := runWHEPViewers(ctx, srv, n, o, base, measure); err != nil {
			return err
		}
	}
	return nil
}

func runWHEPViewers(ctx context.Context, srv *server, n int, o WHEPOptions, base float64, measure func(time.Duration) (float64, error)) error {
	var packets atomic.Int64
	var mu sync.Mutex
	var firsts []time.Duration
	clients := make([]*webrtc.Client, 0, n)
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for i := 0; i < n; i++ {
		dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: localIP(i)}}
		hc := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
		posted := time.Now()
		var got atomic.Bool
		c, err := webrtc.Play(ctx, srv.http+"/whep/bench", webrtc.ClientOptions{HTTP: hc, OnPacket: func(mime string, _ *rtp.Packet) {
			if mime != "video/H264" {
				return
			}
			packets.Add(1)
			if got.CompareAndSwap(false, true) {
				mu.Lock()
				firsts = append(firsts, time.Since(posted))
				mu.Unlock()
			}
		}})
		if err != nil {
			return fmt.Errorf("viewer %d: %w", i, err)
		}
		clients = append(clients, c)
	}
	// Every viewer has had a keyframe before the window starts (many
	// viewers connecting at once can take a few GOPs on a small machine).
	for wait := time.Now().Add(20 * time.Second); time.Now().Before(wait); {
		mu.Lock()
		all := len(firsts) == n
		mu.Unlock()
		if all {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	p0 := packets.Load()
	t0 := time.Now()
	cpu, err := measure(o.Duration)
	if err != nil {
		return err
	}
	pps := float64(packets.Load()-p0) / time.Since(t0).Seconds() / float64(n)
	mu.Lock()
	sort.Slice(firsts, func(i, j int) bool { return firsts[i] < firsts[j] })
	got := len(firsts)
	var p50, p95 time.Duration
	if got > 0 {
		p50, p95 = pct(firsts, 50), pct(firsts, 95)
	}
	mu.Unlock()
	if got < n {
		return fmt.Errorf("%d of %d viewers received video", got, n)
	}
	fmt.Fprintf(o.Out, "%8d %12.1f %16.3f %18.0f %14s %14s\n", n, cpu, (cpu-base)/float64(n), pps, ms(p50), ms(p95))
	return nil
}
