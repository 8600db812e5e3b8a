package failovertest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the livehouse binary TestMain builds once.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "failovertest")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "livehouse")
	if out, err := exec.Command("go", "build", "-o", binary, "../../../cmd/livehouse").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build livehouse: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s missing", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// syncBuffer collects a child's log for the test to search.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// node is one livehouse process on loopback with its demo channel.
type node struct {
	t          *testing.T
	cmd        *exec.Cmd
	http, rtmp string
	key, admin string
	data       string
	logs       *syncBuffer
	exited     chan error
}

func freePort(t *testing.T) string {
	t.Helper()
	for range 100 {
		p := strconv.Itoa(20000 + mathrand.IntN(10000))
		if l, err := net.Listen("tcp", "127.0.0.1:"+p); err == nil {
			l.Close()
			return p
		}
	}
	t.Fatal("no free port")
	return ""
}

func startNode(t *testing.T, extra ...string) *node {
	t.Helper()
	httpPort, rtmpPort := freePort(t), freePort(t)
	data := filepath.Join(t.TempDir(), "data")
	args := append([]string{"--http", "127.0.0.1:" + httpPort, "--rtmp", "127.0.0.1:" + rtmpPort, "--srt", "127.0.0.1:0",
		"--webrtc-udp", "127.0.0.1:0", "--webrtc-tcp", "", "--data", data}, extra...)
	n := &node{t: t, data: data, http: "http://127.0.0.1:" + httpPort, rtmp: "rtmp://127.0.0.1:" + rtmpPort + "/live/",
		logs: &syncBuffer{}, exited: make(chan error, 1)}
	n.cmd = exec.Command(binary, args...)
	n.cmd.Stderr = n.logs
	stdout, _ := n.cmd.StdoutPipe()
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && (n.key == "" || n.admin == "") {
		f := strings.Fields(sc.Text())
		if len(f) >= 3 && f[0] == "Stream" && f[1] == "key:" {
			n.key = f[2]
		}
		if len(f) >= 3 && f[0] == "Admin" && f[1] == "token:" {
			n.admin = f[2]
		}
	}
	go func() {
		for sc.Scan() {
		}
		n.exited <- n.cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = n.cmd.Process.Kill()
		<-n.exited
		if t.Failed() {
			t.Logf("livehouse log:\n%s", n.logs.String())
		}
	})
	if n.key == "" || n.admin == "" {
		t.Fatalf("first start did not print a stream key and an admin token")
	}
	return n
}

// publisher is an ffmpeg encoder publishing a test pattern with a tone.
func (n *node) publish(t *testing.T, tone int) *exec.Cmd {
	t.Helper()
	return n.publishSize(t, tone, "426x240")
}

func (n *node) publishSize(t *testing.T, tone int, size string) *exec.Cmd {
	t.Helper()
	ff := needTool(t, "ffmpeg")
	cmd := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size="+size+":rate=30",
		"-f", "lavfi", "-i", "sine=frequency="+strconv.Itoa(tone)+":sample_rate=48000",
		"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "30", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "64k", "-f", "flv", n.rtmp+n.key)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

func kill(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
}

func (n *node) getJSON(path string, out any) int {
	req, _ := http.NewRequest("GET", n.http+path, nil)
	req.Header.Set("Authorization", "Bearer "+n.admin)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	_ = json.NewDecoder(res.Body).Decode(out)
	return res.StatusCode
}

type inputs struct {
	OnAir        string `json:"on_air"`
	Standby      string `json:"standby"`
	StandbyInput string `json:"standby_input"`
	Failovers    int    `json:"failovers"`
	LastMS       int64  `json:"last_failover_ms"`
}

// inputs reads the demo channel's backup ingest state from its stream health.
func (n *node) inputs() *inputs {
	var h struct {
		Live   bool    `json:"live"`
		Inputs *inputs `json:"inputs"`
	}
	n.getJSON("/api/channels/demo/health", &h)
	return h.Inputs
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var (
	mediaSeqRE = regexp.MustCompile(`#EXT-X-MEDIA-SEQUENCE:(\d+)`)
	partRE     = regexp.MustCompile(`_part(\d+)\.mp4`)
)

// playlistWatch polls the stream's video media playlist the way a player
// reloads it, recording the media sequence and the newest part.
type playlistWatch struct {
	mu        sync.Mutex
	lastSeq   int
	backwards []string
	lastPart  int
	partSeen  map[int]time.Time // when each part first appeared
	stop      chan struct{}
	done      chan struct{}
}

func (n *node) watchPlaylist(t *testing.T) *playlistWatch {
	t.Helper()
	var url string
	waitFor(t, 20*time.Second, "the media playlist", func() bool {
		res, err := http.Get(n.http + "/hls/demo/index.m3u8?via=page")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "video") && strings.Contains(l, ".m3u8") {
				url = n.http + "/hls/demo/" + l
				return true
			}
		}
		return false
	})
	w := &playlistWatch{lastSeq: -1, partSeen: map[int]time.Time{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		client := &http.Client{Timeout: 5 * time.Second}
		for {
			select {
			case <-w.stop:
				return
			case <-time.After(40 * time.Millisecond):
			}
			res, err := client.Get(url)
			if err != nil {
				continue
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			now := time.Now()
			m := mediaSeqRE.FindSubmatch(b)
			if res.StatusCode != 200 || m == nil {
				continue
			}
			seq, _ := strconv.Atoi(string(m[1]))
			w.mu.Lock()
			if seq < w.lastSeq {
				w.backwards = append(w.backwards, fmt.Sprintf("%d after %d", seq, w.lastSeq))
			}
			w.lastSeq = max(w.lastSeq, seq)
			for _, pm := range partRE.FindAllSubmatch(b, -1) {
				p, _ := strconv.Atoi(string(pm[1]))
				if _, ok := w.partSeen[p]; !ok {
					w.partSeen[p] = now
				}
				w.lastPart = max(w.lastPart, p)
			}
			w.mu.Unlock()
		}
	}()
	t.Cleanup(w.close)
	return w
}

func (w *playlistWatch) close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// newestPart is the highest part number seen so far.
func (w *playlistWatch) newestPart() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastPart
}

// firstPartAfter waits for a part numbered above part and says when it
// first appeared in the playlist.
func (w *playlistWatch) firstPartAfter(t *testing.T, part int, timeout time.Duration) time.Time {
	t.Helper()
	var at time.Time
	waitFor(t, timeout, "a new part in the playlist", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		for p, seen := range w.partSeen {
			if p > part && (at.IsZero() || seen.Before(at)) {
				at = seen
			}
		}
		return !at.IsZero()
	})
	return at
}
