package simulcast

import (
	"context"
	"errors"
	"time"

	"github.com/livehouse/livehouse/internal/media"
)

// feed is what a session sends: the live stream's frames, rebased so the
// destination's timeline starts near zero and never jumps, and the slate
// in their place while the source is away. Frames come out with Track
// indexing tracks (the first subscription's), whatever stream they are
// from.
type feed struct {
	w      *worker
	tracks []*media.Track
	sub    *media.Subscription
	route  []int // the subscription's track i is tracks[route[i]], -1: not sent
	video  int   // index of the video track in tracks, -1: none
	audio  int   // index of the AAC track, -1: none

	offset  time.Duration // output = source + offset
	started bool
	lastDTS time.Duration // last output DTS
	// trackDTS is each output track's last DTS: a track never goes back
	// in time across a switch (muxers refuse it and some servers hang up).
	trackDTS []time.Duration
	// lastFrame is when the source last gave a frame.
	lastFrame time.Time

	// Slate mode: sending the slate since slateStart at output time
	// slateBase; waitKey: a source is back, the switch waits for its
	// next keyframe.
	slating    bool
	slate      *slate
	slateStart time.Time
	slateBase  time.Duration
	slateNext  int // index into slate.frames (modulo), counting loops
	// graceEnd is when the slate gives up on a source that ended.
	graceEnd time.Time

	running chan struct{} // closed when run's goroutine ends; nil: not running
}

var errSlateUnavailable = errors.New("no slate")

func newFeed(w *worker, stream *media.Stream) (*feed, error) {
	sub, err := stream.Subscribe(media.SubscribeOptions{AudioCodec: media.AAC, Queue: 512})
	if err != nil {
		return nil, errStreamEnded
	}
	select { // a new stream handed over while no session ran is this one
	case <-w.restream:
	default:
	}
	f := &feed{w: w, sub: sub, tracks: sub.Tracks, video: -1, audio: -1, lastFrame: time.Now()}
	f.route = make([]int, len(sub.Tracks))
	f.trackDTS = make([]time.Duration, len(sub.Tracks))
	for i := range f.trackDTS {
		f.trackDTS[i] = -1
	}
	for i, t := range sub.Tracks {
		f.route[i] = i
		if t.Codec.IsVideo() && f.video < 0 {
			f.video = i
		} else if t.Codec == media.AAC && f.audio < 0 {
			f.audio = i
		}
	}
	return f, nil
}

// run sends the feed's frames until ctx ends or the feed does (the error).
// Its goroutine is the only one touching f until it ends; close waits for it.
func (f *feed) run(ctx context.Context) (<-chan media.Frame, <-chan error) {
	frames, errs := make(chan media.Frame), make(chan error, 1)
	f.running = make(chan struct{})
	go func() {
		defer close(f.running)
		for {
			fr, err := f.next(ctx)
			if err != nil {
				errs <- err
				return
			}
			select {
			case frames <- fr:
			case <-ctx.Done():
				errs <- ctx.Err()
				return
			}
		}
	}()
	return frames, errs
}

// close ends the subscription; the context given to run must be done.
func (f *feed) close() {
	if f.running != nil {
		<-f.running
	}
	if f.sub != nil {
		f.sub.Close()
	}
}

// resubscribe follows the channel's new stream (its publisher came back):
// tracks are matched by kind; a different video codec cannot continue.
func (f *feed) resubscribe(stream *media.Stream) bool {
	sub, err := stream.Subscribe(media.SubscribeOptions{AudioCodec: media.AAC, Queue: 512})
	if err != nil {
		return false
	}
	route := make([]int, len(sub.Tracks))
	for i, t := range sub.Tracks {
		route[i] = -1
		switch {
		case t.Codec.IsVideo() && f.video >= 0 && f.tracks[f.video].Codec == t.Codec:
			route[i] = f.video
		case t.Codec == media.AAC && f.audio >= 0:
			route[i] = f.audio
		}
	}
	if f.video >= 0 && !slicesContains(route, f.video) {
		sub.Close()
		return false
	}
	if f.sub != nil {
		f.sub.Close()
	}
	f.sub, f.route = sub, route
	f.lastFrame = time.Now()
	return true
}

