// Package clientaddr decides who a request really came from and whether it
// arrived over TLS. Behind a reverse proxy the TCP peer is the proxy; only
// proxies the operator listed (--trusted-proxies) are believed when they say
// X-Forwarded-For / X-Forwarded-Proto, so a client cannot pick its own
// address to dodge rate limits or inflate viewer counts.
package clientaddr

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver knows which peers are trusted proxies. The zero value trusts none.
type Resolver struct {
	trusted []netip.Prefix
}

// Parse reads a comma-separated list of CIDRs or bare addresses
// ("10.0.0.0/8, 127.0.0.1, ::1"); empty trusts no proxy.
func Parse(list string) (Resolver, error) {
	var r Resolver
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return Resolver{}, fmt.Errorf("trusted proxy %q is not an address or CIDR like 10.0.0.0/8", f)
			}
			// Peers are compared unmapped, so ::ffff:10.0.0.0/104 must
			// become 10.0.0.0/8 or it would never match.
			if p.Addr().Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			r.trusted = append(r.trusted, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return Resolver{}, fmt.Errorf("trusted proxy %q is not an address or CIDR like 10.0.0.0/8", f)
		}
		a = a.Unmap().WithZone("")
		r.trusted = append(r.trusted, netip.PrefixFrom(a, a.BitLen()))
	}
	return r, nil
}

// Trusts reports whether addr is a trusted proxy.
func (rv Resolver) Trusts(addr netip.Addr) bool {
	// A prefix never contains a zoned address; fe80::1%eth0 is fe80::1.
	addr = addr.Unmap().WithZone("")
	for _, p := range rv.trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Enabled reports whether any proxy is trusted.
func (rv Resolver) Enabled() bool { return len(rv.trusted) > 0 }

type secureKey struct{}

// Middleware rewrites r.RemoteAddr to the real client ("ip:0") when the peer
// is a trusted proxy, and records whether the original request was HTTPS.
// Everything after it (rate limits, viewer counts, logs) reads RemoteAddr.
func (rv Resolver) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secure := r.TLS != nil
		if peer, ok := peerAddr(r.RemoteAddr); ok && rv.Trusts(peer) {
			if client, ok := rv.clientFrom(r.Header.Values("X-Forwarded-For")); ok {
				r.RemoteAddr = net.JoinHostPort(client.String(), "0")
			}
			if proto := lastValue(r.Header.Values("X-Forwarded-Proto")); proto != "" {
				secure = strings.EqualFold(proto, "https") || strings.EqualFold(proto, "wss")
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), secureKey{}, secure)))
	})
}

// Secure reports whether the request reached Livehouse over TLS, directly or
// through a trusted proxy that said so.
func Secure(r *http.Request) bool {
	if v, ok := r.Context().Value(secureKey{}).(bool); ok {
		return v
	}
	return r.TLS != nil
}

// clientFrom walks X-Forwarded-For from the right (the hop nearest to us)
// and returns the first address that is not a trusted proxy: everything to
// its left was written by the client and cannot be believed. If every hop is
// trusted, the left-most one is the client. A hop that is not an address
// stops the walk at the last good (trusted) hop. It reads the headers in
// place, so a huge forged header costs no allocation.
func (rv Resolver) clientFrom(headers []string) (netip.Addr, bool) {
	var last netip.Addr
	for i := len(headers) - 1; i >= 0; i-- {
		h := headers[i]
		for h != "" {
			var hop string
			if j := strings.LastIndexByte(h, ','); j >= 0 {
				hop, h = h[j+1:], h[:j]
			} else {
				hop, h = h, ""
			}
			if hop = strings.TrimSpace(hop); hop == "" {
				continue
			}
			a, ok := parseHop(hop)
			if !ok {
				return last, last.IsValid()
			}
			last = a
			if !rv.Trusts(a) {
				return a, true
			}
		}
	}
	return last, last.IsValid()
}

// parseHop reads one X-Forwarded-For entry: an address, optionally with a
// port or in brackets.
func parseHop(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	if len(s) > 1 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	// A zone names an interface of the proxy's host, not a client; keeping
	// it would let one client appear as many.
	return a.Unmap().WithZone(""), true
}

func peerAddr(remote string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap(), true
	}
	a, err := netip.ParseAddr(remote)
	return a.Unmap(), err == nil
}

// lastValue is the right-most comma-separated value of a header (the one
// the nearest proxy wrote).
func lastValue(headers []string) string {
	if len(headers) == 0 {
		return ""
	}
	h := headers[len(headers)-1]
	if i := strings.LastIndexByte(h, ','); i >= 0 {
		h = h[i+1:]
	}
	return strings.TrimSpace(h)
}
