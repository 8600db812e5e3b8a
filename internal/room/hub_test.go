package room

import (
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestCleanAndStyle(t *testing.T) {
	cases := map[string]string{
		"  hello   world ":   "hello world",
		"zero\u200bwidth":    "zerowidth",
		"bidi\u202etrick":    "biditrick",
		"line\nbreak":        "line break",
		`<script>x</script>`: `<script>x</script>`,
		"弹幕 ＯＫ":              "弹幕 ＯＫ",
	}
	for in, want := range cases {
		if got, err := Clean(in); err != nil || got != want {
			t.Errorf("Clean(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", " \u200b ", "bell\a", "nul\x00", "bad\xff"} {
		if _, err := Clean(bad); err == nil {
			t.Errorf("Clean(%q) accepted", bad)
		}
	}
	if c, m, err := CheckStyle("", ""); err != nil || c != "#ffffff" || m != ModeScroll {
		t.Fatalf("defaults: %q %q %v", c, m, err)
	}
	for _, bad := range [][2]string{{"red", ""}, {"#12345", ""}, {"#12345g", ""}, {"", "fly"}} {
		if _, _, err := CheckStyle(bad[0], bad[1]); err == nil {
			t.Errorf("CheckStyle(%q, %q) accepted", bad[0], bad[1])
		}
	}
}

func TestIDsGrowAndAreUnique(t *testing.T) {
	s := newIDSource(7)
	now := time.Now()
	seen := map[int64]bool{}
	var last int64
	for i := 0; i < 10000; i++ { // many in the same millisecond
		id := s.next(now)
		if id <= last || seen[id] {
			t.Fatalf("id %d after %d", id, last)
		}
		seen[id], last = true, id
	}
}

func FuzzDecodeFrame(f *testing.F) {
	f.Add([]byte(`{"type":"join","room":"demo","after":"123"}`))
	f.Add([]byte(`{"type":"send","text":"hi","nonce":"1"}`))
	f.Add([]byte(`{"type":"send","text":1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := DecodeFrame(data)
		if err != nil {
			return
		}
		switch fr.Type {
		case "join", "send", "delete", "ping":
		default:
			t.Fatalf("accepted frame type %q", fr.Type)
		}
	})
}

func FuzzClean(f *testing.F) {
	f.Add("hello")
	f.Add("\u202e\u200b")
	f.Fuzz(func(t *testing.T, s string) {
		out, err := Clean(s)
		if err != nil {
			return
		}
		again, err := Clean(out)
		if err != nil || again != out {
			t.Fatalf("Clean is not stable: %q -> %q -> %q (%v)", s, out, again, err)
		}
	})
}

// TestWritePassYieldsToOtherGoroutines: on one core, a goroutine that
// became runnable when a long write pass began (a post being read, the
// database's reply) runs during the pass, not after it.
func TestWritePassYieldsToOtherGoroutines(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	viewers := make([]*client, 4*writeChunk)
	for i := range viewers {
		viewers[i] = &client{replaying: true} // deliver only appends to held
	}
	last := viewers[len(viewers)-1]
	ranDuringPass := make(chan bool, 1)
	go func() {
		last.mu.Lock()
		defer last.mu.Unlock()
		ranDuringPass <- len(last.held) == 0
	}()
	deliverAll(viewers, []byte("frame"))
	if !<-ranDuringPass {
		t.Fatal("a runnable goroutine waited for the whole write pass")
	}
	for i, c := range viewers {
		if len(c.held) != 1 {
			t.Fatalf("viewer %d got %d frames, want 1", i, len(c.held))
		}
	}
}
