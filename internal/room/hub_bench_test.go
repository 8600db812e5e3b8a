package room

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/bus"
)

// BenchmarkRoomFanout is the broadcast path of one room on one node: a
// batch of danmaku collected during a flush interval is framed once and
// queued to every viewer (go test -bench RoomFanout ./internal/room).
func BenchmarkRoomFanout(b *testing.B) {
	for _, tc := range []struct{ viewers, events int }{{100, 20}, {1000, 20}, {5000, 20}, {5000, 200}} {
		b.Run(fmt.Sprintf("viewers=%d/events=%d", tc.viewers, tc.events), func(b *testing.B) {
			bs, err := bus.Open("", quietLog())
			if err != nil {
				b.Fatal(err)
			}
			defer bs.Close()
			h := NewHub(bs.Conn, "n1", HubOptions{FlushEvery: time.Hour, QueueLen: 4}, quietLog())
			clients := make([]*client, tc.viewers)
			var r *liveRoom
			for i := range clients {
				clients[i] = &client{out: make(chan []byte, 4), done: make(chan struct{}), userID: int64(i + 1)}
				if r, err = h.join("bench", 1, clients[i]); err != nil {
					b.Fatal(err)
				}
			}
			events := make([][]byte, tc.events)
			for i := range events {
				events[i], _ = json.Marshal(event{Type: "danmaku", Message: &Message{ID: int64(i + 1), Room: "bench", User: "someone",
					Text: "a danmaku of ordinary length, 二十个字左右的弹幕", Color: "#ffffff", Mode: "scroll", At: time.Now().UnixMilli()}})
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for _, e := range events {
					r.enqueue(e)
				}
				r.flush(time.Now())
				for _, c := range clients {
					<-c.out
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(tc.viewers*tc.events*b.N)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}
