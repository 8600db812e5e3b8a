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
	// Sample: how many viewers parse send times for latency (the rest only
	// count deliveries); 0 means 200.
	Sample int
	// CPUProfile: the started server profiles its whole run into this file.
	CPUProfile string
	// PostHTTP: senders post over HTTP (POST /api/rooms/bench/danmaku), as
	// an app or a bot does, instead of over their WebSocket.
	PostHTTP bool
	// Target is the server under test: "livehouse" (the default) or
	// "centrifugo", the same viewers and senders against Centrifugo for a
	// side-by-side comparison (see centrifugo.go).
	Target string
	// Centrifugo: the centrifugo executable to start (Target centrifugo,
	// URL empty); APIKey: with URL, the HTTP API key of a running one.
	Centrifugo, APIKey string
}

const senderPassword = "bench-sender-password"

// RunChat opens Conns viewers in one room, posts Rate messages a second
// over WebSocket (or HTTP) for Duration, and reports deliveries, latency,
// the senders' acknowledgement times and losses.
func RunChat(ctx context.Context, o ChatOptions) error {
	if o.Sample <= 0 {
		o.Sample = 200
	}
	var target *chatTarget
	var err error
	switch o.Target {
	case "", "livehouse":
		target, err = startLivehouseTarget(ctx, o)
	case "centrifugo":
		target, err = startCentrifugoTarget(ctx, o)
		o.PostHTTP = true // Centrifugo's clients do not publish; its HTTP API does
	default:
		err = fmt.Errorf("unknown target %q (livehouse or centrifugo)", o.Target)
	}
	if err != nil {
		return err
	}
	defer target.stop()
	base, proto := target.base, target.proto
	wsURL := "ws" + strings.TrimPrefix(base, "http") + proto.path

	var rssBefore int64
	if target.pid != 0 {
		time.Sleep(500 * time.Millisecond)
		rssBefore, _ = rssKiB(target.pid)
	}

	// Viewers.
	var delivered, closedByServer atomic.Int64
	lat := &latencies{}
	vctx, stopViewers := context.WithCancel(ctx)
	defer stopViewers()
	var wg sync.WaitGroup
	ready := make(chan error, o.Conns)
	set := &viewerSet{}
	keepAliveDone := make(chan struct{})
	go func() { defer close(keepAliveDone); set.keepAlive(vctx, proto.keepAlive) }()
	defer func() { stopViewers(); <-keepAliveDone }()
	sampleEvery := max(1, o.Conns/max(o.Sample, 1))
	var joinCPU0 int64
	if target.pid != 0 {
		joinCPU0, _ = cpuTicks(target.pid)
	}
	joinStart := time.Now()
	for i := 0; i < o.Conns; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var sample *latencies
			if i%sampleEvery == 0 {
				sample = lat
			}
			viewer(vctx, wsURL, proto, localIP(i), set, ready, &delivered, &closedByServer, sample)
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
	joinTook := time.Since(joinStart)
	var joinCPU int64
	if target.pid != 0 {
		t, _ := cpuTicks(target.pid)
		joinCPU = t - joinCPU0
	}
	var rssConnected int64
	if target.pid != 0 {
		time.Sleep(time.Second)
		rssConnected, _ = rssKiB(target.pid)
	}

	// Senders: one account each, one message a second each (the per-account
	// limits a person has apply to them too).
	senders := make([]chatPoster, 0, o.Rate)
	acks := &latencies{}
	var refused, timedOut atomic.Int64
	for i := 0; i < o.Rate; i++ {
		c, err := target.newSender(ctx, i, localIP(i), acks, &refused)
		if err != nil {
			return err
		}
		defer c.close()
		senders = append(senders, c)
	}
	lat.reset()
	acks.reset()
	refused.Store(0)
	delivered.Store(0)
	var cpu0 int64
	if target.pid != 0 {
		cpu0, _ = cpuTicks(target.pid)
	}
	self0, _ := cpuTicks(os.Getpid())
	metricsBefore := scrapeHistograms(base, fanoutMetric, postMetric)
	start := time.Now()
	var sent atomic.Int64
	var sendWG, postWG sync.WaitGroup
	for i, c := range senders {
		sendWG.Add(1)
		go func() {
			defer sendWG.Done()
			// Spread senders across the second.
			time.Sleep(time.Duration(i) * time.Second / time.Duration(len(senders)))
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for n := 0; time.Since(start) < o.Duration; n++ {
				text := fmt.Sprintf("t=%d s=%d n=%d", time.Now().UnixNano(), i, n)
				if o.PostHTTP {
					// A post that hangs must not slow the sender down:
					// people keep typing while the server is busy.
					postWG.Add(1)
					go func() { defer postWG.Done(); c.post(ctx, text, &timedOut) }()
				} else if err := c.sendWS(ctx, text); err != nil {
					return
				}
				sent.Add(1)
				<-tick.C
			}
		}()
	}
	if len(senders) == 0 {
		// --rate 0: the window over which idle viewers' CPU is measured.
		select {
		case <-time.After(o.Duration):
		case <-ctx.Done():
		}
	}
	sendWG.Wait()
	postWG.Wait()
	// Let the last messages arrive: until all are in, or none has come for
	// a second (at most 15 s; a fixed wait counted late ones as lost).
	want := sent.Load() * int64(o.Conns)
	for last, still, waited := delivered.Load(), 0, 0; delivered.Load() < want && still < 4 && waited < 60; waited++ {
		time.Sleep(250 * time.Millisecond)
		if d := delivered.Load(); d == last {
			still++
		} else {
			last, still = d, 0
		}
	}
	elapsed := time.Since(start).Seconds()
	var cpuPct float64
	var rssEnd int64
	if target.pid != 0 {
		cpu1, _ := cpuTicks(target.pid)
		cpuPct = float64(cpu1-cpu0) / clockTicks / elapsed * 100
		rssEnd, _ = rssKiB(target.pid)
	}
	self1, _ := cpuTicks(os.Getpid())
	metricsAfter := scrapeHistograms(base, fanoutMetric, postMetric)
	stopViewers()
	wg.Wait()

	expected := sent.Load() * int64(o.Conns)
	got := delivered.Load()
	p := lat.sorted()
	fmt.Fprintf(o.Out, "%s: viewers %d, senders %d, sent %d msgs in %.0f s\n", target.name, o.Conns, o.Rate, sent.Load(), o.Duration.Seconds())
	fmt.Fprintf(o.Out, "  %d viewers connected and joined in %v", o.Conns, joinTook.Round(time.Millisecond))
	if target.pid != 0 {
		cpu := time.Duration(joinCPU) * time.Second / clockTicks
		fmt.Fprintf(o.Out, "; server CPU %v for them (%v a join)", cpu, (cpu / time.Duration(o.Conns)).Round(time.Microsecond))
	}
	fmt.Fprintln(o.Out)
	fmt.Fprintf(o.Out, "  delivered %d of %d (%.2f%%), %.0f deliveries/s\n", got, expected, 100*float64(got)/float64(max(expected, 1)), float64(got)/elapsed)
	if len(p) > 0 {
		fmt.Fprintf(o.Out, "  latency send -> viewer (sampled from %d viewers, %d deliveries): p50 %v  p99 %v  max %v\n",
			min(o.Sample, o.Conns), len(p), pctl(p, 50), pctl(p, 99), p[len(p)-1])
	}
	how := "WebSocket, time to the \"sent\" frame"
	if o.PostHTTP {
		how = "HTTP POST, time to the " + target.postAck
	}
	if a := acks.sorted(); len(a) > 0 {
		fmt.Fprintf(o.Out, "  sender acknowledged (%s): %d, p50 %v  p99 %v  max %v; refused %d, timed out (10 s) %d\n",
			how, len(a), pctl(a, 50), pctl(a, 99), a[len(a)-1], refused.Load(), timedOut.Load())
	} else {
		fmt.Fprintf(o.Out, "  sender acknowledged (%s): none; refused %d, timed out (10 s) %d\n", how, refused.Load(), timedOut.Load())
	}
	if after, ok := metricsAfter[postMetric]; ok {
		fmt.Fprintf(o.Out, "  server side, posting (%s): %s\n", postMetric, after.since(metricsBefore[postMetric]).describe())
	}
	if after, ok := metricsAfter[fanoutMetric]; ok {
		fmt.Fprintf(o.Out, "  server side, hub to every viewer (%s): %s\n", fanoutMetric, after.since(metricsBefore[fanoutMetric]).describe())
	}
	fmt.Fprintf(o.Out, "  load generator: CPU %.0f%% of a core\n", float64(self1-self0)/clockTicks/elapsed*100)
	fmt.Fprintf(o.Out, "  viewers disconnected by the server: %d\n", closedByServer.Load())
	if target.pid != 0 {
		fmt.Fprintf(o.Out, "  server (pinned to core 0): CPU %.0f%% of a core; RSS %.1f MiB idle, %.1f MiB with viewers (%.1f KiB each), %.1f MiB at the end\n",
			cpuPct, float64(rssBefore)/1024, float64(rssConnected)/1024, float64(rssConnected-rssBefore)/float64(max(o.Conns, 1)), float64(rssEnd)/1024)
	}
	return nil
}

