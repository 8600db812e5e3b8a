package media

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
)

// A Subscription delivers a live stream's frames to one consumer that is
// not the LL-HLS muxer: a WebRTC (WHEP) viewer, a recorder, a relay.
//
// Frames are handed over through a bounded queue and never block the
// publisher: when the consumer falls behind, frames are dropped (counted in
// Dropped) and video resumes at the next keyframe, so the consumer's decoder
// never sees a picture whose references it lost.
type Subscription struct {
	// Tracks are the tracks this subscriber receives; Frame.Track indexes
	// them. Audio is in the codec asked for, transcoded when the source's
	// differs (and dropped when it cannot be).
	Tracks []*Track

	stream *Stream
	queue  chan Frame
	done   chan struct{} // closed when the subscription ends
	once   sync.Once

	// route maps a source track index to the index in Tracks, -1 when the
	// subscriber does not get it.
	route []int
	// audioFrom is the transcoded audio track's index in Tracks, -1 when
	// none (the source's audio is passed through or absent).
	audioFrom int
	// waitKey is set while video is held back until the next keyframe.
	// Touched only by the stream's writer, under Stream.outMu.
	waitKey bool
	dropped atomic.Uint64
}

// SubscribeOptions says what a subscriber can play.
type SubscribeOptions struct {
	// AudioCodec is the audio codec the subscriber plays (Opus for WebRTC);
	// "" takes the source's.
	AudioCodec Codec
	// Queue is how many frames may wait for the consumer (default 256:
	// about two seconds of 60 fps video with its audio).
	Queue int
}

// ErrStreamEnded is returned when subscribing to a stream that has ended.
var ErrStreamEnded = errors.New("stream has ended")

// Subscribe starts delivering the stream's frames, video from the next
// keyframe. Close it when done; it also ends when the stream does.
func (s *Stream) Subscribe(o SubscribeOptions) (*Subscription, error) {
	if o.Queue <= 0 {
		o.Queue = 256
	}
	sub := &Subscription{stream: s, queue: make(chan Frame, o.Queue), done: make(chan struct{}),
		route: make([]int, len(s.Tracks)), audioFrom: -1, waitKey: true}
	for i, t := range s.Tracks {
		sub.route[i] = -1
		if t.Codec.IsVideo() || o.AudioCodec == "" || t.Codec == o.AudioCodec {
			sub.route[i] = len(sub.Tracks)
			sub.Tracks = append(sub.Tracks, t)
			continue
		}
		if tr := s.audioIn(o.AudioCodec); tr != nil {
			sub.audioFrom = len(sub.Tracks)
			sub.Tracks = append(sub.Tracks, tr)
		}
	}

	s.outMu.Lock()
	defer s.outMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return nil, ErrStreamEnded
	}
	// Copy on write: the writer reads the list once per frame, without
	// copying it, and subscribers come and go far less often than frames.
	s.subs = append(append(make([]*Subscription, 0, len(s.subs)+1), s.subs...), sub)
	if f := s.keyframeWanted.Load(); f != nil {
		go (*f)() // the new subscriber waits for a keyframe
	}
	return sub, nil
}

// OnKeyframeWanted sets how to ask the publisher for a keyframe (WHIP: a
// PLI). Every new subscriber starts at a keyframe, and an encoder that
// makes them only when asked (a browser's) would keep a new WHEP viewer
// waiting a minute or more. f is called on its own goroutine and paces
// itself. RTMP and SRT encoders keep their own GOP and leave it unset.
func (s *Stream) OnKeyframeWanted(f func()) { s.keyframeWanted.Store(&f) }

// Frames is the subscriber's queue; it is closed when the subscription ends.
func (sub *Subscription) Frames() <-chan Frame { return sub.queue }

// Done is closed when the subscription ends (Close, or the stream ended).
func (sub *Subscription) Done() <-chan struct{} { return sub.done }

// Dropped is how many frames the subscriber missed because it fell behind.
func (sub *Subscription) Dropped() uint64 { return sub.dropped.Load() }

// Close stops delivery. Safe to call more than once and concurrently with
// the stream's end.
func (sub *Subscription) Close() {
	s := sub.stream
	s.outMu.Lock()
	defer s.outMu.Unlock()
	s.mu.Lock()
	if i := slices.Index(s.subs, sub); i >= 0 {
		s.subs = slices.Delete(slices.Clone(s.subs), i, i+1)
	}
	s.mu.Unlock()
	sub.end()
}

// end closes the queue; called with Stream.outMu held, so no write races it.
func (sub *Subscription) end() {
	sub.once.Do(func() {
		close(sub.done)
		close(sub.queue)
	})
}

// closeSubscriptions ends every subscription; called with outMu held.
func (s *Stream) closeSubscriptions() {
	s.mu.Lock()
	subs := s.subs
	s.subs = nil
	s.mu.Unlock()
	for _, sub := range subs {
		sub.end()
	}
}

// fanOut hands a source frame to every subscriber; called with outMu held.
func (s *Stream) fanOut(f Frame) {
	s.mu.Lock()
	subs := s.subs // never modified in place (copy on write)
	s.mu.Unlock()
	for _, sub := range subs {
		to := sub.route[f.Track]
		if to < 0 {
			continue
		}
		g := f
		g.Track = to
		sub.offer(g, sub.Tracks[to].Codec.IsVideo())
	}
}

// offer queues a frame without blocking.
func (sub *Subscription) offer(f Frame, video bool) {
	if video {
		if sub.waitKey && !f.Key {
			return
		}
		sub.waitKey = false
	}
	select {
	case sub.queue <- f:
	default:
		sub.dropped.Add(1)
		if video {
			sub.waitKey = true
		}
	}
}
