package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/livehouse/livehouse/internal/edge"
	"github.com/livehouse/livehouse/internal/media/flv"
	"github.com/livehouse/livehouse/internal/media/rtmp"
)

// EdgeOptions configure `livehouse bench edge`.
type EdgeOptions struct {
	Binary  string
	Fixture string
	DBURL   string // PostgreSQL shared by the origin and the edge
	Readers []int  // light LL-HLS reader counts, one run each
	Window  time.Duration
	Out     io.Writer
}

// RunEdge starts an origin and an edge (the edge pinned to core 0) on one
// PostgreSQL database and a NATS server in this process, publishes the
// fixture to the origin in real time, and for each reader count runs that
// many light LL-HLS readers (edge.ReadLLHLS, in this process) against the
// edge: the edge's CPU, the parts the readers got, the upstream requests
// per part the origin saw, and the edge's cache and RSS.
func RunEdge(ctx context.Context, o EdgeOptions) error {
	rec, err := flv.ReadFile(o.Fixture)
	if err != nil {
		return err
	}
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, JetStream: true})
	if err != nil {
		return fmt.Errorf("start NATS: %w", err)
	}
	ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		return fmt.Errorf("NATS did not start")
	}
	common := []string{"--db", o.DBURL, "--nats", ns.ClientURL(), "--public-host", "127.0.0.1"}
	origin, err := startServer(ctx, Options{Binary: o.Binary}, append(common, "--role", "origin")...)
	if err != nil {
		return err
	}
	defer origin.stop()
	edgeSrv, err := startPinnedServer(ctx, o.Binary, append(common, "--role", "edge", "--rtmp", "127.0.0.1:0")...)
	if err != nil {
		return err
	}
	defer edgeSrv.stop()
	key, err := origin.createChannel("edgebench")
	if err != nil {
		return err
	}
	pctx, stop := context.WithCancel(ctx)
	pubErr := make(chan error, 1)
	go func() {
		pubErr <- rtmp.PublishRecording(pctx, origin.rtmp+"/"+key, rec, rtmp.PublishOptions{Realtime: true, Loop: true})
	}()
	defer func() { stop(); <-pubErr }()
	index := edgeSrv.http + "/hls/edgebench/index.m3u8"
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get(index)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the edge never served the stream")
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	pid := edgeSrv.cmd.Process.Pid
	rss0, _ := rssKiB(pid)
	fmt.Fprintf(o.Out, "Edge pull-through: origin + edge (edge pinned to core 0), fixture %s, %v windows; readers run in this process\n", o.Fixture, o.Window)
	fmt.Fprintf(o.Out, "edge RSS before any reader: %d MiB\n", rss0/1024)
	// A reader that keeps up fetches every part; one that falls behind (the
	// load generator shares the machine) fewer. Full-rate viewers per core
	// is the egress per core of the edge over what one reader that keeps
	// up receives (the first run's rate, or the stream's).
	fmt.Fprintf(o.Out, "%8s %9s %7s %13s %10s %15s %15s %10s %8s\n", "readers", "parts/s", "errors", "egress Mbit/s", "edge CPU%",
		"full-rate v/core", "origin req/part", "cache MiB", "RSS MiB")
	perViewer := 0.0
	for _, n := range o.Readers {
		part0 := edgeMetric(origin.http, `livehouse_hls_edge_requests_total{kind="part"}`)
		cpu0, err := cpuTicks(pid)
		if err != nil {
			return err
		}
		t0 := time.Now()
		st := &edge.ReaderStats{}
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n * 2}, Timeout: 15 * time.Second}
		rctx, cancel := context.WithTimeout(ctx, o.Window)
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = edge.ReadLLHLS(rctx, client, index, st)
			}()
		}
		wg.Wait()
		cancel()
		client.CloseIdleConnections()
		elapsed := time.Since(t0).Seconds()
		cpu1, _ := cpuTicks(pid)
		part1 := edgeMetric(origin.http, `livehouse_hls_edge_requests_total{kind="part"}`)
		cpuPct := float64(cpu1-cpu0) / clockTicks / elapsed * 100
		egress := float64(st.Bytes.Load()) * 8 / elapsed / 1e6
		if perViewer == 0 {
			perViewer = egress / float64(n)
		}
		perCore := 0.0
		if cpuPct > 0 && perViewer > 0 {
			perCore = egress / perViewer / (cpuPct / 100)
		}
		perPart := 0.0
		if d := st.DistinctParts(); d > 0 {
			perPart = (part1 - part0) / float64(d)
		}
		cache := edgeMetric(edgeSrv.http, "livehouse_edge_cache_bytes")
		rss, _ := rssKiB(pid)
		fmt.Fprintf(o.Out, "%8d %9.0f %7d %13.1f %10.1f %15.0f %15.2f %10.1f %8d\n", n, float64(st.Parts.Load())/elapsed, st.Errors.Load(),
			egress, cpuPct, perCore, perPart, cache/(1<<20), rss/1024)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

func edgeMetric(base, series string) float64 {
	res, err := http.Get(base + "/metrics")
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` ([0-9.e+-]+)$`).FindSubmatch(raw)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}
