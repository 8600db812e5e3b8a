package media

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// FrameGrabber keeps a recent frame of every live stream as a JPEG for the
// home page: about once a FrameInterval it runs ffmpeg on the node's own
// LL-HLS output. Without ffmpeg it does nothing and pages show covers.
type FrameGrabber struct {
	hub      *Hub
	dir      string
	baseURL  string // this node's HTTP address, e.g. http://127.0.0.1:8080
	ffmpeg   string
	interval time.Duration
	log      *slog.Logger

	stop chan struct{}
	wg   sync.WaitGroup
}

// frameGrabberAgent is the User-Agent of the grabber's requests (not
// counted as a viewer).
const frameGrabberAgent = FrameGrabberAgent

// FrameGrabberAgent is exported for the edge, which does not count the
// grabber as a viewer either.
const FrameGrabberAgent = "Livehouse-frame-grabber"

// FramePath is where a live channel's recent frame is kept.
func FramePath(dir, slug string) string { return filepath.Join(dir, "frames", slug+".jpg") }

// DefaultFrameInterval is how old a frame may get before it is retaken.
const DefaultFrameInterval = time.Minute

// StartFrameGrabber starts taking frames into dir until Stop. It returns
// nil when ffmpeg is not installed.
func StartFrameGrabber(hub *Hub, dir, baseURL string, interval time.Duration, log *slog.Logger) *FrameGrabber {
	ff, err := exec.LookPath("ffmpeg")
	if err != nil {
		log.Info("ffmpeg not found: the home page shows channel covers instead of recent frames")
		return nil
	}
	g := &FrameGrabber{hub: hub, dir: dir, baseURL: baseURL, ffmpeg: ff, interval: interval, log: log, stop: make(chan struct{})}
	g.wg.Add(1)
	go g.run()
	return g
}

// Stop ends the grabber and waits for a running ffmpeg to finish.
func (g *FrameGrabber) Stop() {
	if g == nil {
		return
	}
	close(g.stop)
	g.wg.Wait()
}

func (g *FrameGrabber) run() {
	defer g.wg.Done()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-g.stop; cancel() }()
	for {
		select {
		case <-g.stop:
			return
		case <-tick.C:
		}
		// One stream at a time: frames are a nicety and must not compete
		// with ingest for the CPU.
		for _, slug := range g.hub.LiveSlugs() {
			if ctx.Err() != nil {
				return
			}
			s, ok := g.hub.Stream(slug)
			if !ok || time.Since(s.StartedAt()) < 3*time.Second {
				continue // let the first segment exist
			}
			path := FramePath(g.dir, slug)
			if fi, err := os.Stat(path); err == nil && fi.ModTime().After(s.StartedAt()) && time.Since(fi.ModTime()) < g.interval {
				continue
			}
			if err := g.grab(ctx, slug, path); err != nil && ctx.Err() == nil {
				g.log.Warn("take a frame of the stream", "channel", slug, "err", err)
			}
		}
	}
}

func (g *FrameGrabber) grab(ctx context.Context, slug, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	tmp := path + ".tmp.jpg"
	cmd := exec.CommandContext(ctx, g.ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
		"-user_agent", frameGrabberAgent, "-i", g.baseURL+"/hls/"+slug+"/index.m3u8",
		"-frames:v", "1", "-vf", "scale=640:-2", "-q:v", "5", tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return errors.Join(err, errors.New(string(out)))
	}
	return os.Rename(tmp, path)
}

// LiveSlugs lists the channels live on this node, sorted.
func (h *Hub) LiveSlugs() []string {
	h.mu.Lock()
	out := make([]string, 0, len(h.bySlug))
	for slug := range h.bySlug {
		out = append(out, slug)
	}
	h.mu.Unlock()
	sort.Strings(out)
	return out
}
