package app

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/channel"
	"github.com/livehouse/livehouse/internal/config"
)

// TestRTMPSIngestAndSimulcast: a node with --rtmps takes a publish over
// RTMPS (ffmpeg, as OBS sends it), and another node simulcasts to it over
// rtmps:// trusting its certificate through --simulcast-ca; a destination
// whose certificate is not trusted is retried with the reason
// "certificate", alone, and never falls back to a client that would skip
// the check.
func TestRTMPSIngestAndSimulcast(t *testing.T) {
	ff := needTool(t, "ffmpeg")
	cert, key, _ := selfSigned(t)
	b := startNodeWith(t, func(c *config.Config) { c.TLSCert, c.TLSKey, c.RTMPSAddr = cert, key, "127.0.0.1:0" })
	rtmps := "rtmps://127.0.0.1:" + port(b.app.RTMPS.Addr()) + "/live"
	if got := b.app.rtmpsURL(); !strings.HasPrefix(got, "rtmps://") || !strings.HasSuffix(got, "/live") {
		t.Fatalf("rtmps URL %q", got)
	}
	newChannel := func(slug string) string {
		_, k, err := b.app.Channels.Create(context.Background(), channel.Input{Slug: &slug, Title: &slug}, 0)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	isLive := func(slug string) bool { _, ok := b.app.Hub.Lookup(slug); return ok }

	// 1. A publisher over RTMPS, with a key node B knows.
	direct := newChannel("direct")
	pub := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", fixturePath(),
		"-c", "copy", "-f", "flv", rtmps+"/"+direct)
	pub.Stderr = &testLogWriter{t: t, prefix: "ffmpeg rtmps: "}
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopGracefully(pub) })
	waitFor(t, 30*time.Second, "the RTMPS publish to go live", func() bool { return isLive("direct") })
	stopGracefully(pub)
	// Plain RTMP to the RTMPS port is not a TLS handshake: refused, and the
	// listener goes on.
	if c, err := net.DialTimeout("tcp", b.app.RTMPS.Addr().String(), time.Second); err == nil {
		_, _ = c.Write([]byte{3})
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Read(make([]byte, 1))
		c.Close()
	}

	// 2. Simulcast from node A, which trusts B's certificate.
	a := startNodeWith(t, func(c *config.Config) { c.SimulcastCA = cert })
	// An RTMPS server whose certificate nobody trusts.
	otherCert, otherKey, _ := selfSigned(t)
	pair, err := tls.LoadX509KeyPair(otherCert, otherKey)
	if err != nil {
		t.Fatal(err)
	}
	untrusted, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { untrusted.Close() })
	go func() {
		for {
			c, err := untrusted.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()

	cast := newUser(t, a, "caster", true)
	r := cast.do("POST", "/api/channels", map[string]any{"slug": "origin", "title": "Origin"})
	if r.code != http.StatusCreated {
		t.Fatalf("create channel: %d %s", r.code, r.raw)
	}
	keyA := r.str("stream_key")
	r = cast.do("POST", "/api/channels/origin/destinations", map[string]any{"name": "B over RTMPS", "url": rtmps, "key": newChannel("mirror")})
	if r.code != http.StatusCreated {
		t.Fatalf("add rtmps destination: %d %s", r.code, r.raw)
	}
	var toB destView
	decodeInto(t, r.raw, &toB)
	if toB.Protocol != "rtmps" {
		t.Fatalf("protocol %q", toB.Protocol)
	}
	r = cast.do("POST", "/api/channels/origin/destinations", map[string]any{"name": "Untrusted",
		"url": "rtmps://127.0.0.1:" + port(untrusted.Addr()) + "/live", "key": "whatever-key"})
	if r.code != http.StatusCreated {
		t.Fatalf("add untrusted destination: %d %s", r.code, r.raw)
	}
	var toBad destView
	decodeInto(t, r.raw, &toBad)

	publishUntil(t, a, keyA)
	waitFor(t, 30*time.Second, "node B's mirror live over RTMPS", func() bool { return isLive("mirror") })
	waitFor(t, 30*time.Second, "the RTMPS destination live", func() bool {
		return destState(t, cast, "origin", toB.ID).State.State == "live"
	})
	waitFor(t, 30*time.Second, "the untrusted destination to report its certificate", func() bool {
		st := destState(t, cast, "origin", toBad.ID).State
		return (st.State == "retrying" || st.State == "failed") && st.Reason == "certificate"
	})
	if st := destState(t, cast, "origin", toB.ID).State; st.State != "live" {
		t.Fatalf("the trusted destination is %+v beside the untrusted one", st)
	}
	if strings.Contains(a.logs.String(), "trying ffmpeg") {
		t.Error("an untrusted certificate fell back to ffmpeg, which does not check it")
	}
}
