package rtmp

import (
	"context"
	"fmt"
	"net/url"
	"path"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"

	"github.com/livehouse/livehouse/internal/media/flv"
)

// PublishOptions controls PublishRecording.
type PublishOptions struct {
	// Realtime paces frames by their timestamps, as a live encoder would.
	Realtime bool
	// Loop replays the recording until ctx ends, with timestamps carrying on.
	Loop bool
	// OnFrame, if set, is called after each frame is written, with the
	// timestamps it was sent with.
	OnFrame func(f flv.Frame, dts time.Duration, sentAt time.Time)
}

// PublishRecording publishes rec to publishURL (rtmp://HOST:PORT/live/KEY)
// the way OBS does: app "live", stream name KEY. It returns when the
// recording ends (or, with Loop, when ctx ends, returning nil).
func PublishRecording(ctx context.Context, publishURL string, rec *flv.Recording, o PublishOptions) error {
	u, err := url.Parse(publishURL)
	if err != nil {
		return fmt.Errorf("publish URL: %w", err)
	}
	// OBS sends the key as the stream name, not as part of the app.
	app, key := path.Split(u.Path)
	u.Path, u.Fragment = path.Clean(app), key
	c := &gortmplib.Client{URL: u, Publish: true}
	if err := c.Initialize(ctx); err != nil {
		return fmt.Errorf("connect to %s: %w", u.Host, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, c.Close)
	defer stop()

	video := &gortmplib.Track{Codec: &codecs.H264{SPS: rec.SPS, PPS: rec.PPS}}
	tracks := []*gortmplib.Track{video}
	var audio *gortmplib.Track
	if rec.AAC != nil {
		audio = &gortmplib.Track{Codec: &codecs.MPEG4Audio{Config: rec.AAC}}
		tracks = append(tracks, audio)
	}
	w := &gortmplib.Writer{Conn: c, Tracks: tracks}
	if err := w.Initialize(); err != nil {
		return fmt.Errorf("announce tracks: %w", err)
	}

	loopLength := rec.Duration + 40*time.Millisecond
	start := time.Now()
	for loop := 0; ; loop++ {
		offset := time.Duration(loop) * loopLength
		for _, f := range rec.Frames {
			dts, pts := f.DTS+offset, f.PTS+offset
			if o.Realtime {
				if wait := time.Until(start.Add(dts)); wait > 0 {
					select {
					case <-ctx.Done():
						return nil
					case <-time.After(wait):
					}
				}
			}
			if f.Video {
				err = w.WriteH264(video, pts, dts, f.Data)
			} else if audio != nil {
				err = w.WriteMPEG4Audio(audio, pts, f.Data[0])
			}
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("write frame at %v: %w", dts, err)
			}
			if o.OnFrame != nil {
				o.OnFrame(f, dts, time.Now())
			}
		}
		if !o.Loop {
			return nil
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}
