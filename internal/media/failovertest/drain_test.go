package failovertest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDrainOnSIGTERM: a node with a live stream and an LL-HLS player gets
// SIGTERM. While it drains, a new player and a new WebSocket join get 503
// node_draining, a new publisher is refused with a logged reason, and the
// player already there keeps getting its playlist; the node exits when
// --drain-timeout is up, cleanly.
func TestDrainOnSIGTERM(t *testing.T) {
	n := startNode(t, "--drain-timeout", "4s")
	pub := n.publish(t, 440)
	_ = pub
	waitFor(t, 30*time.Second, "live", func() bool { i := n.inputs(); return i != nil && i.OnAir == "primary" })

	// An external player: its playlist carries its playback session.
	var media string
	waitFor(t, 20*time.Second, "a playback session", func() bool {
		code, body := get(n.http + "/hls/demo/index.m3u8")
		for _, l := range strings.Split(body, "\n") {
			if code == 200 && strings.HasPrefix(l, "video") {
				media = n.http + "/hls/demo/" + l
				return true
			}
		}
		return false
	})
	if !strings.Contains(media, "session=") {
		t.Fatalf("media playlist URL without a session: %s", media)
	}
	playerErrs := make(chan string, 100)
	stopPlayer := make(chan struct{})
	playerDone := make(chan struct{})
	go func() {
		defer close(playerDone)
		for {
			select {
			case <-stopPlayer:
				return
			case <-time.After(300 * time.Millisecond):
			}
			if code, body := get(media); code != 200 && code != 0 {
				playerErrs <- body
			}
		}
	}()
	time.Sleep(time.Second)

	termAt := time.Now()
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "draining", func() bool { return strings.Contains(n.logs.String(), "draining: refusing new") })

	code, body := get(n.http + "/hls/demo/index.m3u8")
	if code != 503 || jsonCode(body) != "node_draining" {
		t.Errorf("new player while draining: %d %s", code, body)
	}
	code, body = get(n.http + "/ws")
	if code != 503 || jsonCode(body) != "node_draining" {
		t.Errorf("new WebSocket join while draining: %d %s", code, body)
	}
	late := n.publish(t, 880)
	waitFor(t, 5*time.Second, "the late publisher refused", func() bool {
		return strings.Contains(n.logs.String(), "node is draining")
	})
	_ = late

	select {
	case err := <-n.exited:
		took := time.Since(termAt)
		n.exited <- err // for the cleanup
		if err != nil {
			t.Fatalf("exit after drain: %v", err)
		}
		if took < 3500*time.Millisecond || took > 12*time.Second {
			t.Errorf("exited %v after SIGTERM; want the 4 s drain and a prompt shutdown", took)
		}
		t.Logf("exited %v after SIGTERM (drain timeout 4 s, one player kept watching)", took.Round(time.Millisecond))
	case <-time.After(20 * time.Second):
		t.Fatal("still running 20 s after SIGTERM")
	}
	close(stopPlayer)
	<-playerDone
	close(playerErrs)
	// The player got its playlist until the node went away (then its
	// requests fail to connect: code 0, not counted).
	for e := range playerErrs {
		if !strings.Contains(e, "stream_ended") {
			t.Errorf("player already watching was refused while draining: %s", e)
		}
	}
	if !strings.Contains(n.logs.String(), "drain timeout") {
		t.Errorf("log does not say the drain timed out with a player left")
	}
}

func get(u string) (int, string) {
	c := &http.Client{Timeout: 5 * time.Second}
	res, err := c.Get(u)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func jsonCode(body string) string {
	var e struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}
	if json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
		return ""
	}
	return e.Code
}
