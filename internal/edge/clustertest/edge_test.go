package clustertest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/livehouse/livehouse/internal/edge"
)

// playAnswer is GET /api/play/SLUG.
type playAnswer struct {
	HLS, Node, Region string
	Origin            bool
}

// readers runs n light LL-HLS readers spread over urls for d and returns
// what they did.
func readers(t *testing.T, urls []string, n int, d time.Duration) *edge.ReaderStats {
	t.Helper()
	st := &edge.ReaderStats{}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n * 2, MaxConnsPerHost: 0}, Timeout: 15 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := edge.ReadLLHLS(ctx, client, urls[i%len(urls)], st); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("reader: %v", err)
	}
	client.CloseIdleConnections()
	return st
}

// partRequests is how many LL-HLS part and playlist requests edges sent the origin.
func originRequests(t *testing.T, origin *node) (parts, playlists float64) {
	return metric(t, origin, `livehouse_hls_edge_requests_total{kind="part"}`),
		metric(t, origin, `livehouse_hls_edge_requests_total{kind="playlist"}`)
}

// TestEdgesCoalesceUpstreamRequests: one origin ingests, two edges serve
// 200 LL-HLS readers; the origin sees about one request per part per edge,
// as it does with 4 readers.
func TestEdgesCoalesceUpstreamRequests(t *testing.T) {
	c := newCluster(t)
	origin := c.start("origin", "--role", "origin", "--region", "eu")
	east := c.start("edge-east", "--role", "edge", "--region", "east")
	west := c.start("edge-west", "--role", "edge", "--region", "west")

	key := createChannel(t, origin, "bigshow")
	publish(t, origin.rtmp+"/"+key)

	// The scheduler: an edge of the asked region, any edge for another.
	var p playAnswer
	waitFor(t, 30*time.Second, "bigshow playable on the east edge", func() bool {
		if call(t, "GET", origin.http+"/api/play/bigshow?region=east", nil, &p) != 200 {
			return false
		}
		res, err := http.Get(p.HLS)
		if err == nil {
			res.Body.Close()
		}
		return err == nil && res.StatusCode == 200
	})
	if p.HLS != east.http+"/hls/bigshow/index.m3u8" || p.Region != "east" {
		t.Fatalf("play in east: %+v", p)
	}
	req, _ := http.NewRequest("GET", origin.http+"/api/play/bigshow", nil)
	req.Header.Set(edge.RegionHeader, "west")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(res.Body).Decode(&p)
	res.Body.Close()
	if err != nil || p.HLS != west.http+"/hls/bigshow/index.m3u8" || p.Node == "" {
		t.Fatalf("play with %s west: %+v %v", edge.RegionHeader, p, err)
	}
	var anyEdge playAnswer
	if code := call(t, "GET", origin.http+"/api/play/bigshow?region=mars", nil, &anyEdge); code != 200 || anyEdge.Origin ||
		(anyEdge.Region != "east" && anyEdge.Region != "west") {
		t.Fatalf("play from an unknown region should get some edge: %d %+v", code, anyEdge)
	}
	var nodes struct {
		Nodes []struct {
			ID       int
			Role     string
			Region   string
			Healthy  bool
			Viewers  int
			Draining bool
		}
	}
	if code := call(t, "GET", west.http+"/api/admin/nodes", nil, &nodes); code != 200 || len(nodes.Nodes) != 3 {
		t.Fatalf("admin nodes: %d %+v", code, nodes)
	}
	for _, n := range nodes.Nodes {
		if !n.Healthy {
			t.Fatalf("node %+v not healthy", n)
		}
	}
	if code, _ := get(t, west.http+"/api/admin/nodes"); code != 401 {
		t.Fatalf("admin nodes without a token: %d, want 401", code)
	}

	urls := []string{east.http + "/hls/bigshow/index.m3u8", west.http + "/hls/bigshow/index.m3u8"}
	measure := func(n int) (perPart, playlistsPerPart float64, st *edge.ReaderStats) {
		parts0, pl0 := originRequests(t, origin)
		st = readers(t, urls, n, 6*time.Second)
		parts1, pl1 := originRequests(t, origin)
		distinct := float64(st.DistinctParts())
		if distinct < 10 {
			t.Fatalf("%d readers fetched only %d distinct parts (%d parts, %d errors)", n, st.DistinctParts(), st.Parts.Load(), st.Errors.Load())
		}
		perPart, playlistsPerPart = (parts1-parts0)/distinct, (pl1-pl0)/distinct
		t.Logf("%d readers: %d parts fetched (%d distinct, %d errors); origin saw %.2f part and %.2f playlist requests per part",
			n, st.Parts.Load(), st.DistinctParts(), st.Errors.Load(), perPart, playlistsPerPart)
		return perPart, playlistsPerPart, st
	}
	fewParts, fewPlaylists, _ := measure(4)
	manyParts, manyPlaylists, st := measure(200)
	if st.Parts.Load() < 200*10 {
		t.Errorf("200 readers fetched only %d parts in 6 s", st.Parts.Load())
	}
	// Two edges: each asks the origin for a part once (a few more at the
	// edges of the window, where a reader's first playlist is plain).
	if manyParts > 2.5 || manyPlaylists > 6 {
		t.Errorf("origin saw %.2f part / %.2f playlist requests per part with 200 readers; want at most 2.5 / 6", manyParts, manyPlaylists)
	}
	if manyParts > fewParts+0.5 || manyPlaylists > fewPlaylists+1.5 {
		t.Errorf("upstream requests per part grew with readers: 4 readers %.2f/%.2f, 200 readers %.2f/%.2f", fewParts, fewPlaylists, manyParts, manyPlaylists)
	}

	// The readers on the edges are the stream's viewers, wherever it is
	// asked: each edge counts its players (all from 127.0.0.1 here, so 20,
	// the per-address cap) and the origin adds them up.
	waitViewers(t, 10*time.Second, []*node{origin, west}, "bigshow", 40)

	// The replay being recorded lives on the origin's disk; an edge passes
	// /vod/ to it.
	var replays struct{ Replays []struct{ ID int64 } }
	if code := call(t, "GET", west.http+"/api/channels/bigshow/replays", nil, &replays); code != 200 || len(replays.Replays) == 0 {
		t.Fatalf("replays seen from the west edge: %d %+v", code, replays)
	}
	vod := fmt.Sprintf("%s/vod/%d/index.m3u8", west.http, replays.Replays[0].ID)
	code, body := get(t, vod)
	if code != 200 || !strings.Contains(body, "#EXTM3U") {
		t.Fatalf("replay playlist through the west edge: %d %s", code, body)
	}
	if code, _ := get(t, fmt.Sprintf("%s/vod/%d/index.m3u8", west.http, replays.Replays[0].ID+1000)); code != 404 {
		t.Fatalf("unknown replay through the edge: %d, want 404", code)
	}

	// Edges chain: a third edge pulls from the east one, not the origin.
	chained := c.start("edge-chained", "--role", "edge", "--region", "east", "--upstream", east.http)
	eastUp0 := metric(t, east, `livehouse_hls_edge_requests_total{kind="part"}`)
	st = readers(t, []string{chained.http + "/hls/bigshow/index.m3u8"}, 3, 3*time.Second)
	if st.Parts.Load() < 5 {
		t.Fatalf("chained edge served %d parts", st.Parts.Load())
	}
	if got := metric(t, east, `livehouse_hls_edge_requests_total{kind="part"}`) - eastUp0; got < 1 {
		t.Fatalf("the chained edge did not pull from the east edge (%v part requests there)", got)
	}
	// Its players count once: the east edge does not count the chained
	// edge's requests (via=edge) as players. Three players keep watching
	// on the chained edge until the 200 readers' sessions have gone idle
	// (15 s without a request): then the stream has 3, not 6.
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		readers(t, []string{chained.http + "/hls/bigshow/index.m3u8"}, 3, 22*time.Second)
	}()
	waitViewers(t, 20*time.Second, []*node{origin}, "bigshow", 3)
	<-watching
}

