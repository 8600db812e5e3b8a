package app

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/livehouse/livehouse/internal/store/storetest"
)

// cluster is two livehouse processes (the real binary) on one PostgreSQL
// schema and one NATS server of the test's own.
type cluster struct {
	a, b       *testNode
	bin, dbURL string
	natsURL    string
	dir        string
	procs      map[*testNode]*nodeProc
}

// nodeProc is one livehouse process of a cluster and what it logged.
type nodeProc struct {
	name, httpPort, rtmpPort string
	cmd                      *exec.Cmd
	logs                     *syncBuffer
	exited                   chan struct{}
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "livehouse")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/livehouse").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	// The test's own NATS server, so nothing is shared with other runs.
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("NATS did not start")
	}
	c := &cluster{bin: bin, dbURL: storetest.NewPostgresSchema(t), natsURL: ns.ClientURL(), dir: dir, procs: map[*testNode]*nodeProc{}}
	c.a = c.launch(t, &nodeProc{name: "node-a", httpPort: freePort(t), rtmpPort: freePort(t)})
	c.b = c.launch(t, &nodeProc{name: "node-b", httpPort: freePort(t), rtmpPort: freePort(t)})
	return c
}

// launch starts p's process (on its data directory and ports) and waits
// until it is healthy.
func (c *cluster) launch(t *testing.T, p *nodeProc) *testNode {
	t.Helper()
	cmd := exec.Command(c.bin, "--http", "127.0.0.1:"+p.httpPort, "--rtmp", "127.0.0.1:"+p.rtmpPort, "--srt", "127.0.0.1:0", "--webrtc-udp", "127.0.0.1:0", "--webrtc-tcp", "", "--db", c.dbURL, "--nats", c.natsURL,
		"--admin-token", testAdminToken, "--demo-channel=false", "--data", filepath.Join(c.dir, p.name))
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.cmd, p.logs, p.exited = cmd, &syncBuffer{}, make(chan struct{})
	go func() {
		defer close(p.exited)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.logs.Write([]byte(sc.Text() + "\n"))
			t.Log(p.name + ": " + sc.Text())
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-p.exited
	})
	n := &testNode{t: t, http: "http://127.0.0.1:" + p.httpPort, rtmp: "rtmp://127.0.0.1:" + p.rtmpPort + "/live"}
	waitFor(t, 20*time.Second, p.name+" healthy", func() bool {
		res, err := http.Get(n.http + "/healthz")
		if err == nil {
			res.Body.Close()
		}
		return err == nil && res.StatusCode == 200
	})
	c.procs[n] = p
	return n
}

// kill ends n's process with SIGKILL: it says goodbye to nobody.
func (c *cluster) kill(t *testing.T, n *testNode) {
	t.Helper()
	p := c.procs[n]
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.exited
}

// restart starts n's process again on the same data directory and ports.
func (c *cluster) restart(t *testing.T, n *testNode) *testNode {
	t.Helper()
	p := c.procs[n]
	return c.launch(t, &nodeProc{name: p.name, httpPort: p.httpPort, rtmpPort: p.rtmpPort})
}

// logs is what n's process has logged so far.
func (c *cluster) logs(n *testNode) string { return c.procs[n].logs.String() }

// TestTwoNodesShareNATSAndPostgres runs two livehouse processes on one
// PostgreSQL schema and one NATS server: a viewer on node B sees a danmaku
// posted on node A, and both count the viewers of both.
func TestTwoNodesShareNATSAndPostgres(t *testing.T) {
	c := startCluster(t)
	a, b, bin, dbURL := c.a, c.b, c.bin, c.dbURL

	admin := a.browser("127.0.0.1")
	admin.bearer = testAdminToken
	if r := admin.do("POST", "/api/channels", map[string]any{"slug": "shared", "title": "Shared room"}); r.code != 201 {
		t.Fatalf("create channel on A: %d %s", r.code, r.raw)
	}
	out, err := exec.Command(bin, "user", "create", "talker", "--password", "talker-password", "--db", dbURL).CombinedOutput()
	if err != nil {
		t.Fatalf("user create: %v %s", err, out)
	}
	talker := a.browser("127.0.0.1")
	if r := talker.login("talker", "talker-password"); r.code != 200 {
		t.Fatalf("login on A: %d", r.code)
	}
	// The session made on A works on B: sessions live in the shared database.
	onB := b.browser("127.0.0.1")
	onB.session, onB.csrf = talker.session, talker.csrf
	if r := onB.do("GET", "/api/me", nil); r.code != 200 {
		t.Fatalf("A's session on B: %d", r.code)
	}

	viewerB := b.dialWS(nil)
	viewerB.write(map[string]any{"type": "join", "room": "shared"})
	viewerB.expect("joined")
	viewerA := a.dialWS(nil)
	viewerA.write(map[string]any{"type": "join", "room": "shared"})
	viewerA.expect("joined")

	post := talker.do("POST", "/api/rooms/shared/danmaku", map[string]string{"text": "hello from node A"})
	if post.code != 201 {
		t.Fatalf("post on A: %d %s", post.code, post.raw)
	}
	got := viewerB.danmaku(1)[0]
	if got["text"] != "hello from node A" || got["id"] != post.str("id") {
		t.Fatalf("viewer on B got %v", got)
	}

	// Online counts cover both nodes once presence has gone round.
	deadline := time.Now().Add(10 * time.Second)
	for {
		f := viewerB.expect("batch")
		var count int
		for _, e := range f["events"].([]any) {
			if ev := e.(map[string]any); ev["type"] == "online" {
				count, _ = strconv.Atoi(fmt.Sprint(ev["count"]))
			}
		}
		if count == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("online count on B never reached 2 (last %d)", count)
		}
	}
	if !strings.Contains(b.browser("127.0.0.1").do("GET", "/api/rooms/shared/danmaku", nil).raw, "hello from node A") {
		t.Fatal("B's history lacks A's message")
	}

	// An admin on B disables a channel streaming into A: A ends the stream.
	if _, err := exec.LookPath("ffmpeg"); err == nil {
		created := admin.do("POST", "/api/channels", map[string]any{"slug": "onair", "title": "On air"})
		startFFmpeg(t, a.rtmp+"/"+created.str("stream_key"), "320x180")
		waitFor(t, 20*time.Second, "onair live on A", func() bool { return a.channel("onair").Live })
		adminB := b.browser("127.0.0.1")
		adminB.bearer = testAdminToken
		if r := adminB.do("POST", "/api/admin/channels/onair", map[string]any{"disabled": true}); r.code != 200 {
			t.Fatalf("disable on B: %d %s", r.code, r.raw)
		}
		waitFor(t, 5*time.Second, "A to end the stream B's admin disabled", func() bool { return !a.channel("onair").Live })
	} else if os.Getenv("CI") != "" {
		t.Fatal("ffmpeg missing: make test installs it")
	}
}
