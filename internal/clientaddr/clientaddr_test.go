package clientaddr

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, ok := range []string{"", " ", "10.0.0.0/8", "127.0.0.1, ::1", "10.0.0.1/8", "fd00::/8,192.168.0.0/16", "::ffff:10.0.0.0/104", "fe80::1%eth0"} {
		if _, err := Parse(ok); err != nil {
			t.Errorf("Parse(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.local", "10.0.0.1/8/8", "1.2.3", "10.0.0.0/-1", "fe80::1%eth0/64"} {
		if _, err := Parse(bad); err == nil || !strings.Contains(err.Error(), "is not an address or CIDR") {
			t.Errorf("Parse(%q) = %v, want an explanation", bad, err)
		}
	}
	if r, _ := Parse(""); r.Enabled() {
		t.Error("an empty list trusts a proxy")
	}
}

// resolve runs one request from peer through the middleware and returns
// the address and scheme the handlers saw.
func resolve(t *testing.T, trusted, peer string, tlsConn bool, header http.Header) (string, bool) {
	t.Helper()
	rv, err := Parse(trusted)
	if err != nil {
		t.Fatal(err)
	}
	var gotAddr string
	var gotSecure bool
	h := rv.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAddr, gotSecure = r.RemoteAddr, Secure(r)
	}))
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = peer
	r.Header = header
	if tlsConn {
		r.TLS = &tls.ConnectionState{}
	}
	h.ServeHTTP(httptest.NewRecorder(), r)
	host, _, err := net.SplitHostPort(gotAddr)
	if err != nil {
		t.Fatalf("RemoteAddr %q is not host:port: %v", gotAddr, err)
	}
	return host, gotSecure
}

// TestHardening02RightMostUntrustedHop: X-Forwarded-For and
// X-Forwarded-Proto are believed only from a trusted peer, and then only
// as far as the right-most hop that is not itself a trusted proxy.
func TestHardening02RightMostUntrustedHop(t *testing.T) {
	xff := func(vals ...string) http.Header {
		h := http.Header{}
		for _, v := range vals {
			h.Add("X-Forwarded-For", v)
		}
		return h
	}
	withProto := func(h http.Header, p string) http.Header { h.Set("X-Forwarded-Proto", p); return h }
	cases := []struct {
		name, trusted, peer string
		tls                 bool
		header              http.Header
		wantHost            string
		wantSecure          bool
	}{
		{"no proxies: header ignored", "", "203.0.113.9:5000", false, withProto(xff("1.1.1.1"), "https"), "203.0.113.9", false},
		{"untrusted peer: header ignored", "10.0.0.0/8", "203.0.113.9:5000", false, withProto(xff("1.1.1.1"), "https"), "203.0.113.9", false},
		{"trusted peer, one hop", "10.0.0.0/8", "10.0.0.2:5000", false, xff("198.51.100.7"), "198.51.100.7", false},
		{"spoofed left part ignored", "10.0.0.0/8", "10.0.0.2:5000", false, xff("1.1.1.1, 198.51.100.7"), "198.51.100.7", false},
		{"chain of trusted proxies", "10.0.0.0/8", "10.0.0.2:5000", false, xff("1.1.1.1, 198.51.100.7, 10.9.9.9, 10.0.0.3"), "198.51.100.7", false},
		{"several header lines", "10.0.0.0/8", "10.0.0.2:5000", false, xff("1.1.1.1", "198.51.100.7", "10.0.0.3"), "198.51.100.7", false},
		{"every hop trusted: left-most", "10.0.0.0/8", "10.0.0.2:5000", false, xff("10.1.1.1, 10.2.2.2"), "10.1.1.1", false},
		{"garbage stops at last trusted hop", "10.0.0.0/8", "10.0.0.2:5000", false, xff("1.1.1.1, unknown, 10.0.0.3"), "10.0.0.3", false},
		{"garbage at the right: peer kept", "10.0.0.0/8", "10.0.0.2:5000", false, xff("1.1.1.1, unknown"), "10.0.0.2", false},
		{"no header: peer kept", "10.0.0.0/8", "10.0.0.2:5000", false, http.Header{}, "10.0.0.2", false},
		{"empty entries skipped", "10.0.0.0/8", "10.0.0.2:5000", false, xff(" , 198.51.100.7 ,, "), "198.51.100.7", false},
		{"hop with port", "10.0.0.0/8", "10.0.0.2:5000", false, xff("198.51.100.7:4711"), "198.51.100.7", false},
		{"IPv6 hop in brackets with port", "10.0.0.0/8", "10.0.0.2:5000", false, xff("[2001:db8::7]:4711"), "2001:db8::7", false},
		{"IPv6 hop in brackets", "10.0.0.0/8", "10.0.0.2:5000", false, xff("[2001:db8::7]"), "2001:db8::7", false},
		{"mapped hop unmapped", "10.0.0.0/8", "10.0.0.2:5000", false, xff("::ffff:198.51.100.7"), "198.51.100.7", false},
		{"zoned hop: zone dropped", "10.0.0.0/8", "10.0.0.2:5000", false, xff("fe80::7%eth0"), "fe80::7", false},
		{"IPv6 proxy", "::1", "[::1]:5000", false, xff("198.51.100.7"), "198.51.100.7", false},
		{"mapped peer matches IPv4 list", "127.0.0.1", "[::ffff:127.0.0.1]:5000", false, xff("198.51.100.7"), "198.51.100.7", false},
		{"mapped CIDR matches IPv4 peer", "::ffff:10.0.0.0/104", "10.0.0.2:5000", false, xff("198.51.100.7"), "198.51.100.7", false},
		{"zoned peer matches its address", "fe80::1", "[fe80::1%eth0]:5000", false, xff("198.51.100.7"), "198.51.100.7", false},
		{"proto https from trusted proxy", "10.0.0.0/8", "10.0.0.2:5000", false, withProto(xff("198.51.100.7"), "https"), "198.51.100.7", true},
		{"proto: nearest proxy wins", "10.0.0.0/8", "10.0.0.2:5000", false, withProto(xff("198.51.100.7"), "https, http"), "198.51.100.7", false},
		{"proto HTTPS any case", "10.0.0.0/8", "10.0.0.2:5000", false, withProto(http.Header{}, "HTTPS"), "10.0.0.2", true},
		{"direct TLS", "", "203.0.113.9:5000", true, http.Header{}, "203.0.113.9", true},
		{"direct TLS, untrusted proto ignored", "", "203.0.113.9:5000", true, withProto(http.Header{}, "http"), "203.0.113.9", true},
	}
	for _, c := range cases {
		host, secure := resolve(t, c.trusted, c.peer, c.tls, c.header)
		if host != c.wantHost || secure != c.wantSecure {
			t.Errorf("%s: got %s secure=%v, want %s secure=%v", c.name, host, secure, c.wantHost, c.wantSecure)
		}
	}
}

