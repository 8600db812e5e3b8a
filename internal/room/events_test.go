package room

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/bus"
)

// A joining viewer's gift replay is the room's history plus what this node
// saw a moment ago (stored in the stream, not yet in the history): each
// event once, oldest first, the newest limit of them.
func TestReplayMergesHistoryAndRecent(t *testing.T) {
	now := time.Now()
	var r recentEvents
	r.add(bus.Event{ID: "old", ChannelID: 1, At: now.Add(-2 * giftReplayWindow).UnixMilli(), Payload: json.RawMessage(`"old"`)}, now)
	for i, id := range []string{"a", "b", "c"} {
		r.add(bus.Event{ID: id, ChannelID: 1, At: now.UnixMilli() + int64(i), Payload: json.RawMessage(`"` + id + `"`)}, now)
	}
	r.add(bus.Event{ID: "other", ChannelID: 2, At: now.UnixMilli(), Payload: json.RawMessage(`"other"`)}, now)
	since := now.Add(-giftReplayWindow).UnixMilli()
	seen := r.since(1, since)
	stored := []roomEvent{{id: "z", at: now.UnixMilli() - 5000, payload: json.RawMessage(`"z"`)}, {id: "a", at: now.UnixMilli(), payload: json.RawMessage(`"a"`)}}
	got, _ := json.Marshal(replayEvents(stored, seen, 10))
	if string(got) != `["z","a","b","c"]` {
		t.Fatalf("replay %s, want z a b c", got)
	}
	if got, _ := json.Marshal(replayEvents(stored, seen, 2)); string(got) != `["b","c"]` {
		t.Fatalf("limited replay %s, want the newest two", got)
	}
	for i := 0; i < recentPerChannel+50; i++ { // a busy channel keeps the newest
		r.add(bus.Event{ID: fmt.Sprint(i), ChannelID: 3, At: now.UnixMilli(), Payload: json.RawMessage(`0`)}, now)
	}
	if n := len(r.since(3, since)); n != recentPerChannel {
		t.Fatalf("kept %d events of a busy channel, want %d", n, recentPerChannel)
	}
}
