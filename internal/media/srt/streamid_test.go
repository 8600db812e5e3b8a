package srt

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/media"
)

func TestParseStreamID(t *testing.T) {
	const key = "sk_abcdefgh12345678"
	cases := []struct {
		id   string
		want StreamID
		ok   bool
	}{
		{"publish:" + key, StreamID{ModePublish, key}, true},
		{"read:" + key, StreamID{Mode: ModeRead}, true},
		{"#!::r=" + key + ",m=publish", StreamID{ModePublish, key}, true},
		{"#!::m=publish,r=" + key, StreamID{ModePublish, key}, true},
		{"#!::u=obs,r=" + key + ",m=publish,s=abc,h=example.com,t=stream", StreamID{ModePublish, key}, true},
		{"#!::r=" + key, StreamID{Mode: ModeRead}, true}, // m defaults to request
		{"#!::r=" + key + ",m=request", StreamID{Mode: ModeRead}, true},
		{"%23!::r=" + key + ",m=publish", StreamID{ModePublish, key}, true}, // still URL-encoded
		{"publish%3A" + key, StreamID{ModePublish, key}, true},
		{"publish:" + key + "%", StreamID{}, false},
		{"publish:" + key + "%20", StreamID{}, false},
		{"", StreamID{}, false},
		{key, StreamID{}, false},
		{"publish:", StreamID{}, false},
		{"publish:short", StreamID{}, false},
		{"publish:" + key + ":user:pass", StreamID{}, false},
		{"publish:live/" + key, StreamID{}, false},
		{"play:" + key, StreamID{}, false},
		{"#!::m=publish", StreamID{}, false},
		{"#!::r=" + key + ",m=publish,r=" + key, StreamID{}, false},
		{"#!::r=" + key + ",m=bidirectional", StreamID{}, false},
		{"#!::r=" + key + ",m=publish,t=file", StreamID{}, false},
		{"#!::r=" + key + ",m=publish,", StreamID{}, false},
		{"#!::r=" + key + ";m=publish", StreamID{}, false},
		{"publish:" + strings.Repeat("a", 600), StreamID{}, false},
	}
	for _, c := range cases {
		got, err := ParseStreamID(c.id)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseStreamID(%q) = %+v, %v; want %+v ok=%v", c.id, got, err, c.want, c.ok)
		}
		if err != nil && strings.Contains(err.Error(), key) {
			t.Errorf("ParseStreamID(%q): error quotes the key: %v", c.id, err)
		}
	}
}

func FuzzParseStreamID(f *testing.F) {
	f.Add("publish:sk_abcdefgh12345678")
	f.Add("#!::u=obs,r=sk_abcdefgh12345678,m=publish")
	f.Add("#!::r=a=b,,m=")
	f.Add("read:\x00")
	f.Fuzz(func(t *testing.T, id string) {
		sid, err := ParseStreamID(id)
		if err != nil {
			if sid != (StreamID{}) {
				t.Fatalf("%q: error %v with a result %+v", id, err, sid)
			}
			return
		}
		switch sid.Mode {
		case ModePublish:
			dec, _ := url.PathUnescape(id)
			if !media.ValidStreamKey(sid.Key) || !(strings.Contains(id, sid.Key) || strings.Contains(dec, sid.Key)) {
				t.Fatalf("%q gave key %q", id, sid.Key)
			}
		case ModeRead:
			if sid.Key != "" {
				t.Fatalf("%q: a read request kept a key", id)
			}
		default:
			t.Fatalf("%q: mode %d", id, sid.Mode)
		}
	})
}

func TestWrapDiffAndTicks(t *testing.T) {
	const wrap = int64(1) << 33
	cases := []struct{ a, b, want int64 }{
		{100, 40, 60},
		{40, 100, -60},
		{5, wrap - 5, 10},  // a just past the wrap
		{wrap - 5, 5, -10}, // b just past it
	}
	for _, c := range cases {
		if got := wrapDiff(c.a, c.b); got != c.want {
			t.Errorf("wrapDiff(%d, %d) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
	if d := ticksToDuration(90000*3600*24*40 + 45000); d != 40*24*time.Hour+500*time.Millisecond {
		t.Fatalf("40 days: %v", d)
	}
	if d := ticksToDuration(-3000); d != -time.Second/30 {
		t.Fatalf("negative: %v", d)
	}
}
