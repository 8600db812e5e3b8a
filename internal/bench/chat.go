package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// ChatOptions configures `livehouse bench chat`.
type ChatOptions struct {
	Binary   string        // livehouse executable (the server, when URL is empty)
	URL      string        // a running server; empty starts one pinned to core 0
	Password string        // with URL: senders are accounts bench-sender-N with this password
	Conns    int           // WebSocket viewers in the room
	Rate     int           // messages per second (one sender account per message per second)
	Duration time.Duration // measuring time
	Out      io.Writer
}

const senderPassword = "bench-sender-password"

// RunChat opens Conns viewers in one room, posts Rate messages a second
// over WebSocket for Duration, and reports deliveries, latency and losses.
func RunChat(ctx context.Context, o ChatOptions) error {
	base := o.URL
	var srv *server
	if base == "" {
		var err error
		if srv, err = startPinnedServer(ctx, o.Binary); err != nil {
			return err
		}
		defer srv.stop()
		base = srv.http
		if _, err := srv.createChannel("bench"); err != nil {
			return err
		}
		for i := 0; i < o.Rate; i++ {
			cmd := exec.Command(o.Binary, "user", "create", fmt.Sprintf("bench-sender-%d", i), "--password", senderPassword,
				"--data", filepath.Join(srv.dir, "data"))
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("create sender %d: %v %s", i, err, out)
			}
		}
		o.Password = senderPassword
	}
	wsURL := "ws" + strings.TrimPrefix(base, "http") + "/ws"

	var rssBefore int64
	if srv != nil {
		time.Sleep(500 * time.Millisecond)
		rssBefore, _ = rssKiB(srv.cmd.Process.Pid)
	}

	// Viewers.
	var delivered, closedByServer atomic.Int64
	lat := &latencies{}
	vctx, stopViewers := context.WithCancel(ctx)
	defer stopViewers()
	var wg sync.WaitGroup
	ready := make(chan error, o.Conns)
	for i := 0; i < o.Conns; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			viewer(vctx, wsURL, localIP(i), ready, &delivered, &closedByServer, lat)
		}(i)
		if i%500 == 499 {
			time.Sleep(50 * time.Millisecond) // do not SYN-flood the listener
		}
	}
	for i := 0; i < o.Conns; i++ {
		if err := <-ready; err != nil {
			return fmt.Errorf("viewer: %w", err)
		}
	}
	var rssConnected int64
	if srv != nil {
		time.Sleep(time.Second)
		rssConnected, _ = rssKiB(srv.cmd.Process.Pid)
	}

	// Senders: one account each, one message a second each (the per-account
	// limits a person has apply to them too).
	senders := make([]*websocket.Conn, 0, o.Rate)
	for i := 0; i < o.Rate; i++ {
		c, err := sender(ctx, base, wsURL, fmt.Sprintf("bench-sender-%d", i), o.Password, localIP(i))
		if err != nil {
			return err
		}
		defer c.Close(websocket.StatusNormalClosure, "")
		senders = append(senders, c)
	}
	lat.reset()
	delivered.Store(0)
	var cpu0 int64
	if srv != nil {
		cpu0, _ = cpuTicks(srv.cmd.Process.Pid)
	}
	start := time.Now()
	var sent atomic.Int64
	var sendWG sync.WaitGroup
	for i, c := range senders {
		sendWG.Add(1)
		go func() {
			defer sendWG.Done()
			// Spread senders across the second.
			time.Sleep(time.Duration(i) * time.Second / time.Duration(len(senders)))
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for n := 0; time.Since(start) < o.Duration; n++ {
				frame := fmt.Sprintf(`{"type":"send","text":"t=%d s=%d n=%d"}`, time.Now().UnixNano(), i, n)
				if err := c.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
					return
				}
				sent.Add(1)
				<-tick.C
			}
		}()
	}
	sendWG.Wait()
	time.Sleep(2 * time.Second) // let the last messages arrive
	elapsed := time.Since(start).Seconds()
	var cpuPct float64
	var rssEnd int64
	if srv != nil {
		cpu1, _ := cpuTicks(srv.cmd.Process.Pid)
		cpuPct = float64(cpu1-cpu0) / clockTicks / elapsed * 100
		rssEnd, _ = rssKiB(srv.cmd.Process.Pid)
	}
	stopViewers()
	wg.Wait()

	expected := sent.Load() * int64(o.Conns)
	got := delivered.Load()
	p := lat.sorted()
	fmt.Fprintf(o.Out, "viewers %d, senders %d, sent %d msgs in %.0f s\n", o.Conns, o.Rate, sent.Load(), o.Duration.Seconds())
	fmt.Fprintf(o.Out, "  delivered %d of %d (%.2f%%), %.0f deliveries/s\n", got, expected, 100*float64(got)/float64(max(expected, 1)), float64(got)/elapsed)
	if len(p) > 0 {
		fmt.Fprintf(o.Out, "  latency send -> viewer: p50 %v  p99 %v  max %v\n", pctl(p, 50), pctl(p, 99), p[len(p)-1])
	}
	fmt.Fprintf(o.Out, "  viewers disconnected by the server: %d\n", closedByServer.Load())
	if srv != nil {
		fmt.Fprintf(o.Out, "  server (pinned to core 0): CPU %.0f%% of a core; RSS %.1f MiB idle, %.1f MiB with viewers (%.1f KiB each), %.1f MiB at the end\n",
			cpuPct, float64(rssBefore)/1024, float64(rssConnected)/1024, float64(rssConnected-rssBefore)/float64(max(o.Conns, 1)), float64(rssEnd)/1024)
	}
	return nil
}

