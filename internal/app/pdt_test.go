package app

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
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
	node, chromium := needPlaywright(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds+60)*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "../../e2e/pdt.mjs", n.http, slug, strconv.Itoa(seconds))
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
		case len(f) == 3 && f[0] == "SAMPLE":
			p, _ := strconv.ParseFloat(f[1], 64)
			g, _ := strconv.ParseFloat(f[2], 64)
			pdt = append(pdt, time.Duration(p*float64(time.Millisecond)))
			glass = append(glass, time.Duration(g*float64(time.Millisecond)))
		case len(f) > 0 && f[0] == "DONE":
			done = true
		default:
			t.Log("browser: " + sc.Text())
		}
	}
	if err := cmd.Wait(); err != nil || !done {
		t.Fatalf("e2e/pdt.mjs: %v (done %v)", err, done)
	}
	return pdt, glass
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
	// The target is 100 ms (measured on an idle machine: see the issue
	// note); the test allows 250 ms at the median because the suite runs
	// ffmpeg, Chromium and servers side by side on two cores, and a
	// starved ffmpeg sends late. A clock anchored at the end of track
	// detection, as before, was 2 s off.
	if p := percentile(diff, 50); p > 250*time.Millisecond {
		t.Errorf("PROGRAM-DATE-TIME differs from the glass-to-glass delay by %v (p50), want within 100 ms (250 ms under load)", p)
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
	t.Logf("live %v after ffmpeg started", time.Since(start).Round(10*time.Millisecond))
	pdt, glass := measurePDT(t, n, "clock", 8)
	checkHonestPDT(t, pdt, glass)
}
