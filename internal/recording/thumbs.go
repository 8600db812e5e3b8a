package recording

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Seek-bar thumbnails: after a recording is finalised, ffmpeg makes one
// sprite sheet (sprite.jpg) of small pictures taken every ThumbInterval,
// ThumbCols to a row, decoding keyframes only (cheap). The replay API
// describes it; the page shows the right tile above the seek bar.
const (
	spriteName       = "sprite.jpg"
	ThumbWidth       = 160
	ThumbHeight      = 90
	ThumbCols        = 10
	maxThumbs        = 100
	minThumbInterval = 2 * time.Second
	thumbTimeout     = 5 * time.Minute
	thumbQueue       = 64
)

// ThumbInterval is the time between two tiles of a replay's sprite.
func ThumbInterval(d time.Duration) time.Duration {
	iv := time.Duration(math.Ceil(float64(d)/maxThumbs/float64(time.Second))) * time.Second
	if iv < minThumbInterval {
		iv = minThumbInterval
	}
	return iv
}

// Thumbnails describes a replay's sprite sheet for the page.
type Thumbnails struct {
	URL        string `json:"url"`
	IntervalMS int64  `json:"interval_ms"`
	Cols       int    `json:"cols"`
	Count      int    `json:"count"`
	Width      int    `json:"width"`
	Height     int    `json:"height"`
}

// thumbnailsOf is the sprite of a replay, nil when there is none (yet).
func (s *Service) thumbnailsOf(r Replay) *Thumbnails {
	if _, err := os.Stat(filepath.Join(s.dir(r), spriteName)); err != nil {
		return nil
	}
	d := time.Duration(r.DurationMS) * time.Millisecond
	iv := ThumbInterval(d)
	n := int(d/iv) + 1
	return &Thumbnails{URL: fmt.Sprintf("/vod/%d/%s", r.ID, spriteName), IntervalMS: iv.Milliseconds(), Cols: ThumbCols, Count: n,
		Width: ThumbWidth, Height: ThumbHeight}
}

// thumbLoop makes the sprites of finalised replays one at a time (ffmpeg
// is the heaviest thing the recorder runs) until the service stops.
func (s *Service) thumbLoop(ctx context.Context) {
	defer s.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-s.thumbs:
			r, err := s.Get(ctx, id)
			if err != nil || r.path == "" {
				continue
			}
			start := time.Now()
			if err := s.makeSprite(ctx, r); errors.Is(err, errNoThumbFrames) {
				s.d.Log.Info("replay has no thumbnails: no frame to draw", "replay", id)
				continue
			} else if err != nil {
				s.d.Log.Warn("replay thumbnails failed", "replay", id, "err", err)
				continue
			}
			s.d.Log.Info("replay thumbnails made", "replay", id, "took", time.Since(start).Round(time.Millisecond))
		}
	}
}

// queueThumbs asks for a replay's sprite; a full queue skips it.
func (s *Service) queueThumbs(id int64) {
	if s.ffmpeg == "" {
		return
	}
	select {
	case s.thumbs <- id:
	default:
		s.d.Log.Warn("replay thumbnails skipped: queue full", "replay", id)
	}
}

// makeSprite runs ffmpeg over the recording's files (init + segments,
// concatenated: one fragmented MP4) into sprite.jpg.
func (s *Service) makeSprite(ctx context.Context, r Replay) error {
	dir := s.dir(r)
	segs, err := Scan(dir, false)
	if err != nil {
		return err
	}
	d, _ := Total(segs)
	if d <= 0 {
		return nil
	}
	iv := ThumbInterval(d)
	n := int(d/iv) + 1
	rows := (n + ThumbCols - 1) / ThumbCols
	ctx, cancel := context.WithTimeout(ctx, thumbTimeout)
	defer cancel()
	tmp := filepath.Join(dir, "sprite.tmp.jpg")
	cmd := exec.CommandContext(ctx, s.ffmpeg, "-hide_banner", "-loglevel", "error", "-skip_frame", "nokey", "-threads", "1",
		"-f", "mp4", "-i", "pipe:0", "-an",
		"-vf", fmt.Sprintf("fps=1/%g,scale=%d:%d:force_original_aspect_ratio=decrease,pad=%d:%d:(ow-iw)/2:(oh-ih)/2,tile=%dx%d",
			iv.Seconds(), ThumbWidth, ThumbHeight, ThumbWidth, ThumbHeight, ThumbCols, rows),
		"-frames:v", "1", "-q:v", "5", "-threads", "1", "-y", tmp)
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out := &limitedBuffer{max: 4096}
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start ffmpeg: %w", err)
	}
	werr := func() error {
		defer in.Close()
		for _, name := range append([]string{initName}, segNames(segs)...) {
			f, err := os.Open(filepath.Join(dir, name))
			if err != nil {
				return err
			}
			_, err = io.Copy(in, f)
			f.Close()
			if err != nil {
				return err
			}
		}
		return nil
	}()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("ffmpeg: %w: %s", err, out.b)
	}
	if werr != nil {
		return fmt.Errorf("feed ffmpeg: %w", werr)
	}
	if _, err := os.Stat(tmp); errors.Is(err, fs.ErrNotExist) {
		return errNoThumbFrames // ffmpeg found no frame to draw (a very short recording)
	}
	return os.Rename(tmp, filepath.Join(dir, spriteName))
}

// errNoThumbFrames: the recording has no frame for a sprite; the replay
// simply has no thumbnails.
var errNoThumbFrames = errors.New("no frames for thumbnails")

func segNames(segs []Segment) []string {
	out := make([]string, len(segs))
	for i, s := range segs {
		out[i] = s.Name
	}
	return out
}

type limitedBuffer struct {
	b   []byte
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - len(l.b); room > 0 {
		if len(p) < room {
			room = len(p)
		}
		l.b = append(l.b, p[:room]...)
	}
	return len(p), nil
}
