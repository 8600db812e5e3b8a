package app

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
)

// TestSimulcastCPU measures what a simulcast destination costs (for the
// notes; LIVEHOUSE_SIMULCAST_CPU=1 runs it): the fixture (H.264 1280x720
// 30 fps ~3 Mbit/s + AAC) published to a node, then 4 destinations sent
// in-process (gortmplib) to discard sinks, then 4 through the ffmpeg
// fallback (to ffmpeg -listen sinks writing to -f null). Printed: CPU
// seconds per wall second (1.0 = one core) per destination.
func TestSimulcastCPU(t *testing.T) {
	if os.Getenv("LIVEHOUSE_SIMULCAST_CPU") == "" {
		t.Skip("set LIVEHOUSE_SIMULCAST_CPU=1 to measure")
	}
	ff := needTool(t, "ffmpeg")
	const n, window = 4, 15 * time.Second
	a := startNode(t, "")
	cast := newUser(t, a, "meter", true)
	r := cast.do("POST", "/api/channels", map[string]any{"slug": "meter", "title": "Meter"})
	if r.code != http.StatusCreated {
		t.Fatalf("create channel: %d %s", r.code, r.raw)
	}
	publishUntil(t, a, r.str("stream_key"))
	waitFor(t, 20*time.Second, "live", func() bool { return a.channel("meter").Live })
	time.Sleep(3 * time.Second)
	base := measureCPU(window, nil)
	t.Logf("CPU no destinations: %.3f cores (publisher + node)", base)

	// In-process: discard sinks that accept the publish and drop the bytes.
	var ids []int64
	for i := range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					sc := &gortmplib.ServerConn{RW: c}
					if sc.Initialize() != nil || sc.AcceptConn() != nil || sc.AcceptAction() != nil {
						return
					}
					_, _ = io.Copy(io.Discard, c)
				}()
			}
		}()
		r := cast.do("POST", "/api/channels/meter/destinations", map[string]any{"name": "d" + strconv.Itoa(i), "url": "rtmp://" + l.Addr().String() + "/live/x"})
		if r.code != http.StatusCreated {
			t.Fatalf("add: %d %s", r.code, r.raw)
		}
		ids = append(ids, int64(r.body["id"].(float64)))
	}
	waitFor(t, 30*time.Second, "in-process destinations live", func() bool { return allLive(t, cast, "meter", ids) })
	time.Sleep(2 * time.Second)
	in := measureCPU(window, nil)
	t.Logf("CPU %d in-process destinations: %.3f cores, %.4f per destination", n, in, (in-base)/n)
	for _, id := range ids {
		cast.do("DELETE", "/api/channels/meter/destinations/"+strconv.FormatInt(id, 10), nil)
	}
	ids = nil

	// ffmpeg fallback: ffmpeg -listen sinks make the workers use ffmpeg.
	for i := range n {
		port := freePort(t)
		sink := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-nostdin", "-listen", "1", "-i", "rtmp://127.0.0.1:"+port+"/live/x", "-c", "copy", "-f", "null", "-")
		if err := sink.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { stopGracefully(sink) })
		// The first (gortmplib) attempt ends this sink; a second one takes ffmpeg's publish.
		go func() {
			_ = sink.Wait()
			again := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-nostdin", "-listen", "1", "-i", "rtmp://127.0.0.1:"+port+"/live/x", "-c", "copy", "-f", "null", "-")
			if again.Start() == nil {
				t.Cleanup(func() { stopGracefully(again) })
			}
		}()
		time.Sleep(200 * time.Millisecond)
		r := cast.do("POST", "/api/channels/meter/destinations", map[string]any{"name": "f" + strconv.Itoa(i), "url": "rtmp://127.0.0.1:" + port + "/live/x"})
		if r.code != http.StatusCreated {
			t.Fatalf("add: %d %s", r.code, r.raw)
		}
		ids = append(ids, int64(r.body["id"].(float64)))
	}
	waitFor(t, 60*time.Second, "ffmpeg destinations live", func() bool { return allLive(t, cast, "meter", ids) })
	time.Sleep(2 * time.Second)
	isSender := func(cmdline string) bool {
		return strings.Contains(cmdline, "pipe:0") && strings.Contains(cmdline, "flv")
	}
	withChildren := measureCPU(window, isSender)
	t.Logf("CPU %d ffmpeg destinations: %.3f cores (node + its ffmpeg children), %.4f per destination", n, withChildren, (withChildren-base)/n)
}

func allLive(t *testing.T, b *browser, slug string, ids []int64) bool {
	for _, id := range ids {
		if d := destState(t, b, slug, id); d.State.State != "live" {
			return false
		}
	}
	return true
}

// measureCPU is this process's CPU (and that of its children whose command
// line matches, when given) over window, in cores.
func measureCPU(window time.Duration, child func(cmdline string) bool) float64 {
	self := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	children := func() map[string]time.Duration {
		out := map[string]time.Duration{}
		if child == nil {
			return out
		}
		me := strconv.Itoa(os.Getpid())
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
			if err != nil {
				continue
			}
			f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
			if len(f) < 13 || f[1] != me {
				continue
			}
			cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			if !child(strings.ReplaceAll(string(cmd), "\x00", " ")) {
				continue
			}
			ut, _ := strconv.ParseInt(f[11], 10, 64)
			st, _ := strconv.ParseInt(f[12], 10, 64)
			out[e.Name()] = time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ 100
		}
		return out
	}
	s0, c0 := self(), children()
	time.Sleep(window)
	s1, c1 := self(), children()
	used := s1 - s0
	for pid, v := range c1 {
		used += v - c0[pid]
	}
	return used.Seconds() / window.Seconds()
}
