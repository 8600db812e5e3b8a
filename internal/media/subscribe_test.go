package media

import (
	"log/slog"
	"testing"
	"time"
)

// TestNewSubscriberAsksForAKeyframe: a publisher that makes keyframes only
// when asked (a browser over WHIP) is asked when a viewer subscribes, since
// the viewer starts at the next keyframe.
func TestNewSubscriberAsksForAKeyframe(t *testing.T) {
	video, err := NewH264Track(testSPS, []byte{0x08})
	if err != nil {
		t.Fatal(err)
	}
	s := &Stream{Tracks: []*Track{video}, log: slog.New(slog.DiscardHandler)}
	if _, err := s.Subscribe(SubscribeOptions{}); err != nil { // nobody to ask: nothing happens
		t.Fatal(err)
	}
	asked := make(chan struct{}, 4)
	s.OnKeyframeWanted(func() { asked <- struct{}{} })
	sub, err := s.Subscribe(SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	select {
	case <-asked:
	case <-time.After(5 * time.Second):
		t.Fatal("the publisher was not asked for a keyframe")
	}
}