func slicesContains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// frameStep is a little more than the space between two frames, for
// placing the first frame after a switch.
const frameStep = 40 * time.Millisecond

// next returns the next frame to send, waiting for it.
func (f *feed) next(ctx context.Context) (media.Frame, error) {
	for {
		var frames <-chan media.Frame
		if f.sub != nil {
			frames = f.sub.Frames()
		}
		var wake <-chan time.Time
		var timer *time.Timer
		if f.slating {
			timer = time.NewTimer(time.Until(f.slateDue()))
		} else {
			timer = time.NewTimer(time.Until(f.lastFrame.Add(slateAfter)))
		}
		wake = timer.C
		select {
		case <-ctx.Done():
			timer.Stop()
			return media.Frame{}, ctx.Err()
		case s := <-f.w.restream:
			timer.Stop()
			if !f.resubscribe(s) {
				return media.Frame{}, errStreamEnded
			}
			f.graceEnd = time.Time{}
		case fr, ok := <-frames:
			timer.Stop()
			if !ok {
				// The stream ended: the slate holds the destination
				// while its publisher may come back.
				f.sub = nil
				if !f.startSlate() {
					return media.Frame{}, errStreamEnded
				}
				f.graceEnd = time.Now().Add(f.w.svc.grace)
				continue
			}
			f.lastFrame = time.Now()
			to := f.route[fr.Track]
			if to < 0 {
				continue
			}
			if f.slating {
				// Back from the slate at a video keyframe only.
				if to != f.video || !fr.Key {
					continue
				}
				f.slating = false
				f.w.set(State{State: StateLive})
				f.offset = f.lastDTS + frameStep - fr.DTS
			} else if !f.started {
				f.started = true
				f.offset = -fr.DTS
			}
			fr.Track = to
			fr.DTS += f.offset
			fr.PTS += f.offset
			if fr.DTS < 0 || fr.DTS <= f.trackDTS[to] {
				continue
			}
			f.trackDTS[to] = fr.DTS
			if fr.DTS > f.lastDTS {
				f.lastDTS = fr.DTS
			}
			return fr, nil
		case <-wake:
			if !f.slating {
				// The source is silent: slate.
				if !f.startSlate() {
					f.lastFrame = time.Now() // nothing to send instead; look again later
				}
				continue
			}
			if !f.graceEnd.IsZero() && time.Now().After(f.graceEnd) {
				return media.Frame{}, errStreamEnded
			}
			return f.slateFrame(), nil
		}
	}
}

// startSlate switches to the slate, if there is one for these tracks.
func (f *feed) startSlate() bool {
	if f.slating {
		return true
	}
	if f.slate == nil && f.video >= 0 && f.started {
		var a *media.Track
		if f.audio >= 0 {
			a = f.tracks[f.audio]
		}
		s, err := f.w.svc.slates.get(f.w.svc.ctx, f.tracks[f.video], a)
		if err != nil {
			return false
		}
		f.slate = s
	}
	if f.slate == nil {
		return false
	}
	f.slating = true
	f.slateStart = time.Now()
	f.slateBase = f.lastDTS + frameStep
	f.slateNext = 0
	f.w.set(State{State: StateLive, Slate: true})
	return true
}

// slateDue is when the next slate frame is due (real time).
func (f *feed) slateDue() time.Time {
	n := len(f.slate.frames)
	fr := f.slate.frames[f.slateNext%n]
	at := time.Duration(f.slateNext/n)*f.slate.length + fr.dts
	return f.slateStart.Add(at)
}

func (f *feed) slateFrame() media.Frame {
	n := len(f.slate.frames)
	sf := f.slate.frames[f.slateNext%n]
	loop := time.Duration(f.slateNext/n) * f.slate.length
	f.slateNext++
	track := f.video
	if !sf.video {
		track = f.audio
	}
	fr := media.Frame{Track: track, DTS: f.slateBase + loop + sf.dts, PTS: f.slateBase + loop + sf.pts, Data: sf.data, Key: sf.key}
	if track < 0 || fr.DTS <= f.trackDTS[track] {
		return f.slateFrame() // (the slate is keyed on the tracks: audio only when the stream has it)
	}
	f.trackDTS[track] = fr.DTS
	if fr.DTS > f.lastDTS {
		f.lastDTS = fr.DTS
	}
	return fr
}
