package clustertest

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestStandbyOnAnotherOrigin: a channel's primary encoder publishes to one
// origin over RTMP and its backup encoder to another over SRT. The second
// origin relays the backup (over RTMP) to the first as its hot standby; when the primary encoder is
// killed, the first origin puts the relayed backup on air and the playlist
// viewers read through an edge carries on: its media sequence never goes
// back and parts keep coming.
func TestStandbyOnAnotherOrigin(t *testing.T) {
	c := newCluster(t)
	onAir := c.start("origin-1", "--role", "origin")
	srtAddr := "127.0.0.1:" + freePort(t)
	other := c.start("origin-2", "--role", "origin", "--srt", srtAddr)
	viewerEdge := c.start("edge", "--role", "edge")

	key := createChannel(t, onAir, "twin")
	primary := publish(t, onAir.rtmp+"/"+key)
	waitFor(t, 30*time.Second, "twin on air on origin-1", func() bool { return inputsOf(t, onAir, "twin").live })
	// Origin-2 must know origin-1's RTMP address from its load reports.
	waitFor(t, 10*time.Second, "origin-2 to hear origin-1's report", func() bool {
		var nodes struct {
			Nodes []struct {
				RTMP    string `json:"rtmp"`
				Healthy bool   `json:"healthy"`
			} `json:"nodes"`
		}
		call(t, "GET", other.http+"/api/admin/nodes", nil, &nodes)
		n := 0
		for _, l := range nodes.Nodes {
			if l.Healthy && l.RTMP != "" {
				n++
			}
		}
		return n == 2
	})
	publishAs(t, "srt://"+srtAddr+"?streamid=publish:"+key, "mpegts")
	waitFor(t, 20*time.Second, "the backup on origin-2 to be origin-1's standby", func() bool {
		in := inputsOf(t, onAir, "twin")
		return in.OnAir == "primary" && in.Standby == "ready"
	})

	w := watchMediaPlaylist(t, viewerEdge.http+"/hls/twin/index.m3u8")
	time.Sleep(2 * time.Second)
	before := w.parts()
	_ = primary.Process.Signal(syscall.SIGKILL)
	killed := time.Now()
	waitFor(t, 10*time.Second, "the relayed backup on air on origin-1", func() bool {
		in := inputsOf(t, onAir, "twin")
		return in.OnAir == "backup" && in.Failovers == 1
	})
	switched := time.Since(killed)
	after := w.parts()
	waitFor(t, 10*time.Second, "parts from the backup through the edge", func() bool { return w.parts() >= after+10 })
	w.stop()
	in := inputsOf(t, onAir, "twin")
	t.Logf("primary encoder killed; relayed backup on air %v later (origin-1's gap %d ms); edge playlist parts %d before, %d after",
		switched.Round(time.Millisecond), in.LastMS, before, w.parts())
	if w.backwards != "" {
		t.Fatalf("the edge's media sequence went back: %s", w.backwards)
	}
	if w.restarts > 0 {
		t.Fatalf("the edge's playlist restarted %d times", w.restarts)
	}
	if st := inputsOf(t, other, "twin"); !st.live {
		t.Fatal("origin-2 does not see twin live")
	}
	if strings.Contains(other.log(), "on air here now") {
		t.Fatal("origin-2 took the channel over although origin-1 lives")
	}

	// Origin-1 is restarted (SIGTERM: it drains, then exits and lets the
	// channel go): origin-2 puts the encoder it relays on air itself.
	_ = onAir.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-onAir.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("origin-1 did not exit after SIGTERM")
	}
	exited := time.Now()
	waitFor(t, 15*time.Second, "twin on air on origin-2", func() bool {
		var ch struct {
			Live bool `json:"live"`
			Here bool `json:"here"`
		}
		call(t, "GET", other.http+"/api/channels/twin", nil, &ch)
		return ch.Live && ch.Here
	})
	t.Logf("origin-1 drained and exited; twin on air on origin-2 %v later", time.Since(exited).Round(time.Millisecond))
	waitFor(t, 20*time.Second, "the edge to serve twin from origin-2", func() bool {
		code, body := getAll(viewerEdge.http + "/hls/twin/index.m3u8")
		return code == 200 && strings.Contains(body, ".m3u8")
	})
}

type inputsState struct {
	live      bool
	OnAir     string `json:"on_air"`
	Standby   string `json:"standby"`
	Failovers int    `json:"failovers"`
	LastMS    int64  `json:"last_failover_ms"`
}

// inputsOf reads a channel's backup ingest state from its stream health.
func inputsOf(t *testing.T, n *node, slug string) inputsState {
	var h struct {
		Live   bool         `json:"live"`
		Inputs *inputsState `json:"inputs"`
	}
	call(t, "GET", n.http+"/api/channels/"+slug+"/health", nil, &h)
	var out inputsState
	if h.Inputs != nil {
		out = *h.Inputs
	}
	out.live = h.Live
	return out
}

var (
	mediaSequence = regexp.MustCompile(`#EXT-X-MEDIA-SEQUENCE:(\d+)`)
	partURI       = regexp.MustCompile(`(?m)^#EXT-X-PART:.*URI="([^"]+)"`)
)

// playlistWatch polls a media playlist the way a player reloads it.
type playlistWatch struct {
	mu        sync.Mutex
	lastSeq   int
	seen      map[string]bool // part URIs seen
	backwards string
	restarts  int
	done      chan struct{}
	quit      chan struct{}
}

func watchMediaPlaylist(t *testing.T, multivariant string) *playlistWatch {
	t.Helper()
	var media string
	waitFor(t, 20*time.Second, "the media playlist", func() bool {
		code, body := getAll(multivariant)
		for _, l := range strings.Split(body, "\n") {
			if code == 200 && !strings.HasPrefix(l, "#") && strings.Contains(l, ".m3u8") {
				media = multivariant[:strings.LastIndex(multivariant, "/")+1] + l
				return true
			}
		}
		return false
	})
	w := &playlistWatch{lastSeq: -1, seen: map[string]bool{}, done: make(chan struct{}), quit: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			select {
			case <-w.quit:
				return
			case <-time.After(100 * time.Millisecond):
			}
			code, body := getAll(media)
			m := mediaSequence.FindStringSubmatch(body)
			if code != 200 || m == nil {
				continue
			}
			seq, _ := strconv.Atoi(m[1])
			w.mu.Lock()
			if seq < w.lastSeq && w.backwards == "" {
				w.backwards = fmt.Sprintf("%d after %d", seq, w.lastSeq)
			}
			if seq == 0 && w.lastSeq > 0 {
				w.restarts++
			}
			w.lastSeq = max(w.lastSeq, seq)
			for _, p := range partURI.FindAllStringSubmatch(body, -1) {
				w.seen[p[1]] = true
			}
			w.mu.Unlock()
		}
	}()
	t.Cleanup(w.stop)
	return w
}

// parts is how many distinct parts the playlist has listed so far.
func (w *playlistWatch) parts() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.seen)
}

func (w *playlistWatch) stop() {
	select {
	case <-w.quit:
	default:
		close(w.quit)
	}
	<-w.done
}

func getAll(url string) (int, string) {
	res, err := http.Get(url)
	if err != nil {
		return 0, ""
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}
