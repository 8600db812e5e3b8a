package app

import (
	"io"
	"net/http"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	hintURI = regexp.MustCompile(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"?]+)`)
	partTag = regexp.MustCompile(`#EXT-X-PART:DURATION=([0-9.]+),.*URI="([^"?]+)`)
)

// partEnds reads, from an LL-HLS media playlist, the wall-clock time at
// which each listed part's media ends (EXT-X-PROGRAM-DATE-TIME plus the
// durations before it).
func partEnds(pl string, into map[string]time.Time) {
	var segStart, t time.Time
	for _, line := range strings.Split(pl, "\n") {
		switch {
		case strings.HasPrefix(line, "#EXT-X-PROGRAM-DATE-TIME:"):
			d, err := time.Parse(time.RFC3339Nano, strings.TrimPrefix(line, "#EXT-X-PROGRAM-DATE-TIME:"))
			if err == nil {
				segStart, t = d, d
			}
		case strings.HasPrefix(line, "#EXTINF:") && !segStart.IsZero():
			secs, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimPrefix(line, "#EXTINF:"), ","), 64)
			t = segStart.Add(time.Duration(secs * float64(time.Second)))
		case strings.HasPrefix(line, "#EXT-X-PART:") && !t.IsZero():
			if m := partTag.FindStringSubmatch(line); m != nil {
				secs, _ := strconv.ParseFloat(m[1], 64)
				t = t.Add(time.Duration(secs * float64(time.Second)))
				into[m[2]] = t
			}
		}
	}
}

// TestLLHLSPartLatency plays a live channel as an LL-HLS player does (ask
// for the preload-hinted part, then reload the playlist) and measures how
// long after its media ended each part was delivered. The publisher is
// ffmpeg sending the fixture in real time, so a part's media ends when the
// frame that starts the next one arrives: the delay is Livehouse's own.
func TestLLHLSPartLatency(t *testing.T) {
	n := startNode(t, "")
	key := n.createChannel("latency")
	publishFixtureFFmpeg(t, n.rtmp+"/"+key)
	waitForParts(t, n, "latency")
	base := n.http + "/hls/latency/"

	get := func(file string) (int, string) {
		res, err := http.Get(base + file + "?via=page")
		if err != nil {
			t.Fatalf("GET %s: %v", file, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	ends := map[string]time.Time{}
	delivered := map[string]time.Time{}
	_, pl := get("video1_stream.m3u8")
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) {
		m := hintURI.FindStringSubmatch(pl)
		if m == nil {
			t.Fatalf("no preload hint in\n%s", pl)
		}
		part := path.Base(m[1])
		code, _ := get(part)
		if code != http.StatusOK {
			t.Fatalf("hinted part %s: %d", part, code)
		}
		delivered[part] = time.Now()
		_, pl = get("video1_stream.m3u8")
		partEnds(pl, ends)
	}
	var delays []time.Duration
	for part, at := range delivered {
		if end, ok := ends[part]; ok {
			delays = append(delays, at.Sub(end))
		}
	}
	if len(delays) < 20 {
		t.Fatalf("only %d parts measured of %d delivered", len(delays), len(delivered))
	}
	slices.Sort(delays)
	pct := func(p int) time.Duration { return delays[(len(delays)-1)*p/100] }
	t.Logf("LL-HLS part delivery after its media ended, %d parts: min %v  p50 %v  p90 %v  max %v",
		len(delays), delays[0].Round(time.Millisecond), pct(50).Round(time.Millisecond),
		pct(90).Round(time.Millisecond), delays[len(delays)-1].Round(time.Millisecond))
	// A part is cut when the next one's first frame arrives; delivering it
	// should take a few milliseconds, not a part duration (200 ms).
	if pct(50) > 150*time.Millisecond {
		t.Errorf("median part delay %v: parts reach players late", pct(50))
	}
}