// waitViewers waits until every node says slug has one of want outside
// players (GET /api/channels/SLUG: external_players, included in viewers).
func waitViewers(t *testing.T, d time.Duration, nodes []*node, slug string, want ...int) {
	t.Helper()
	for _, n := range nodes {
		var ch struct {
			Viewers         int `json:"viewers"`
			ExternalPlayers int `json:"external_players"`
		}
		ok := false
		deadline := time.Now().Add(d)
		for time.Now().Before(deadline) {
			if call(t, "GET", n.http+"/api/channels/"+slug, nil, &ch) == 200 && slices.Contains(want, ch.ExternalPlayers) && ch.Viewers >= ch.ExternalPlayers {
				ok = true
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if !ok {
			t.Fatalf("%s says %s has %d outside players (viewers %d), want %v", n.name, slug, ch.ExternalPlayers, ch.Viewers, want)
		}
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b [512]byte
	n, _ := res.Body.Read(b[:])
	return res.StatusCode, string(b[:n])
}

// TestChromiumMovesOffDrainedAndKilledEdges: Chromium watches through an
// edge (the page comes from the origin, the video from the edge /api/play
// names). That edge gets SIGTERM: while it drains it sends players
// elsewhere (the page 503 node_draining, any other player a 307 to the
// other edge), the page moves to the other edge without a stall of 2 s,
// and the drained edge exits as soon as its players have gone, long
// before its drain timeout. Then the second edge is SIGKILLed and the page
// falls back to the origin within 5 s. No reload either time.
func TestChromiumMovesOffDrainedAndKilledEdges(t *testing.T) {
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node missing")
	}
	if _, err := os.Stat("../../../node_modules/playwright-core"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("node_modules/playwright-core missing: make test runs npm ci")
		}
		t.Skip("playwright-core not installed")
	}
	c := newCluster(t)
	origin := c.start("origin", "--role", "origin")
	edges := map[string]*node{}
	for _, name := range []string{"edge-a", "edge-b"} {
		e := c.start(name, "--role", "edge", "--drain-timeout", "30s")
		var nodes struct {
			Nodes []struct {
				ID   int
				Self bool
			}
		}
		call(t, "GET", e.http+"/api/admin/nodes", nil, &nodes)
		for _, n := range nodes.Nodes {
			if n.Self {
				edges[fmt.Sprintf("node-%d", n.ID)] = e
			}
		}
	}
	if len(edges) != 2 {
		t.Fatalf("edges by node name: %v", edges)
	}
	key := createChannel(t, origin, "failover")
	publish(t, origin.rtmp+"/"+key)
	waitFor(t, 30*time.Second, "failover playable through an edge", func() bool {
		var p playAnswer
		return call(t, "GET", origin.http+"/api/play/failover", nil, &p) == 200 && !p.Origin
	})

	shots := os.Getenv("LIVEHOUSE_SCREENSHOTS")
	cmd := exec.Command(nodeBin, "../../../e2e/edge_failover.mjs", origin.http+"/c/failover", shots, adminToken)
	cmd.Env = append(os.Environ(), "CHROMIUM=/usr/bin/chromium")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func(want string) string {
		t.Helper()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("browser script ended before %s", want)
				}
				t.Log("browser: " + l)
				if strings.HasPrefix(l, "FAIL") {
					t.Fatal(l)
				}
				if strings.HasPrefix(l, want) {
					return l
				}
			case <-time.After(60 * time.Second):
				t.Fatalf("no %s from the browser", want)
			}
		}
	}
	f := strings.Fields(next("PLAYING"))
	victim := edges[f[1]]
	if victim == nil {
		t.Fatalf("the page plays from %q, not an edge (%v)", f[1], f)
	}
	if len(f) < 3 || !strings.Contains(f[2], strings.TrimPrefix(victim.http, "http://")) {
		t.Fatalf("the page's LL-HLS requests went to %v, not the edge %s", f[2:], victim.http)
	}
	var other *node
	for _, e := range edges {
		if e != victim {
			other = e
		}
	}

	// A chat viewer connected to that edge (as through a proxy in front).
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	chat, _, err := websocket.Dial(ctx, strings.Replace(victim.http, "http://", "ws://", 1)+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer chat.CloseNow()
	chatClosed := make(chan websocket.StatusCode, 1)
	go func() {
		for {
			if _, _, err := chat.Read(ctx); err != nil {
				chatClosed <- websocket.CloseStatus(err)
				return
			}
		}
	}()

	// Drain the edge the page plays from.
	termAt := time.Now()
	if err := victim.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(stdin, "GONE drained")
	waitFor(t, 5*time.Second, "the edge draining", func() bool { return strings.Contains(victim.log(), "draining: refusing new") })
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noFollow.Get(victim.http + "/hls/failover/index.m3u8")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if want := other.http + "/hls/failover/index.m3u8"; res.StatusCode != http.StatusTemporaryRedirect || res.Header.Get("Location") != want {
		t.Errorf("an outside player on the draining edge: %d to %q, want 307 to %s", res.StatusCode, res.Header.Get("Location"), want)
	}
	res, err = noFollow.Get(victim.http + "/hls/failover/index.m3u8?via=page")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"code":"node_draining"`) || res.Header.Get("X-Livehouse-Move-To") == "" {
		t.Errorf("the watch page on the draining edge: %d %s (move to %q)", res.StatusCode, body, res.Header.Get("X-Livehouse-Move-To"))
	}
	if code, body := get(t, victim.http+"/healthz"); code != 503 || !strings.Contains(body, "draining") {
		t.Errorf("/healthz while draining: %d %s (a load balancer must stop sending it viewers)", code, body)
	}
	select {
	case code := <-chatClosed:
		t.Logf("the chat socket on the draining edge was closed %v after SIGTERM with %d", time.Since(termAt).Round(time.Millisecond), code)
		if code != websocket.StatusGoingAway {
			t.Errorf("chat socket closed with %d, want 1001 (reconnect and resume elsewhere)", code)
		}
	case <-time.After(10 * time.Second):
		t.Error("the chat socket on the draining edge is still open 10 s after SIGTERM")
	}
	m := strings.Fields(next("MOVED drained"))
	ms, _ := strconv.Atoi(m[3])
	still, _ := strconv.Atoi(m[4])
	t.Logf("drain: playing on %s %d ms after the SIGTERM; the picture stood still at most %d ms", m[2], ms, still)
	if edges[m[2]] != other {
		t.Fatalf("moved to %q, want the other edge", m[2])
	}
	if still >= 2000 {
		t.Errorf("the picture stood still %d ms while the page moved off a draining edge, want under 2 s", still)
	}
	if m[5] != "navigations=1" {
		t.Fatalf("the page reloaded: %s", m[5])
	}
	select {
	case <-victim.exited:
		t.Logf("the drained edge exited %v after SIGTERM (drain timeout 30 s)", time.Since(termAt).Round(time.Millisecond))
	case <-time.After(20 * time.Second):
		t.Fatalf("the drained edge still runs %v after SIGTERM: its players did not leave", time.Since(termAt).Round(time.Second))
	}

	// Kill the other one: no edge is left, so the page falls back to the origin.
	other.kill(t)
	fmt.Fprintln(stdin, "GONE killed")
	m = strings.Fields(next("MOVED killed"))
	ms, _ = strconv.Atoi(m[3])
	t.Logf("edge failover: playing again on %s (the origin) %d ms after the SIGKILL; still at most %s ms", m[2], ms, m[4])
	if edges[m[2]] != nil {
		t.Fatalf("moved to %q, a dead edge", m[2])
	}
	if ms > 5000 {
		t.Fatalf("moving took %d ms, want at most 5 s", ms)
	}
	if m[5] != "navigations=1" {
		t.Fatalf("the page reloaded: %s", m[5])
	}
	for _, lang := range []string{"en", "zh-CN"} {
		l := next("NODES " + lang)
		if !strings.Contains(l, "edge") && !strings.Contains(l, "边缘") {
			t.Fatalf("admin nodes list: %s", l)
		}
	}
}
