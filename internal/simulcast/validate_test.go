package simulcast

import (
	"os"
	"strings"
	"testing"
)

func TestParseDestURL(t *testing.T) {
	good := map[string]string{
		"rtmp://a.rtmp.youtube.com/live2":           ProtoRTMP,
		"rtmps://live-api-s.facebook.com:443/rtmp/": ProtoRTMPS,
		"RTMP://127.0.0.1:1935/live":                ProtoRTMP,
		"srt://ingest.example:9000?streamid=x":      ProtoSRT,
	}
	for in, want := range good {
		if got, err := parseDestURL(in); err != nil || got != want {
			t.Errorf("parseDestURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "http://x/live", "rtmp:///live", "rtmp://u:p@host/live", "rtmp://host/live#k",
		"file:///etc/passwd", "rtmp://host:99999/live", "srt://host:9000/path", "rtmp://host/li\nve", "rtmp:host/live",
		"rtmp://" + strings.Repeat("a", 2000)} {
		if _, err := parseDestURL(in); err == nil {
			t.Errorf("parseDestURL(%q) accepted", in)
		}
	}
}

func FuzzParseDestURL(f *testing.F) {
	for _, s := range []string{"rtmp://a/b", "srt://h:1?streamid=x", "rtmps://h:443/app/", "rtmp://[::1]:1935/live", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		proto, err := parseDestURL(s)
		if err != nil {
			return
		}
		if proto != ProtoRTMP && proto != ProtoRTMPS && proto != ProtoSRT {
			t.Fatalf("protocol %q for %q", proto, s)
		}
		if strings.ContainsAny(s, "\r\n\x00") {
			t.Fatalf("accepted a control character: %q", s)
		}
	})
}

func TestSealRoundTrip(t *testing.T) {
	key, err := loadKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := newSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s.seal("live_abcd1234", []byte("7"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "abcd1234") {
		t.Fatal("sealed text contains the key")
	}
	if got, err := s.open(sealed, []byte("7")); err != nil || got != "live_abcd1234" {
		t.Fatalf("open = %q, %v", got, err)
	}
	if _, err := s.open(sealed, []byte("8")); err == nil {
		t.Fatal("a key sealed for channel 7 opened for channel 8")
	}
}

func TestKeyFileIsPrivateAndStable(t *testing.T) {
	dir := t.TempDir()
	k1, err := loadKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := loadKey(dir)
	if err != nil || string(k1) != string(k2) {
		t.Fatalf("second load differs: %v", err)
	}
	st, err := os.Stat(dir + "/" + KeyFileName)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, %v", st.Mode().Perm(), err)
	}
}
