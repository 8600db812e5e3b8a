// Package clustertest runs Livehouse as several real processes on
// loopback: one origin, edges, PostgreSQL and a three-node NATS cluster of
// the test's own. It is its own package so that it runs in parallel with
// internal/app's long suite.
package clustertest

import (
	"bufio"
	"bytes"
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

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/livehouse/livehouse/internal/store/storetest"
)

const adminToken = "cluster-admin-token-0123456789"

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

// binary builds cmd/livehouse once for every test of the package.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "livehouse-clustertest")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "livehouse")
		out, err := exec.Command("go", "build", "-o", binPath, "../../../cmd/livehouse").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// startNATSCluster starts three clustered NATS servers with JetStream in
// this process and returns their client URLs.
func startNATSCluster(t *testing.T) []string {
	t.Helper()
	routePorts := []int{freePortN(t), freePortN(t), freePortN(t)}
	var routes []string
	for _, p := range routePorts {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	var servers []*natsserver.Server
	for i := range 3 {
		s, err := natsserver.NewServer(&natsserver.Options{ServerName: fmt.Sprintf("nats-%d", i), Host: "127.0.0.1", Port: -1,
			NoLog: true, NoSigs: true, JetStream: true, StoreDir: t.TempDir(),
			Cluster: natsserver.ClusterOpts{Name: "livehouse-test", Host: "127.0.0.1", Port: routePorts[i]},
			Routes:  natsserver.RoutesFromStr(strings.Join(routes, ","))})
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		t.Cleanup(s.Shutdown)
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatal("NATS did not start")
		}
		servers = append(servers, s)
	}
	waitFor(t, 20*time.Second, "NATS cluster routes and JetStream leader", func() bool {
		leader := false
		for _, s := range servers {
			if s.NumRoutes() < 2 {
				return false
			}
			leader = leader || s.JetStreamIsLeader()
		}
		return leader
	})
	var urls []string
	for _, s := range servers {
		urls = append(urls, s.ClientURL())
	}
	return urls
}

// cluster is the test's PostgreSQL schema, NATS cluster and nodes.
type cluster struct {
	t     *testing.T
	bin   string
	db    string
	nats  []string
	dir   string
	nodes []*node
}

// node is one livehouse process.
type node struct {
	name, http, rtmp string
	id               int
	cmd              *exec.Cmd
	exited           chan struct{}
	logs             *bytes.Buffer
	logMu            sync.Mutex
}

func newCluster(t *testing.T) *cluster {
	return &cluster{t: t, bin: binary(t), db: storetest.NewPostgresSchema(t), nats: startNATSCluster(t), dir: t.TempDir()}
}

// start launches a node with extra flags (--role …) and waits until it is
// healthy. Nodes connect to the NATS servers in turn.
func (c *cluster) start(name string, extra ...string) *node {
	t := c.t
	t.Helper()
	hp, rp := freePort(t), freePort(t)
	n := &node{name: name, http: "http://127.0.0.1:" + hp, rtmp: "rtmp://127.0.0.1:" + rp + "/live", exited: make(chan struct{}), logs: &bytes.Buffer{}}
	nats := append(append([]string{}, c.nats[len(c.nodes)%3:]...), c.nats[:len(c.nodes)%3]...)
	args := append([]string{"--http", "127.0.0.1:" + hp, "--rtmp", "127.0.0.1:" + rp, "--srt", "", "--webrtc-udp", "127.0.0.1:0", "--webrtc-tcp", "",
		"--db", c.db, "--nats", strings.Join(nats, ","), "--admin-token", adminToken, "--demo-channel=false",
		"--data", filepath.Join(c.dir, name), "--public-url", n.http, "--public-host", "127.0.0.1", "--log-level", "warn"}, extra...)
	n.cmd = exec.Command(c.bin, args...)
	stderr, _ := n.cmd.StderrPipe()
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(n.exited)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			n.logMu.Lock()
			n.logs.WriteString(sc.Text() + "\n")
			n.logMu.Unlock()
			t.Log(name + ": " + sc.Text())
		}
		_ = n.cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.exited:
		case <-time.After(10 * time.Second):
			_ = n.cmd.Process.Kill()
			<-n.exited
		}
	})
	waitFor(t, 30*time.Second, name+" healthy", func() bool {
		res, err := http.Get(n.http + "/healthz")
		if err == nil {
			res.Body.Close()
		}
		return err == nil && res.StatusCode == 200
	})
	c.nodes = append(c.nodes, n)
	return n
}

// log is what the node has written to stderr so far.
func (n *node) log() string {
	n.logMu.Lock()
	defer n.logMu.Unlock()
	return n.logs.String()
}

// kill ends a node with SIGKILL: it tells nobody.
func (n *node) kill(t *testing.T) {
	t.Helper()
	_ = n.cmd.Process.Kill()
	<-n.exited
}

// call does an HTTP request as the platform admin and decodes JSON.
func call(t *testing.T, method, url string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, url, res.StatusCode, raw, err)
		}
	}
	return res.StatusCode
}

// createChannel makes a channel and returns its stream key.
func createChannel(t *testing.T, n *node, slug string) string {
	t.Helper()
	var out struct {
		StreamKey string `json:"stream_key"`
	}
	if code := call(t, "POST", n.http+"/api/channels", map[string]any{"slug": slug, "title": "Cluster " + slug}, &out); code != 201 {
		t.Fatalf("create channel: %d", code)
	}
	return out.StreamKey
}

// publish sends a live-encoded test pattern with tone to rtmpURL; the
// test ends it, unless it was killed before.
func publish(t *testing.T, rtmpURL string) *exec.Cmd { return publishAs(t, rtmpURL, "flv") }

// publishAs publishes in a container: flv (RTMP) or mpegts (SRT).
func publishAs(t *testing.T, url, format string) *exec.Cmd {
	t.Helper()
	ff, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg missing")
	}
	cmd := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "64k", "-f", format, url)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return cmd
}

// metric reads one series of a node's /metrics (0 when absent).
func metric(t *testing.T, n *node, series string) float64 {
	t.Helper()
	res, err := http.Get(n.http + "/metrics")
	if err != nil {
		t.Fatalf("metrics of %s: %v", n.name, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` ([0-9.e+-]+)$`)
	m := re.FindSubmatch(raw)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePortN(t *testing.T) int {
	t.Helper()
	for range 100 {
		p := 20000 + mathrand.IntN(10000)
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err == nil {
			l.Close()
			return p
		}
	}
	t.Fatal("no free port in 20000-29999")
	return 0
}

func freePort(t *testing.T) string { return strconv.Itoa(freePortN(t)) }
