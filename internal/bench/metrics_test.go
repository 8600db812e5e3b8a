package bench

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// TestServerHistogramsAreReadAndDiffed: the bench reads a histogram from a
// real /metrics, counts only what came after its first reading, and names
// the buckets holding p50 and p99.
func TestServerHistogramsAreReadAndDiffed(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "x_seconds", Help: "x",
		Buckets: prometheus.ExponentialBucketsRange(0.001, 10, 24)})
	reg.MustRegister(h)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for range 50 {
		h.Observe(5) // before the run: not counted
	}
	before := scrapeHistograms(srv.URL, "x_seconds", "missing_seconds")
	if _, ok := before["missing_seconds"]; ok {
		t.Fatal("a missing histogram was read")
	}
	for range 98 {
		h.Observe(0.005)
	}
	h.Observe(2)
	h.Observe(2)
	run := scrapeHistograms(srv.URL, "x_seconds")["x_seconds"].since(before["x_seconds"])
	p50, ok := run.quantile(0.5)
	if !ok || p50 < 0.005 || p50 > 0.0075 {
		t.Fatalf("p50 bound %v, want the bucket holding 5 ms", p50)
	}
	if p99, _ := run.quantile(0.99); p99 < 2 || p99 > 3 {
		t.Fatalf("p99 bound %v, want the bucket holding 2 s", p99)
	}
	if got := run.counts[len(run.counts)-1]; got != 100 {
		t.Fatalf("counted %d, want the run's 100", got)
	}
	if _, ok := (histogramSnapshot{}).quantile(0.5); ok {
		t.Fatal("an empty histogram has a quantile")
	}
	if scrapeHistograms("http://127.0.0.1:1", "x_seconds") == nil {
		t.Fatal("an unreachable server must give an empty map")
	}
}