// chatTarget is the server a chat bench drives: how to reach it, how its
// viewers join, and how its senders post.
type chatTarget struct {
	name    string
	base    string // HTTP base URL
	pid     int    // the server process, when this bench started it (CPU, RSS)
	stop    func()
	proto   viewerProtocol
	postAck string // what an HTTP post's success looks like, for the report
	// newSender sets up sender i (its account, its connection).
	newSender func(ctx context.Context, i int, ip net.IP, acks *latencies, refused *atomic.Int64) (chatPoster, error)
}

// viewerProtocol is what a viewer says and listens for on its WebSocket.
type viewerProtocol struct {
	path      string   // the WebSocket endpoint
	join      []string // text frames sent after the handshake
	joined    []byte   // a frame holding this completes the join
	keepAlive string   // sent every 30 s by the generator ("" when the server pings)
	pong      bool     // the server pings with "{}" and wants "{}" back (Centrifugo)
}

// chatPoster is one sender: it posts a danmaku and times the answer.
type chatPoster interface {
	sendWS(ctx context.Context, text string) error
	post(ctx context.Context, text string, timedOut *atomic.Int64)
	close()
}

var livehouseProtocol = viewerProtocol{
	path:      "/ws",
	join:      []string{`{"type":"join","room":"bench"}`},
	joined:    []byte(`"type":"joined"`),
	keepAlive: `{"type":"ping"}`,
}

