package filter

import (
	"context"
	"math/rand/v2"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"
)

// benchTerms is the suite's list grown to n terms with seeded random
// Chinese (a tenth with pinyin) and English words.
func benchTerms(tb testing.TB, n int) []Term {
	terms := readSuiteTerms(tb)
	rng := rand.New(rand.NewPCG(10000, 1))
	seen := map[string]bool{}
	for _, t := range terms {
		seen[t.Term] = true
	}
	for len(terms) < n {
		var s []rune
		if rng.IntN(2) == 0 {
			for range 2 + rng.IntN(2) {
				s = append(s, rune(0x4E00+rng.IntN(0x51A5)))
			}
		} else {
			for range 5 + rng.IntN(5) {
				s = append(s, rune('a'+rng.IntN(26)))
			}
		}
		if seen[string(s)] {
			continue
		}
		seen[string(s)] = true
		terms = append(terms, Term{Term: string(s), Action: "block", Category: "custom", Pinyin: s[0] > 0x4E00 && rng.IntN(10) == 0})
	}
	return terms
}

// benchMessages: nine clean chat lines to one evasion, as a busy room.
func benchMessages(tb testing.TB) []string {
	clean, vars := readClean(tb), readVariants(tb)
	var out []string
	for i := range 20000 {
		if i%10 == 9 {
			out = append(out, vars[i%len(vars)].Text)
		} else {
			out = append(out, clean[(i*7)%len(clean)])
		}
	}
	return out
}

func benchEngine(tb testing.TB) *Engine {
	m, err := DefaultModel()
	if err != nil {
		tb.Fatal(err)
	}
	return memEngine(tb, benchTerms(tb, 10000), m, 2)
}

// BenchmarkCheck is the whole filter per message (normalisation, 10,000
// terms, spam heuristics and waves, classifier). Run with -cpu 1 for the
// per-core rate.
func BenchmarkCheck(b *testing.B) {
	e := benchEngine(b)
	msgs := benchMessages(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		e.Check(ctx, Input{Text: msgs[i%len(msgs)], Level: 2, Kind: "chat", UserID: int64(i%997 + 1), Room: "bench"})
		i++
	}
	// On a shared machine wall time counts other processes' turns too;
	// the process's own CPU time is what one core spends per message.
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
	b.ReportMetric(float64(b.N)/(cpuTime()-cpu0).Seconds(), "msg/cpu-s")
}

// TestCheckLatency measures per-message latency (p50, p99) and the memory
// of 10,000 terms plus the model; it logs the figures (the machine is
// shared, so only a loose bound is asserted).
func TestCheckLatency(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("figures: not under -short or the race detector")
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	e := benchEngine(t)
	runtime.GC()
	runtime.ReadMemStats(&after)
	msgs := benchMessages(t)
	ctx := context.Background()
	for _, m := range msgs[:2000] { // warm up
		e.Check(ctx, Input{Text: m, Level: 2})
	}
	d := make([]time.Duration, 0, 100000)
	cpu0 := cpuTime()
	for i := range 100000 {
		in := Input{Text: msgs[i%len(msgs)], Level: 2, Kind: "chat", UserID: int64(i%997 + 1), Room: "bench"}
		s := time.Now()
		e.Check(ctx, in)
		d = append(d, time.Since(s))
	}
	cpu := cpuTime() - cpu0
	slices.Sort(d)
	p := func(q float64) time.Duration { return d[int(q*float64(len(d)-1))] }
	t.Logf("10,000 terms + model: heap %.1f MiB; Check p50 %v p99 %v p99.9 %v max %v; %.0f msg per CPU-second (this process's CPU time, timing included)",
		float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), p(0.5), p(0.99), p(0.999), d[len(d)-1], float64(len(d))/cpu.Seconds())
	if p(0.5) > 2*time.Millisecond {
		t.Fatalf("median %v: something is badly wrong", p(0.5))
	}
}

// cpuTime is the CPU time this process used (user + system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
