package app

import (
	"bytes"
	"context"
	"encoding/json"

	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/config"
	"github.com/livehouse/livehouse/internal/store/storetest"
)

const testAdminToken = "test-admin-token-0123456789"

// syncBuffer collects log output from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testNode is a whole Livehouse started in-process on loopback ports.
type testNode struct {
	t    *testing.T
	app  *App
	logs *syncBuffer
	http string // base URL
	rtmp string // rtmp://127.0.0.1:PORT/live
}

// startNode starts Livehouse on SQLite (or on PostgreSQL when dbURL is set).
func startNode(t *testing.T, dbURL string, opts ...Option) *testNode {
	t.Helper()
	return startNodeWith(t, func(c *config.Config) { c.DBURL = dbURL }, opts...)
}

// startNodeWith starts a node on loopback ports with its config adjusted by
// set before it is validated.
func startNodeWith(t *testing.T, set func(*config.Config), opts ...Option) *testNode {
	t.Helper()
	cfg := config.Default()
	cfg.HTTPAddr, cfg.RTMPAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.SRTAddr, cfg.WebRTCUDPAddr, cfg.WebRTCTCPAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.AdminToken = testAdminToken
	cfg.DemoChannel = false
	cfg.RTMPReadTimeout = 5 * time.Second
	set(&cfg)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := Start(context.Background(), cfg, log, opts...)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	scheme := "http://"
	if cfg.TLSCert != "" {
		scheme = "https://"
	}
	n := &testNode{t: t, app: a, logs: logs, http: scheme + a.Web.Addr().String(), rtmp: "rtmp://" + a.RTMP.Addr().String() + "/live"}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		// A second Shutdown (a signal during a failed start, say) is harmless.
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("second shutdown: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return n
}

func startPostgresNode(t *testing.T, opts ...Option) *testNode {
	return startNode(t, storetest.NewPostgresSchema(t), opts...)
}

// eachEngine runs fn against a node on SQLite and one on PostgreSQL.
func eachEngine(t *testing.T, fn func(*testing.T, *testNode)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, startNode(t, "")) })
	t.Run("postgres", func(t *testing.T) { fn(t, startPostgresNode(t)) })
}

// api sends a JSON request and decodes the JSON answer into out (if non-nil).
func (n *testNode) api(method, path, token string, body any, out any) int {
	n.t.Helper()
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rd = strings.NewReader(b)
		default:
			data, _ := json.Marshal(b)
			rd = bytes.NewReader(data)
		}
	}
	req, _ := http.NewRequest(method, n.http+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		n.t.Fatalf("%s %s: Content-Type %q, body %q", method, path, ct, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			n.t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
		}
	}
	return res.StatusCode
}

type channelResp struct {
	Slug        string   `json:"slug"`
	Title       string   `json:"title"`
	Category    string   `json:"category"`
	Tags        []string `json:"tags"`
	StreamKey   string   `json:"stream_key"`
	Live        bool     `json:"live"`
	Viewers     int      `json:"viewers"`
	BitrateKbps int      `json:"bitrate_kbps"`
	FPS         float64  `json:"fps"`
	Uptime      int64    `json:"uptime_seconds"`
	Tracks      []struct {
		Codec      string  `json:"codec"`
		Width      int     `json:"width"`
		Height     int     `json:"height"`
		FPS        float64 `json:"fps"`
		SampleRate int     `json:"sample_rate"`
		Channels   int     `json:"channels"`
	} `json:"tracks"`
	Error string `json:"error"`
}

// createChannel makes a channel through the API and returns its stream key.
func (n *testNode) createChannel(slug string) string {
	n.t.Helper()
	var c channelResp
	code := n.api("POST", "/api/channels", testAdminToken,
		map[string]any{"slug": slug, "title": "Test " + slug, "category": "Games", "tags": []string{"test"}}, &c)
	if code != http.StatusCreated || c.StreamKey == "" {
		n.t.Fatalf("create channel %s: %d %+v", slug, code, c)
	}
	return c.StreamKey
}

func (n *testNode) channel(slug string) channelResp {
	n.t.Helper()
	var c channelResp
	if code := n.api("GET", "/api/channels/"+slug, "", nil, &c); code != http.StatusOK {
		n.t.Fatalf("GET channel %s: %d %+v", slug, code, c)
	}
	return c
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// needTool finds an external program; in CI a missing one fails the test.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is required in CI (make test installs it)", name)
		}
		t.Skipf("%s not installed; run make test to install it", name)
	}
	return p
}

func fixturePath() string { return "../../testdata/fixture.flv" }

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}
