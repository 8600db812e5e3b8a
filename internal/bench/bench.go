// Package bench measures Livehouse the way the issue tracker asks for it:
// (a) the lag from an RTMP frame leaving the publisher to the LL-HLS part
// that holds it being fetchable, and (b) the server's CPU and memory with
// N realtime publishers and no viewers.
//
// The server runs as a separate process (this binary's `serve`), so its
// CPU and RSS are not mixed with the publishers', which run here.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"github.com/livehouse/livehouse/internal/media/flv"
	"github.com/livehouse/livehouse/internal/media/rtmp"
)

// Options configures a run.
type Options struct {
	Binary     string        // the livehouse executable to run as the server
	Fixture    string        // FLV file every publisher sends, looped in real time
	Streams    []int         // publisher counts for the CPU/RSS runs
	Warmup     time.Duration // before measuring each run
	Window     time.Duration // CPU/RSS measurement window
	LagSamples int           // video frames to time in the lag run
	Out        io.Writer
}

const adminToken = "bench-admin-token-0123456789"

// server is a livehouse child process on loopback ports.
type server struct {
	cmd        *exec.Cmd
	http, rtmp string
	dir        string
}

func startServer(ctx context.Context, o Options, extra ...string) (*server, error) {
	dir, err := os.MkdirTemp("", "livehouse-bench-")
	if err != nil {
		return nil, err
	}
	hp, rp := freePort(), freePort()
	s := &server{http: "http://127.0.0.1:" + hp, rtmp: "rtmp://127.0.0.1:" + rp + "/live", dir: dir}
	args := append([]string{"serve", "--http", "127.0.0.1:" + hp, "--rtmp", "127.0.0.1:" + rp, "--srt", "127.0.0.1:0", "--webrtc-udp", "127.0.0.1:0", "--webrtc-tcp", "",
		"--data", filepath.Join(dir, "data"), "--admin-token", adminToken, "--demo-channel=false", "--log-level", "warn"}, extra...)
	s.cmd = exec.CommandContext(ctx, o.Binary, args...)
	s.cmd.Stdout, s.cmd.Stderr = io.Discard, os.Stderr
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := http.Get(s.http + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("server did not become healthy")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *server) stop() {
	stopProcess(s.cmd)
	os.RemoveAll(s.dir)
}

// stopProcess interrupts a started server and waits for it, killing it
// after 10 s.
func stopProcess(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func (s *server) createChannel(slug string) (string, error) {
	body, _ := json.Marshal(map[string]string{"slug": slug, "title": slug})
	req, _ := http.NewRequest("POST", s.http+"/api/channels", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var out struct {
		StreamKey string `json:"stream_key"`
		Error     string `json:"error"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || out.StreamKey == "" {
		return "", fmt.Errorf("create channel %s: %d %s %v", slug, res.StatusCode, out.Error, err)
	}
	return out.StreamKey, nil
}

// Run performs the lag run, then one CPU/RSS run per entry of o.Streams.
func Run(ctx context.Context, o Options) error {
	rec, err := flv.ReadFile(o.Fixture)
	if err != nil {
		return err
	}
	var fixtureBytes int
	for _, f := range rec.Frames {
		for _, d := range f.Data {
			fixtureBytes += len(d)
		}
	}
	mbps := float64(fixtureBytes) * 8 / rec.Duration.Seconds() / 1e6
	fmt.Fprintf(o.Out, "fixture: %s, %.1f s, %.2f Mbit/s of media\n", o.Fixture, rec.Duration.Seconds(), mbps)
	fmt.Fprintf(o.Out, "machine: %d cores (GOMAXPROCS of the server is its default)\n\n", numCPU())

	if err := runLag(ctx, o, rec); err != nil {
		return fmt.Errorf("lag run: %w", err)
	}
	fmt.Fprintf(o.Out, "\nCPU and RSS of the server process, realtime publishers, no viewers (window %v after %v warm-up):\n", o.Window, o.Warmup)
	fmt.Fprintf(o.Out, "%8s %12s %14s %16s %10s\n", "streams", "ingest Mb/s", "CPU % of core", "CPU %/stream", "RSS MiB")
	for _, n := range o.Streams {
		if err := runLoad(ctx, o, rec, n, mbps); err != nil {
			return fmt.Errorf("load run with %d streams: %w", n, err)
		}
	}
	return nil
}

// runLag publishes one stream and follows its video playlist with blocking
// reloads, as an LL-HLS player does. A part is fetchable the moment the
// blocking reload that announces it returns; each video frame's lag is that
// moment minus when the publisher finished writing the frame.
func runLag(ctx context.Context, o Options, rec *flv.Recording) error {
	s, err := startServer(ctx, o)
	if err != nil {
		return err
	}
	defer s.stop()
	key, err := s.createChannel("lag")
	if err != nil {
		return err
	}
	var mu sync.Mutex
	sentAt := map[int64]time.Time{} // publisher PTS in ms -> time written
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	pubErr := make(chan error, 1)
	go func() {
		pubErr <- rtmp.PublishRecording(pctx, s.rtmp+"/"+key, rec, rtmp.PublishOptions{
			Realtime: true, Loop: true,
			OnFrame: func(f flv.Frame, dts time.Duration, at time.Time) {
				if f.Video {
					mu.Lock()
					sentAt[(dts + f.PTS - f.DTS).Milliseconds()] = at
					mu.Unlock()
				}
			},
		})
	}()

	base := s.http + "/hls/lag/"
	var pl *playlist.Media
	for deadline := time.Now().Add(20 * time.Second); ; {
		pl, err = fetchPlaylist(ctx, base+"video1_stream.m3u8")
		if err == nil && len(pl.Parts) > 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("stream never appeared: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Skip the track-analysis burst (ingest holds the first 2 s, then
	// delivers them at once) so only steady-state parts are timed.
	time.Sleep(4 * time.Second)
	pl, err = fetchPlaylist(ctx, base+"video1_stream.m3u8")
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	markSeen(pl, seen)
	var lags []time.Duration
	var partDurations []time.Duration
	for len(lags) < o.LagSamples {
		msn := pl.MediaSequence + len(pl.Segments)
		next := fmt.Sprintf("%svideo1_stream.m3u8?_HLS_msn=%d&_HLS_part=%d", base, msn, len(pl.Parts))
		pl, err = fetchPlaylist(ctx, next)
		if err != nil {
			return err
		}
		available := time.Now()
		for _, p := range allParts(pl) {
			if seen[p.URI] {
				continue
			}
			seen[p.URI] = true
			partDurations = append(partDurations, p.Duration)
			data, err := get(ctx, base+p.URI)
			if err != nil {
				return err
			}
			pts, err := partPTS(data)
			if err != nil {
				return err
			}
			mu.Lock()
			for _, ms := range pts {
				if at, ok := sentAt[ms]; ok {
					lags = append(lags, available.Sub(at))
				}
			}
			mu.Unlock()
		}
	}
	stop()
	if err := <-pubErr; err != nil {
		return err
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	var sum time.Duration
	for _, d := range partDurations {
		sum += d
	}
	fmt.Fprintf(o.Out, "RTMP frame written -> its LL-HLS part fetchable (%d video frames, %d parts, mean part %v):\n",
		len(lags), len(partDurations), (sum / time.Duration(len(partDurations))).Round(time.Millisecond))
	fmt.Fprintf(o.Out, "  min %v  p50 %v  p90 %v  p99 %v  max %v\n",
		ms(lags[0]), ms(pct(lags, 50)), ms(pct(lags, 90)), ms(pct(lags, 99)), ms(lags[len(lags)-1]))
	return nil
}

// runLoad publishes n streams and samples the server's CPU time and RSS.
func runLoad(ctx context.Context, o Options, rec *flv.Recording, n int, mbps float64) error {
	s, err := startServer(ctx, o)
	if err != nil {
		return err
	}
	defer s.stop()
	keys := make([]string, n)
	for i := range keys {
		if keys[i], err = s.createChannel(fmt.Sprintf("load-%d", i)); err != nil {
			return err
		}
	}
	pctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, key := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Stagger starts so keyframes do not all land at once.
			select {
			case <-time.After(time.Duration(i) * rec.Duration / time.Duration(n+1)):
			case <-pctx.Done():
				return
			}
			if err := rtmp.PublishRecording(pctx, s.rtmp+"/"+key, rec, rtmp.PublishOptions{Realtime: true, Loop: true}); err != nil {
				errs <- err
			}
		}()
	}
	defer func() { stop(); wg.Wait() }()

	select {
	case <-time.After(o.Warmup):
	case err := <-errs:
		return err
	}
	pid := s.cmd.Process.Pid
	cpu0, err := cpuTicks(pid)
	if err != nil {
		return err
	}
	t0 := time.Now()
	var maxRSS int64
	for time.Since(t0) < o.Window {
		select {
		case err := <-errs:
			return err
		case <-time.After(500 * time.Millisecond):
		}
		if rss, err := rssKiB(pid); err == nil && rss > maxRSS {
			maxRSS = rss
		}
	}
	cpu1, err := cpuTicks(pid)
	if err != nil {
		return err
	}
	live, err := liveCount(s)
	if err != nil {
		return err
	}
	if live != n {
		return fmt.Errorf("%d of %d streams live at the end of the window", live, n)
	}
	elapsed := time.Since(t0).Seconds()
	cpuPct := float64(cpu1-cpu0) / clockTicks / elapsed * 100
	fmt.Fprintf(o.Out, "%8d %12.1f %14.1f %16.2f %10.1f\n", n, mbps*float64(n), cpuPct, cpuPct/float64(n), float64(maxRSS)/1024)
	return nil
}

func liveCount(s *server) (int, error) {
	data, err := get(context.Background(), s.http+"/api/channels?limit=100")
	if err != nil {
		return 0, err
	}
	var out struct {
		Channels []struct {
			Live bool `json:"live"`
		} `json:"channels"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return 0, err
	}
	n := 0
	for _, c := range out.Channels {
		if c.Live {
			n++
		}
	}
	return n, nil
}

func fetchPlaylist(ctx context.Context, url string) (*playlist.Media, error) {
	data, err := get(ctx, url)
	if err != nil {
		return nil, err
	}
	pl, err := playlist.Unmarshal(data)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", url, err)
	}
	m, ok := pl.(*playlist.Media)
	if !ok {
		return nil, fmt.Errorf("%s is not a media playlist", url)
	}
	return m, nil
}

func get(ctx context.Context, url string) ([]byte, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %d %s", url, res.StatusCode, strings.TrimSpace(string(data)))
	}
	return data, nil
}

func allParts(pl *playlist.Media) []*playlist.MediaPart {
	var out []*playlist.MediaPart
	for _, s := range pl.Segments {
		out = append(out, s.Parts...)
	}
	return append(out, pl.Parts...)
}

func markSeen(pl *playlist.Media, seen map[string]bool) {
	for _, p := range allParts(pl) {
		seen[p.URI] = true
	}
}

// gohlslib writes fMP4 times as the publisher's timestamps in 90 kHz plus a
// fixed 10 s start offset; undoing that recovers each frame's RTMP PTS.
const muxerStartOffset = 10 * 90000

func partPTS(data []byte) ([]int64, error) {
	var parts fmp4.Parts
	if err := parts.Unmarshal(data); err != nil {
		return nil, fmt.Errorf("parse part: %w", err)
	}
	var out []int64
	for _, p := range parts {
		for _, tr := range p.Tracks {
			dts := int64(tr.BaseTime)
			for _, smp := range tr.Samples {
				pts := dts + int64(smp.PTSOffset) - muxerStartOffset
				out = append(out, (pts+45)/90) // to ms, rounded
				dts += int64(smp.Duration)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("part holds no samples")
	}
	return out, nil
}

func pct(sorted []time.Duration, p int) time.Duration {
	return sorted[(len(sorted)-1)*p/100]
}

func ms(d time.Duration) string { return strconv.Itoa(int(d.Milliseconds())) + " ms" }

func freePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}
