package rtmp

import (
	"net/url"
	"strings"
	"testing"

	"github.com/livehouse/livehouse/internal/media"
)

func TestPublishKey(t *testing.T) {
	cases := []struct {
		url, key string
		ok       bool
	}{
		{"rtmp://h/live/sk_abcdefgh12345678", "sk_abcdefgh12345678", true},
		{"rtmp://h:1935/live/ABC-def_123", "ABC-def_123", true},
		{"rtmp://h/live/short", "", false},
		{"rtmp://h/app/sk_abcdefgh12345678", "", false},
		{"rtmp://h/live", "", false},
		{"rtmp://h/live/", "", false},
		{"rtmp://h/live/sk_abc/extra", "", false},
		{"rtmp://h/live/sk_abc%20defghijk", "", false},
		{"rtmp://h//live/sk_abcdefgh12345678", "", false},
	}
	for _, c := range cases {
		u, err := url.Parse(c.url)
		if err != nil {
			t.Fatal(err)
		}
		key, err := PublishKey(u)
		if (err == nil) != c.ok || key != c.key {
			t.Errorf("PublishKey(%s) = %q, %v; want %q ok=%v", c.url, key, err, c.key, c.ok)
		}
	}
	if _, err := PublishKey(nil); err == nil {
		t.Error("PublishKey(nil) succeeded")
	}
}

func FuzzPublishKey(f *testing.F) {
	f.Add("/live/sk_abcdefgh12345678")
	f.Add("/live/../../etc/passwd")
	f.Add("/live/\x00\x01")
	f.Fuzz(func(t *testing.T, p string) {
		key, err := PublishKey(&url.URL{Path: p})
		if err != nil {
			return
		}
		if !media.ValidStreamKey(key) || strings.TrimPrefix(p, "/") != "live/"+key {
			t.Fatalf("accepted %q as key %q", p, key)
		}
	})
}