// startLivehouseTarget starts a Livehouse server pinned to core 0 with the
// bench channel and sender accounts, or uses the one at o.URL.
func startLivehouseTarget(ctx context.Context, o ChatOptions) (*chatTarget, error) {
	t := &chatTarget{name: "livehouse", base: o.URL, stop: func() {}, proto: livehouseProtocol, postAck: "201"}
	password := o.Password
	if t.base == "" {
		var extra []string
		if o.CPUProfile != "" {
			extra = append(extra, "--cpuprofile", o.CPUProfile)
		}
		srv, err := startPinnedServer(ctx, o.Binary, extra...)
		if err != nil {
			return nil, err
		}
		t.base, t.pid, t.stop = srv.http, srv.cmd.Process.Pid, srv.stop
		if _, err := srv.createChannel("bench"); err != nil {
			srv.stop()
			return nil, err
		}
		for i := 0; i < o.Rate; i++ {
			cmd := exec.Command(o.Binary, "user", "create", fmt.Sprintf("bench-sender-%d", i), "--password", senderPassword,
				"--data", filepath.Join(srv.dir, "data"))
			if out, err := cmd.CombinedOutput(); err != nil {
				srv.stop()
				return nil, fmt.Errorf("create sender %d: %v %s", i, err, out)
			}
		}
		password = senderPassword
	}
	wsURL := "ws" + strings.TrimPrefix(t.base, "http") + t.proto.path
	t.newSender = func(ctx context.Context, i int, ip net.IP, acks *latencies, refused *atomic.Int64) (chatPoster, error) {
		return newSender(ctx, t.base, wsURL, fmt.Sprintf("bench-sender-%d", i), password, ip, acks, refused)
	}
	return t, nil
}

// The server's own latency histograms (internal/room).
const (
	fanoutMetric = "livehouse_room_fanout_seconds"
	postMetric   = "livehouse_danmaku_post_seconds"
)

// localIP spreads clients over 127.0.0.0/8 so per-address limits (log-in)
// see many addresses, as they would from real viewers.
func localIP(i int) net.IP {
	return net.IPv4(127, 1+byte(i/250%200), byte(i%250)+1, 1)
}

// viewerSet is every open viewer, so one goroutine pings them all and
// closes them at the end (a viewer's only goroutine is its reader).
type viewerSet struct {
	mu    sync.Mutex
	conns []*rawWS
}

func (v *viewerSet) add(w *rawWS) {
	v.mu.Lock()
	v.conns = append(v.conns, w)
	v.mu.Unlock()
}

// keepAlive sends ping to every viewer every 30 s (the server cuts silent
// ones; none when ping is empty) until ctx ends, then closes them.
func (v *viewerSet) keepAlive(ctx context.Context, ping string) {
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			v.mu.Lock()
			for _, w := range v.conns {
				w.close()
			}
			v.mu.Unlock()
			return
		case <-tick.C:
			if ping == "" {
				continue
			}
			v.mu.Lock()
			conns := append([]*rawWS(nil), v.conns...)
			v.mu.Unlock()
			for _, w := range conns {
				_ = w.writeText(ping)
			}
		}
	}
}

