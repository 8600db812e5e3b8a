package bench

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestChatBenchAgainstLivehouse runs a small `bench chat` against a real
// Livehouse server: every message reaches every viewer, latency is
// measured and the server's histograms are read.
func TestChatBenchAgainstLivehouse(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the server")
	}
	bin := filepath.Join(t.TempDir(), "livehouse")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/livehouse").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out := runSmallChatBench(t, ChatOptions{Binary: bin, PostHTTP: true})
	for _, want := range []string{"livehouse: viewers 60, senders 4", "latency send -> viewer", "refused 0, timed out (10 s) 0", fanoutMetric, postMetric, "viewers disconnected by the server: 0"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// TestChatBenchAgainstCentrifugo runs the same bench against Centrifugo
// when CENTRIFUGO names its executable (it is not part of the suite:
// building it takes minutes).
func TestChatBenchAgainstCentrifugo(t *testing.T) {
	bin := os.Getenv("CENTRIFUGO")
	if bin == "" {
		t.Skip("set CENTRIFUGO to a centrifugo v6 executable")
	}
	out := runSmallChatBench(t, ChatOptions{Target: "centrifugo", Centrifugo: bin})
	for _, want := range []string{"centrifugo: viewers 60, senders 4", "latency send -> viewer", "refused 0, timed out (10 s) 0", "viewers disconnected by the server: 0"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// runSmallChatBench runs 60 viewers × 4 msg/s for 2 s and checks that
// every message reached every viewer.
func runSmallChatBench(t *testing.T, o ChatOptions) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	o.Conns, o.Rate, o.Duration, o.Sample, o.Out = 60, 4, 2*time.Second, 10, &out
	if err := RunChat(ctx, o); err != nil {
		t.Fatalf("bench: %v\n%s", err, out.Bytes())
	}
	t.Logf("%s", out.Bytes())
	m := regexp.MustCompile(`delivered (\d+) of (\d+)`).FindSubmatch(out.Bytes())
	if m == nil {
		t.Fatalf("no delivery line:\n%s", out.Bytes())
	}
	got, _ := strconv.Atoi(string(m[1]))
	want, _ := strconv.Atoi(string(m[2]))
	if want < 60*4 || got != want {
		t.Fatalf("delivered %d of %d, want all of at least %d", got, want, 60*4)
	}
	return out.Bytes()
}

func TestCentrifugoPingIsAnEmptyReplyOnItsOwnLine(t *testing.T) {
	for frame, want := range map[string]bool{
		`{}`:                                      true,
		"{\"push\":{\"channel\":\"bench\"}}\n{}":  true,
		"{}\n{\"id\":2,\"subscribe\":{}}":         true,
		`{"id":2,"subscribe":{}}`:                 false,
		`{"push":{"pub":{"data":{"text":"{}"}}}}`: false,
		``: false,
	} {
		if got := isCentrifugoPing([]byte(frame)); got != want {
			t.Errorf("isCentrifugoPing(%q) = %v, want %v", frame, got, want)
		}
	}
}