// localIP spreads clients over 127.0.0.0/8 so per-address limits (log-in)
// see many addresses, as they would from real viewers.
func localIP(i int) net.IP {
	return net.IPv4(127, 1+byte(i/250%200), byte(i%250)+1, 1)
}

func viewer(ctx context.Context, wsURL string, ip net.IP, ready chan<- error, delivered, closedByServer *atomic.Int64, lat *latencies) {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}
	hc := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
	c, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		ready <- err
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	_ = c.Write(ctx, websocket.MessageText, []byte(`{"type":"join","room":"bench"}`))
	joined := false
	ping := time.NewTicker(30 * time.Second)
	defer ping.Stop()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-ping.C:
				_ = c.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`))
			}
		}
	}()
	marker := []byte(`"text":"t=`)
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			if !joined {
				ready <- err
			}
			if ctx.Err() == nil {
				closedByServer.Add(1)
			}
			return
		}
		if !joined && bytes.Contains(data, []byte(`"type":"joined"`)) {
			joined = true
			ready <- nil
			continue
		}
		now := time.Now().UnixNano()
		for rest := data; ; {
			i := bytes.Index(rest, marker)
			if i < 0 {
				break
			}
			rest = rest[i+len(marker):]
			j := bytes.IndexByte(rest, ' ')
			if j < 0 {
				break
			}
			if ts, err := strconv.ParseInt(string(rest[:j]), 10, 64); err == nil {
				delivered.Add(1)
				lat.add(time.Duration(now - ts))
			}
		}
	}
}

func sender(ctx context.Context, base, wsURL, user, password string, ip net.IP) (*websocket.Conn, error) {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}
	hc := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	res, err := hc.Post(base+"/api/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	res.Body.Close()
	var session string
	for _, c := range res.Cookies() {
		if c.Name == "lh_session" {
			session = c.Value
		}
	}
	if session == "" {
		return nil, fmt.Errorf("log-in of %s failed: %s", user, res.Status)
	}
	h := http.Header{}
	h.Set("Cookie", "lh_session="+session)
	c, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPClient: hc, HTTPHeader: h})
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(1 << 22)
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"join","room":"bench"}`)); err != nil {
		return nil, err
	}
	go func() { // drain: a sender is also a viewer and must keep reading
		for {
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
		}
	}()
	return c, nil
}

// startPinnedServer runs the server on core 0 (taskset) when it can.
// startPinnedServer starts the server on core 0 (when taskset exists);
// extra are more serve flags.
func startPinnedServer(ctx context.Context, bin string, extra ...string) (*server, error) {
	if ts, err := exec.LookPath("taskset"); err == nil {
		wrapper := filepath.Join(os.TempDir(), fmt.Sprintf("livehouse-pinned-%d.sh", os.Getpid()))
		script := fmt.Sprintf("#!/bin/sh\nexec %s -c 0 %s \"$@\"\n", ts, bin)
		if err := os.WriteFile(wrapper, []byte(script), 0o700); err == nil {
			defer os.Remove(wrapper)
			// exec keeps the PID, so CPU and RSS are the server's own.
			s, err := startServer(ctx, Options{Binary: wrapper}, extra...)
			return s, err
		}
	}
	return startServer(ctx, Options{Binary: bin}, extra...)
}

type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	if len(l.d) < 20_000_000 {
		l.d = append(l.d, d)
	}
	l.mu.Unlock()
}

func (l *latencies) reset() {
	l.mu.Lock()
	l.d = l.d[:0]
	l.mu.Unlock()
}

func (l *latencies) sorted() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := append([]time.Duration(nil), l.d...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func pctl(sorted []time.Duration, p int) time.Duration {
	return sorted[(len(sorted)-1)*p/100].Round(100 * time.Microsecond)
}
