package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"
)

// The same chat bench against Centrifugo (v6, JSON protocol), the anchor
// for chat fan-out, so the comparison runs in one command on one machine:
// viewers connect to /connection/websocket, connect anonymously and
// subscribe to channel "bench"; senders publish over its HTTP API
// (POST /api/publish), as a backend relaying its users' messages would.
// Viewers count and time publications exactly as they do Livehouse's
// danmaku: the data is {"text":"t=<send time> …"}.

var centrifugoProtocol = viewerProtocol{
	path: "/connection/websocket",
	// Commands may be sent one after another without waiting: Centrifugo
	// handles a connection's commands in order.
	join:   []string{`{"id":1,"connect":{}}`, `{"id":2,"subscribe":{"channel":"bench"}}`},
	joined: []byte(`"id":2`),
	pong:   true,
}

// centrifugoAPIKey is the HTTP API key of a Centrifugo this bench starts.
const centrifugoAPIKey = "bench-api-key"

// startCentrifugoTarget starts o.Centrifugo pinned to core 0 on a free
// loopback port (or uses the one at o.URL with o.APIKey).
func startCentrifugoTarget(ctx context.Context, o ChatOptions) (*chatTarget, error) {
	t := &chatTarget{name: "centrifugo", base: o.URL, stop: func() {}, proto: centrifugoProtocol, postAck: "200 without an error"}
	key := o.APIKey
	if t.base == "" {
		bin := o.Centrifugo
		if bin == "" {
			bin = "centrifugo"
		}
		path, err := exec.LookPath(bin)
		if err != nil {
			return nil, fmt.Errorf("centrifugo executable: %w (build it with go install github.com/centrifugal/centrifugo/v6@v6.9.1 and pass --centrifugo PATH)", err)
		}
		dir, err := os.MkdirTemp("", "livehouse-bench-centrifugo-")
		if err != nil {
			return nil, err
		}
		port := freePort()
		portNumber, _ := strconv.Atoi(port)
		config, _ := json.Marshal(map[string]any{
			"client":      map[string]any{"insecure": true, "allowed_origins": []string{"*"}},
			"http_api":    map[string]any{"key": centrifugoAPIKey},
			"http_server": map[string]any{"address": "127.0.0.1", "port": portNumber},
			"health":      map[string]any{"enabled": true},
			"log":         map[string]any{"level": "error"},
		})
		configPath := filepath.Join(dir, "config.json")
		if err := os.WriteFile(configPath, config, 0o600); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		args := []string{"--config", configPath}
		name := path
		if ts, err := exec.LookPath("taskset"); err == nil {
			name, args = ts, append([]string{"-c", "0", path}, args...)
		}
		// taskset execs the server, so the PID (CPU, RSS) is Centrifugo's.
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
		if err := cmd.Start(); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("start centrifugo: %w", err)
		}
		t.base, t.pid = "http://127.0.0.1:"+port, cmd.Process.Pid
		t.stop = func() {
			stopProcess(cmd)
			os.RemoveAll(dir)
		}
		if err := waitHealthy(t.base + "/health"); err != nil {
			t.stop()
			return nil, fmt.Errorf("centrifugo: %w", err)
		}
		key = centrifugoAPIKey
	}
	if key == "" {
		return nil, errors.New("--target centrifugo with --url needs --api-key")
	}
	t.newSender = func(ctx context.Context, i int, ip net.IP, acks *latencies, refused *atomic.Int64) (chatPoster, error) {
		dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}
		return &centrifugoSender{base: t.base, key: key, acks: acks, refused: refused,
			hc: &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext, MaxIdleConnsPerHost: 16}, Timeout: 10 * time.Second}}, nil
	}
	return t, nil
}

// waitHealthy polls url until it answers 200, for at most 15 s.
func waitHealthy(url string) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := http.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer 200 within 15 s", url)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// centrifugoSender publishes through Centrifugo's HTTP API.
type centrifugoSender struct {
	base, key string
	hc        *http.Client
	acks      *latencies
	refused   *atomic.Int64
}

func (s *centrifugoSender) sendWS(context.Context, string) error {
	return errors.New("centrifugo senders publish over the HTTP API")
}

// post publishes text to channel bench and times the answer: Centrifugo
// answers 200 with {"error":…} when it refuses a publication.
func (s *centrifugoSender) post(ctx context.Context, text string, timedOut *atomic.Int64) {
	body, _ := json.Marshal(map[string]any{"channel": "bench", "data": map[string]string{"text": text}})
	req, _ := http.NewRequestWithContext(ctx, "POST", s.base+"/api/publish", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", s.key)
	start := time.Now()
	res, err := s.hc.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			timedOut.Add(1)
		}
		return
	}
	answer, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	var out struct {
		Error *struct{ Code int } `json:"error"`
	}
	if res.StatusCode != http.StatusOK || json.Unmarshal(answer, &out) != nil || out.Error != nil {
		s.refused.Add(1)
		return
	}
	s.acks.add(time.Since(start))
}

func (s *centrifugoSender) close() {}

// isCentrifugoPing reports whether a frame holds Centrifugo's ping, an
// empty reply "{}" on a line of its own (replies in one frame are
// newline-separated).
func isCentrifugoPing(frame []byte) bool {
	for len(frame) > 0 {
		line := frame
		if i := bytes.IndexByte(frame, '\n'); i >= 0 {
			line, frame = frame[:i], frame[i+1:]
		} else {
			frame = nil
		}
		if string(bytes.TrimSpace(line)) == "{}" {
			return true
		}
	}
	return false
}
