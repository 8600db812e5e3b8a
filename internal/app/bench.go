package app

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/livehouse/livehouse/internal/bench"
)

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "chat" {
		return runChatBench(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "whep" {
		return runWHEPBench(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "edge" {
		return runEdgeBench(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "gifts" {
		fs := flag.NewFlagSet("livehouse bench gifts", flag.ContinueOnError)
		fs.SetOutput(stderr)
		senders := fs.Int("senders", 50, "concurrent senders gifting one streamer")
		duration := fs.Duration("duration", 10*time.Second, "how long to send")
		db := fs.String("db", "", "database URL (empty: a fresh SQLite file; postgres://… to bench PostgreSQL)")
		cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *senders < 1 || *senders > 10000 {
			return fmt.Errorf("--senders must be 1 to 10000")
		}
		return bench.RunGifts(ctx, bench.GiftOptions{DBURL: *db, Senders: *senders, Duration: *duration, Migrations: Migrations(),
			Out: stdout, CPUProfile: *cpuProfile})
	}
	fs := flag.NewFlagSet("livehouse bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fixture := fs.String("fixture", "testdata/fixture.flv", "FLV (H.264 + AAC) each publisher sends, looped in real time")
	streams := fs.String("streams", "1,10,50", "comma-separated publisher counts for the CPU/RSS runs")
	warmup := fs.Duration("warmup", 8*time.Second, "time before measuring each CPU/RSS run")
	window := fs.Duration("window", 20*time.Second, "CPU/RSS measurement window")
	lagSamples := fs.Int("lag-frames", 900, "video frames to time in the lag run (30 per second)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var counts []int
	for _, s := range strings.Split(*streams, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 100 {
			return fmt.Errorf("--streams: %q is not a count from 1 to 100", s)
		}
		counts = append(counts, n)
	}
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	return bench.Run(ctx, bench.Options{
		Binary: bin, Fixture: *fixture, Streams: counts,
		Warmup: *warmup, Window: *window, LagSamples: *lagSamples, Out: stdout,
	})
}

func runChatBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("livehouse bench chat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "", "base URL of a running server (empty: start one pinned to core 0); it needs a channel named bench and accounts bench-sender-N")
	password := fs.String("password", "", "with --url: the password of the bench-sender-N accounts")
	conns := fs.Int("conns", 1000, "WebSocket viewers in the room")
	rate := fs.Int("rate", 20, "messages per second (each from its own account, one a second)")
	duration := fs.Duration("duration", 20*time.Second, "how long to send")
	cpuProfile := fs.String("cpuprofile", "", "the started server writes a CPU profile of its whole run to this file (go tool pprof)")
	postHTTP := fs.Bool("post-http", false, "senders post over HTTP (POST /api/rooms/bench/danmaku) instead of their WebSocket")
	sample := fs.Int("sample", 200, "viewers that measure latency (the others only count deliveries, so the generator stays cheap)")
	target := fs.String("target", "livehouse", "the server under test: livehouse, or centrifugo (the same viewers subscribe to its channel bench; senders publish over its HTTP API)")
	centrifugo := fs.String("centrifugo", "centrifugo", "with --target centrifugo: the centrifugo (v6) executable to start pinned to core 0")
	apiKey := fs.String("api-key", "", "with --target centrifugo and --url: the HTTP API key of that Centrifugo")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *conns < 1 || *conns > 50000 || *rate < 0 || *rate > 2000 {
		return fmt.Errorf("--conns must be 1 to 50000 and --rate 0 to 2000")
	}
	// The generator holds a socket per viewer, as the server does.
	if limit, err := raiseOpenFileLimit(); limit > 0 && uint64(*conns)+1000 > limit {
		fmt.Fprintf(stderr, "warning: the open-file limit is %d (%v); %d viewers may not all connect\n", limit, err, *conns)
	}
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	return bench.RunChat(ctx, bench.ChatOptions{Binary: bin, URL: *url, Password: *password, Conns: *conns, Rate: *rate, Duration: *duration, Out: stdout, CPUProfile: *cpuProfile, Sample: *sample, PostHTTP: *postHTTP,
		Target: *target, Centrifugo: *centrifugo, APIKey: *apiKey})
}

func runWHEPBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("livehouse bench whep", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fixture := fs.String("fixture", "testdata/fixture.flv", "FLV (H.264 + AAC) published over RTMP, looped in real time")
	viewers := fs.String("viewers", "50,200", "comma-separated WHEP viewer counts, one run each")
	duration := fs.Duration("duration", 20*time.Second, "CPU measuring window per run")
	cpuProfile := fs.String("cpuprofile", "", "the server writes a CPU profile of its whole run to this file (go tool pprof)")
	server := fs.String("server", "", "livehouse binary to run as the server (empty: this one); compares two builds with the same viewers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var counts []int
	for _, s := range strings.Split(*viewers, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 1000 {
			return fmt.Errorf("--viewers: %q is not a count from 1 to 1000", s)
		}
		counts = append(counts, n)
	}
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	if *server != "" {
		bin = *server
	}
	return bench.RunWHEP(ctx, bench.WHEPOptions{Binary: bin, Fixture: *fixture, Viewers: counts, Duration: *duration, Out: stdout, CPUProfile: *cpuProfile})
}

func runEdgeBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("livehouse bench edge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fixture := fs.String("fixture", "testdata/fixture.flv", "FLV (H.264 + AAC) published to the origin over RTMP, looped in real time")
	readers := fs.String("readers", "1,100,1000", "comma-separated light LL-HLS reader counts, one run each")
	window := fs.Duration("window", 10*time.Second, "how long each run reads")
	db := fs.String("db", "", "PostgreSQL URL the origin and the edge share (postgres://…); required")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !strings.HasPrefix(*db, "postgres") {
		return fmt.Errorf("--db must be a PostgreSQL URL: two processes share it")
	}
	var counts []int
	for _, s := range strings.Split(*readers, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 20000 {
			return fmt.Errorf("--readers: %q is not a count from 1 to 20000", s)
		}
		counts = append(counts, n)
	}
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	return bench.RunEdge(ctx, bench.EdgeOptions{Binary: bin, Fixture: *fixture, DBURL: *db, Readers: counts, Window: *window, Out: stdout})
}
