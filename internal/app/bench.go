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
