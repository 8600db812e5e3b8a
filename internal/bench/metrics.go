package bench

import (
	"fmt"
	"math"
	"net/http"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Server-side latency, read from the server's /metrics before and after a
// run: it tells the server's share of what the generator measured from the
// generator's own (a busy generator reads late).

// histogramSnapshot is one histogram's cumulative bucket counts.
type histogramSnapshot struct {
	bounds []float64
	counts []uint64
}

// scrapeHistograms reads the named histograms from base/metrics; a server
// whose /metrics is guarded or lacks one gives none for it.
func scrapeHistograms(base string, names ...string) map[string]histogramSnapshot {
	out := map[string]histogramSnapshot{}
	client := &http.Client{Timeout: 5 * time.Second}
	res, err := client.Get(base + "/metrics")
	if err != nil {
		return out
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return out
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		return out
	}
	for _, name := range names {
		f, ok := families[name]
		if !ok || f.GetType() != dto.MetricType_HISTOGRAM || len(f.GetMetric()) == 0 {
			continue
		}
		var s histogramSnapshot
		for _, b := range f.GetMetric()[0].GetHistogram().GetBucket() {
			s.bounds = append(s.bounds, b.GetUpperBound())
			s.counts = append(s.counts, b.GetCumulativeCount())
		}
		out[name] = s
	}
	return out
}

// since is what the histogram counted after before was taken.
func (s histogramSnapshot) since(before histogramSnapshot) histogramSnapshot {
	out := histogramSnapshot{bounds: s.bounds, counts: make([]uint64, len(s.counts))}
	for i, c := range s.counts {
		if i < len(before.counts) {
			c -= before.counts[i]
		}
		out.counts[i] = c
	}
	return out
}

// quantile is the upper bound of the bucket holding quantile q (+Inf past
// the last bound); ok is false when nothing was counted.
func (s histogramSnapshot) quantile(q float64) (bound float64, ok bool) {
	if len(s.counts) == 0 || s.counts[len(s.counts)-1] == 0 {
		return 0, false
	}
	total := s.counts[len(s.counts)-1]
	want := uint64(math.Ceil(q * float64(total)))
	for i, c := range s.counts {
		if c >= want {
			return s.bounds[i], true
		}
	}
	return math.Inf(1), true
}

// describe prints "p50 ≤ X  p99 ≤ Y (N)" for a histogram of seconds.
func (s histogramSnapshot) describe() string {
	p50, ok := s.quantile(0.50)
	if !ok {
		return "none counted"
	}
	p99, _ := s.quantile(0.99)
	return fmt.Sprintf("p50 ≤ %v  p99 ≤ %v (%d counted; bucket bounds)", seconds(p50), seconds(p99), s.counts[len(s.counts)-1])
}

func seconds(v float64) string {
	if math.IsInf(v, 1) {
		return "+Inf"
	}
	return time.Duration(v * float64(time.Second)).Round(100 * time.Microsecond).String()
}
