package webrtc

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/media"
)

const chromeOffer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdef0123456789\r\n" +
	"a=mid:0\r\na=sendonly\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96 102\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=sendonly\r\na=rtpmap:96 VP8/90000\r\n" +
	"a=rtpmap:102 H264/90000\r\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n"

func TestInspectOffer(t *testing.T) {
	info, err := inspectOffer([]byte(chromeOffer))
	if err != nil || !info.Video || !info.Audio || !info.Sending || info.Receiving || info.Ufrag != "abcd" {
		t.Fatalf("%+v %v", info, err)
	}
	mode0 := bytes.ReplaceAll([]byte(chromeOffer), []byte("packetization-mode=1"), []byte("packetization-mode=0"))
	if info, err := inspectOffer(mode0); err != nil || info.Video {
		t.Errorf("H.264 mode 0 is not usable: %+v %v", info, err)
	}
	noOpus := bytes.ReplaceAll(mode0, []byte("opus/48000/2"), []byte("PCMU/8000"))
	if _, err := inspectOffer(noOpus); !errors.Is(err, errNoUsableCodec) {
		t.Errorf("no usable codec: %v", err)
	}
	if _, err := inspectOffer([]byte("hello")); err == nil {
		t.Error("garbage accepted")
	}
}

func FuzzInspectOffer(f *testing.F) {
	f.Add([]byte(chromeOffer))
	f.Add([]byte("v=0\r\nm=video 0 RTP/AVP 96\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := inspectOffer(b)
		if err == nil && !info.Video && !info.Audio {
			t.Fatal("accepted an offer without a usable codec")
		}
	})
}

