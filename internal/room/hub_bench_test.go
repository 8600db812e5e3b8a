//go:build linux

package room

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/bus"
)

// BenchmarkRoomFanout is the broadcast path of one room on one node: a
// batch of danmaku collected during a flush interval is framed once and
// written to every viewer's socket (loopback TCP, drained by a reader per
// viewer): go test -bench RoomFanout ./internal/room.
func BenchmarkRoomFanout(b *testing.B) {
	for _, tc := range []struct{ viewers, events int }{{100, 20}, {1000, 20}, {1000, 200}} {
		b.Run(fmt.Sprintf("viewers=%d/events=%d", tc.viewers, tc.events), func(b *testing.B) {
			bs, err := bus.Open("", quietLog(), bus.WithStoreDir(b.TempDir()))
			if err != nil {
				b.Fatal(err)
			}
			defer bs.Close()
			h := NewHub(bs.Conn, "n1", HubOptions{FlushEvery: time.Hour, QueueLen: 1 << 20}, quietLog())
			g := socketGateway(b, h)
			ln := listen(b)
			var r *liveRoom
			for i := 0; i < tc.viewers; i++ {
				srv, peer := socketPair(b, ln, nil)
				defer peer.Close()
				go io.Copy(io.Discard, peer)
				c := attach(b, g, srv)
				c.userID = int64(i + 1)
				if r, err = h.join("bench", 1, c); err != nil {
					b.Fatal(err)
				}
				c.joined.Store(r)
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
			}
			b.StopTimer()
			b.ReportMetric(float64(tc.viewers*tc.events*b.N)/b.Elapsed().Seconds(), "deliveries/s")
			_ = net.ErrClosed
		})
	}
}