// TestSecureWithoutMiddleware: handlers reached without the middleware
// (tests, embedders) still learn the scheme from the connection.
func TestSecureWithoutMiddleware(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	if Secure(r) {
		t.Error("plain request reads as secure")
	}
	r.TLS = &tls.ConnectionState{}
	if !Secure(r) {
		t.Error("TLS request reads as plain")
	}
}

// FuzzClientFrom: whatever a client writes in X-Forwarded-For, the chosen
// address is one of the hops and never one to the left of an untrusted hop.
func FuzzClientFrom(f *testing.F) {
	f.Add("1.1.1.1, 198.51.100.7, 10.0.0.3", "10.0.0.0/8")
	f.Add("[2001:db8::7]:80,unknown,,10.1.1.1", "10.0.0.0/8,::1")
	f.Add("fe80::1%eth0, ::ffff:10.0.0.1", "::ffff:10.0.0.0/104")
	f.Add(strings.Repeat("10.0.0.1,", 50), "10.0.0.1")
	f.Fuzz(func(t *testing.T, header, trusted string) {
		rv, err := Parse(trusted)
		if err != nil {
			return
		}
		got, ok := rv.clientFrom([]string{header})
		// Walk the hops as a reference: the answer is the first untrusted
		// hop from the right, or the last good one before garbage/the end.
		hops := strings.Split(header, ",")
		var want netip.Addr
		for i := len(hops) - 1; i >= 0; i-- {
			h := strings.TrimSpace(hops[i])
			if h == "" {
				continue
			}
			a, good := parseHop(h)
			if !good {
				break
			}
			want = a
			if !rv.Trusts(a) {
				break
			}
		}
		if got != want || ok != want.IsValid() {
			t.Fatalf("clientFrom(%q, trusted %q) = %v %v, want %v", header, trusted, got, ok, want)
		}
		if !ok {
			return
		}
		if got.Zone() != "" || got.Is4In6() {
			t.Fatalf("address %v keeps a zone or a mapping", got)
		}
		// The middleware's rewrite is a valid host:port for everyone after it.
		if _, _, err := net.SplitHostPort(net.JoinHostPort(got.String(), "0")); err != nil {
			t.Fatalf("rewritten address %v: %v", got, err)
		}
	})
}