// viewer joins the bench room and counts the danmaku it receives; only a
// sampling viewer parses their send times for latency.
func viewer(ctx context.Context, wsURL string, proto viewerProtocol, ip net.IP, set *viewerSet, ready chan<- error, delivered, closedByServer *atomic.Int64, lat *latencies) {
	w, err := dialRawWS(ctx, wsURL, ip, nil)
	if err != nil {
		ready <- err
		return
	}
	set.add(w)
	for _, f := range proto.join {
		if err := w.writeText(f); err != nil {
			ready <- err
			return
		}
	}
	joined := false
	marker := []byte(`"text":"t=`)
	for {
		data, err := w.read()
		if err != nil {
			if !joined {
				ready <- err
			}
			if ctx.Err() == nil {
				closedByServer.Add(1)
			}
			return
		}
		if proto.pong && isCentrifugoPing(data) {
			if err := w.writeText("{}"); err != nil {
				continue // the next read reports the broken connection
			}
		}
		if !joined {
			if bytes.Contains(data, proto.joined) {
				joined = true
				ready <- nil
			}
			continue
		}
		if lat == nil {
			delivered.Add(int64(bytes.Count(data, marker)))
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

// chatSender is one account posting: over its WebSocket (which it also
// reads, as a viewer must) or over HTTP with its session.
type chatSender struct {
	base          string
	hc            *http.Client
	session, csrf string
	ws            *websocket.Conn
	acks          *latencies
	refused       *atomic.Int64
}

func newSender(ctx context.Context, base, wsURL, user, password string, ip net.IP, acks *latencies, refused *atomic.Int64) (*chatSender, error) {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}
	s := &chatSender{base: base, acks: acks, refused: refused,
		hc: &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext, MaxIdleConnsPerHost: 16}, Timeout: 10 * time.Second}}
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	res, err := s.hc.Post(base+"/api/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	res.Body.Close()
	for _, c := range res.Cookies() {
		switch c.Name {
		case "lh_session":
			s.session = c.Value
		case "lh_csrf":
			s.csrf = c.Value
		}
	}
	if s.session == "" {
		return nil, fmt.Errorf("log-in of %s failed: %s", user, res.Status)
	}
	h := http.Header{}
	h.Set("Cookie", "lh_session="+s.session)
	c, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPClient: s.hc, HTTPHeader: h})
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(1 << 22)
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"join","room":"bench"}`)); err != nil {
		return nil, err
	}
	s.ws = c
	go s.read(ctx)
	return s, nil
}

// read drains the socket (a sender is also a viewer) and times the
// server's answers to its own sends: the nonce is the send time.
func (s *chatSender) read(ctx context.Context) {
	for {
		_, data, err := s.ws.Read(ctx)
		if err != nil {
			return
		}
		switch {
		case bytes.Contains(data, []byte(`"type":"sent"`)):
			var f struct{ Nonce string }
			if json.Unmarshal(data, &f) == nil {
				if ns, err := strconv.ParseInt(f.Nonce, 10, 64); err == nil {
					s.acks.add(time.Since(time.Unix(0, ns)))
				}
			}
		case bytes.Contains(data, []byte(`"type":"error"`)): // a quote in a message's text is escaped, so this is a frame's own type
			s.refused.Add(1)
		}
	}
}

func (s *chatSender) sendWS(ctx context.Context, text string) error {
	frame, _ := json.Marshal(map[string]string{"type": "send", "text": text, "nonce": strconv.FormatInt(time.Now().UnixNano(), 10)})
	return s.ws.Write(ctx, websocket.MessageText, frame)
}

// post sends text over HTTP and times the answer.
func (s *chatSender) post(ctx context.Context, text string, timedOut *atomic.Int64) {
	body, _ := json.Marshal(map[string]string{"text": text})
	req, _ := http.NewRequestWithContext(ctx, "POST", s.base+"/api/rooms/bench/danmaku", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Cookie", "lh_session="+s.session+"; lh_csrf="+s.csrf)
	req.Header.Set("X-CSRF-Token", s.csrf)
	start := time.Now()
	res, err := s.hc.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			timedOut.Add(1)
		}
		return
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		s.refused.Add(1)
		return
	}
	s.acks.add(time.Since(start))
}

func (s *chatSender) close() { s.ws.Close(websocket.StatusNormalClosure, "") }

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
