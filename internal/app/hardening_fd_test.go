package app

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib/pkg/handshake"

	"github.com/livehouse/livehouse/internal/config"
)

// Issue 10, item 4: running out of file descriptors is not fatal.

const fdChildEnv = "LIVEHOUSE_TEST_FD_CHILD"

// TestHardening04AcceptSurvivesEMFILE runs Livehouse in a child process
// (this test binary again), lowers its RLIMIT_NOFILE and fills every
// descriptor, so the RTMP and HTTP listeners' accept() fails with EMFILE
// while a publisher and a viewer wait in the backlog. Once descriptors are
// freed, both are accepted and served: the accept loops backed off instead
// of giving up.
func TestHardening04AcceptSurvivesEMFILE(t *testing.T) {
	if os.Getenv(fdChildEnv) != "" {
		fdChild(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHardening04AcceptSurvivesEMFILE$")
	cmd.Env = append(os.Environ(), fdChildEnv+"="+t.TempDir())
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("child log:\n%s", logs.String())
		}
	}()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func(prefix string) []string {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("child ended before %s", prefix)
				}
				if strings.HasPrefix(l, "FAIL") || strings.HasPrefix(l, "--- FAIL") {
					t.Fatalf("child: %s", l)
				}
				if strings.HasPrefix(l, prefix) {
					return strings.Fields(l)
				}
			case <-timeout:
				t.Fatalf("no %s from the child", prefix)
			}
		}
	}
	addrs := next("ADDRS")
	httpAddr, rtmpAddr := addrs[1], addrs[2]
	full := next("FULL")
	t.Logf("child filled its descriptors (%s more)", full[1])

	// A publisher and a viewer connect: the kernel queues them, accept fails.
	publisher, err := net.Dial("tcp", rtmpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer publisher.Close()
	viewer, err := net.Dial("tcp", httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer viewer.Close()
	fmt.Fprintf(viewer, "GET /healthz HTTP/1.1\r\nHost: livehouse\r\n\r\n")
	waitFor(t, 20*time.Second, "both listeners to hit EMFILE", func() bool {
		l := logs.String()
		return strings.Contains(l, "RTMP accept failed; retrying") && strings.Contains(l, "http: Accept error") &&
			strings.Contains(l, "too many open files")
	})

	fmt.Fprintln(stdin, "FREE")
	next("FREED")
	_ = publisher.SetDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := handshake.DoClient(publisher, false, false); err != nil {
		t.Fatalf("the waiting publisher was never served: %v", err)
	}
	_ = viewer.SetDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(viewer), nil)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("the waiting viewer was never served: %v %v", res, err)
	}
	// And new connections are accepted as usual.
	fresh, err := net.DialTimeout("tcp", rtmpAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	_ = fresh.SetDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := handshake.DoClient(fresh, false, false); err != nil {
		t.Fatalf("a new publisher after the shortage: %v", err)
	}
	if code, _ := httpGet(t, "http://"+httpAddr+"/healthz"); code != http.StatusOK {
		t.Fatalf("a new viewer after the shortage: %d", code)
	}
	fmt.Fprintln(stdin, "EXIT")
	next("EXITED")
}

// fdChild is the child's side: start Livehouse, fill the descriptor table,
// free it when told.
func fdChild(t *testing.T) {
	say := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	cfg := config.Default()
	cfg.HTTPAddr, cfg.RTMPAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.SRTAddr, cfg.WebRTCUDPAddr, cfg.WebRTCTCPAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.DataDir = os.Getenv(fdChildEnv)
	cfg.AdminToken = testAdminToken
	cfg.DemoChannel = false
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := Start(context.Background(), cfg, log)
	if err != nil {
		say("FAIL start: %v", err)
		return
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
		say("EXITED")
	}()
	say("ADDRS %s %s", a.Web.Addr(), a.RTMP.Addr())

	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		say("FAIL read /proc/self/fd: %v", err)
		return
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		say("FAIL getrlimit: %v", err)
		return
	}
	lim.Cur = uint64(len(entries) + 32)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		say("FAIL setrlimit: %v", err)
		return
	}
	var fillers []*os.File
	for {
		f, err := os.Open(os.DevNull)
		if errors.Is(err, syscall.EMFILE) {
			break
		}
		if err != nil {
			say("FAIL open: %v", err)
			return
		}
		fillers = append(fillers, f)
	}
	say("FULL %d", len(fillers))
	in := bufio.NewReader(os.Stdin)
	for {
		l, err := in.ReadString('\n')
		if err == io.EOF {
			return
		}
		switch strings.TrimSpace(l) {
		case "FREE":
			for _, f := range fillers {
				f.Close()
			}
			fillers = nil
			say("FREED")
		case "EXIT":
			return
		}
	}
}