func TestParseTrickle(t *testing.T) {
	frag := "a=ice-ufrag:EsAw\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\n" +
		"a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1\r\n" +
		"a=candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ host generation 0 ufrag EsAw network-id 2\r\n" +
		"a=end-of-candidates\r\n"
	tr, err := parseTrickle(frag)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Ufrag != "EsAw" || len(tr.Candidates) != 2 || !tr.End || *tr.Candidates[0].SDPMid != "0" || *tr.Candidates[1].SDPMLineIndex != 0 {
		t.Fatalf("%+v", tr)
	}
	for _, bad := range []string{"hello", "a=candidate:1 1 udp 1 1.2.3.4 5 host\r\n", "a=ice-ufrag:a b\r\n"} {
		if _, err := parseTrickle(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func FuzzParseTrickle(f *testing.F) {
	f.Add("a=ice-ufrag:EsAw\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\na=candidate:1 1 udp 2122260223 192.0.2.1 61764 typ host\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		tr, err := parseTrickle(s)
		if err == nil && len(tr.Candidates) > maxTrickleCandidates {
			t.Fatal("too many candidates accepted")
		}
	})
}

// packetize runs a frame through the WHEP packetizer and returns its packets.
func packetize(t testing.TB, tr *media.Track, f media.Frame) []*rtp.Packet {
	o, err := newOutTrack(tr, "t")
	if err != nil {
		t.Fatal(err)
	}
	var pkts []*rtp.Packet
	o.w = collect(func(p *rtp.Packet) { c := *p; c.Payload = append([]byte(nil), p.Payload...); pkts = append(pkts, &c) })
	if err := o.write(f); err != nil {
		t.Fatal(err)
	}
	return pkts
}

type collect func(*rtp.Packet)

func (c collect) WriteRTP(p *rtp.Packet) error { c(p); return nil }

var testSPS = []byte{0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xe8, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40, 0x00, 0x00, 0x0f, 0x23, 0xc6, 0x0c, 0x92}

func TestPacketizeDepacketizeRoundTrip(t *testing.T) {
	tr := &media.Track{Codec: media.H264, SPS: testSPS, PPS: []byte{0x68, 0xce, 0x3c, 0x80}}
	big := make([]byte, 5000)
	big[0] = 0x65 // IDR
	for i := range big[1:] {
		big[i+1] = byte(i)
	}
	pkts := packetize(t, tr, media.Frame{Track: 0, PTS: time.Second, Data: [][]byte{{0x09, 0xf0}, big}, Key: true})
	if len(pkts) < 6 || !pkts[len(pkts)-1].Marker {
		t.Fatalf("%d packets", len(pkts))
	}
	// Delivered out of order: the reorderer puts them back.
	pkts[1], pkts[2] = pkts[2], pkts[1]
	r := newReorderer(64, time.Second)
	var d h264Depacketizer
	var got []au
	for _, p := range pkts {
		ordered, lost := r.push(p, time.Now())
		if lost != 0 {
			t.Fatalf("lost %d", lost)
		}
		for _, q := range ordered {
			aus, err := d.push(q)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, aus...)
		}
	}
	if len(got) != 1 || len(got[0].nalus) != 4 {
		t.Fatalf("got %d access units", len(got))
	}
	if !bytes.Equal(got[0].nalus[0], tr.SPS) || !bytes.Equal(got[0].nalus[3], big) {
		t.Fatal("access unit changed on the way")
	}

	// A lost fragment breaks the access unit; the next one is whole again.
	pkts = packetize(t, tr, media.Frame{PTS: time.Second, Data: [][]byte{big}})
	d = h264Depacketizer{}
	var broken bool
	for i, p := range pkts {
		if i == 1 {
			d.lost()
			continue
		}
		if _, err := d.push(p); err != nil {
			broken = true
		}
	}
	if !broken {
		t.Error("a frame with a lost fragment was not dropped")
	}
}

func FuzzDepacketize(f *testing.F) {
	f.Add([]byte{0x65, 1, 2, 3}, []byte{0x7c, 0x85, 1, 2}, []byte{0x18, 0, 2, 0x67, 0x42})
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		var d h264Depacketizer
		r := newReorderer(8, time.Millisecond)
		for i, payload := range [][]byte{a, b, c, a} {
			p := &rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(len(payload) * i), Timestamp: uint32(i / 2), Marker: i%2 == 1}, Payload: payload}
			ordered, lost := r.push(p, time.Now())
			if lost > 0 {
				d.lost()
			}
			for _, q := range ordered {
				aus, _ := d.push(q)
				for _, u := range aus {
					for _, n := range u.nalus {
						if len(n) == 0 {
							t.Fatal("empty NAL unit delivered")
						}
					}
				}
			}
		}
	})
}

func TestUnwrap(t *testing.T) {
	var u unwrapper
	for _, c := range []struct {
		in   uint32
		want int64
	}{{0xfffffff0, 0xfffffff0}, {0x10, 0x100000010}, {0xfffffff8, 0xfffffff8}, {0x20, 0x100000020}} {
		if got := u.unwrap(c.in); got != c.want {
			t.Errorf("unwrap(%#x) = %#x, want %#x", c.in, got, c.want)
		}
	}
}

func TestSessionCaps(t *testing.T) {
	s := &Server{sessions: map[string]*session{}, maxViewers: 3, maxPerAddr: 2, maxPublishers: 1,
		log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	view := func(addr string) error { return s.add(newSession(s, kindWHEP, "c", addr)) }
	if view("a") != nil || view("a") != nil {
		t.Fatal("first two refused")
	}
	if err := view("a"); err != errTooManyFromAddr {
		t.Errorf("third from one address: %v", err)
	}
	if view("b") != nil {
		t.Fatal("other address refused")
	}
	var p *httpjson.Problem
	if err := view("c"); !errors.As(err, &p) || p.Status != http.StatusServiceUnavailable {
		t.Errorf("over the total: %v", err)
	}
	if err := s.add(newSession(s, kindWHIP, "c", "a")); err != nil {
		t.Errorf("publisher counted against viewers: %v", err)
	}
	if err := s.add(newSession(s, kindWHIP, "d", "z")); err != errTooManySessions {
		t.Errorf("publisher over cap: %v", err)
	}
}
