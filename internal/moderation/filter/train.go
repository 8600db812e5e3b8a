package filter

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// TrainOptions shape a training run. The defaults were chosen on COLD's
// dev split with the model trained on train only (README.md).
type TrainOptions struct {
	Seed   int64
	Bits   int     // table size 1<<Bits (default 18)
	Epochs int     // default 6
	Rate   float64 // AdaGrad step (default 0.2)
	L2     float64 // per-step weight decay (default 1e-6)
}

func (o *TrainOptions) defaults() {
	if o.Bits == 0 {
		o.Bits = 18
	}
	if o.Epochs == 0 {
		o.Epochs = 6
	}
	if o.Rate == 0 {
		o.Rate = 0.2
	}
	if o.L2 == 0 {
		o.L2 = 1e-6
	}
}

// Train fits a model to samples: logistic loss, AdaGrad, the samples
// visited in an order drawn from Seed, so one seed gives one model.
func Train(samples []Sample, o TrainOptions) *Model {
	o.defaults()
	m := &Model{Category: "hate", Bits: o.Bits, Seed: o.Seed, W: make([]float32, 1<<o.Bits)}
	g2 := make([]float64, 1<<o.Bits)
	var bg2 float64
	type doc struct {
		b []uint32
		y float64
	}
	docs := make([]doc, 0, len(samples))
	for _, s := range samples {
		n := Normalize(s.Text)
		var b []uint32
		features(n, o.Bits, func(x uint32) { b = append(b, x) })
		y := 0.0
		if s.Offensive {
			y = 1
		}
		docs = append(docs, doc{b, y})
	}
	rng := rand.New(rand.NewPCG(uint64(o.Seed), 0x6c697665686f7573))
	order := make([]int, len(docs))
	for i := range order {
		order[i] = i
	}
	for range o.Epochs {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, i := range order {
			d := docs[i]
			scale := 1.0
			if len(d.b) > 0 {
				scale = 1 / math.Sqrt(float64(len(d.b)))
			}
			z := float64(m.Bias)
			for _, b := range d.b {
				z += float64(m.W[b]) * scale
			}
			g := sigmoid(z) - d.y
			bg2 += g * g
			m.Bias -= float32(o.Rate * g / math.Sqrt(bg2+1e-8))
			for _, b := range d.b {
				gw := g*scale + o.L2*float64(m.W[b])
				g2[b] += gw * gw
				m.W[b] -= float32(o.Rate * gw / math.Sqrt(g2[b]+1e-8))
			}
		}
	}
	m.Version = fmt.Sprintf("ngram-lr-%s-s%d-n%d", time.Now().UTC().Format("20060102T150405"), o.Seed, len(samples))
	return m
}

// Metrics of a model on labelled samples at the contract's cut (50).
type Metrics struct {
	N        int     `json:"n"`
	Accuracy float64 `json:"accuracy"`
	MacroF1  float64 `json:"macro_f1"`
	F1Off    float64 `json:"f1_offensive"`
	F1Safe   float64 `json:"f1_safe"`
}

func (x Metrics) String() string {
	return fmt.Sprintf("n=%d accuracy=%.4f macro-F1=%.4f (offensive F1 %.4f, safe F1 %.4f)", x.N, x.Accuracy, x.MacroF1, x.F1Off, x.F1Safe)
}

// Evaluate scores m on samples.
func Evaluate(m *Model, samples []Sample) Metrics {
	var tp, fp, tn, fn float64
	for _, s := range samples {
		off := m.Score(Normalize(s.Text)) >= 50
		switch {
		case off && s.Offensive:
			tp++
		case off && !s.Offensive:
			fp++
		case !off && s.Offensive:
			fn++
		default:
			tn++
		}
	}
	f1 := func(tp, fp, fn float64) float64 {
		if tp == 0 {
			return 0
		}
		return 2 * tp / (2*tp + fp + fn)
	}
	x := Metrics{N: len(samples), F1Off: f1(tp, fp, fn), F1Safe: f1(tn, fn, fp)}
	if x.N > 0 {
		x.Accuracy = (tp + tn) / float64(x.N)
	}
	x.MacroF1 = (x.F1Off + x.F1Safe) / 2
	return x
}

// ReadCOLD reads one COLD split (train.csv or dev.csv under dir): a CSV
// with a byte-order mark, columns id, split, topic, label, TEXT, and
// quoted newlines inside texts.
func ReadCOLD(dir, split string) ([]Sample, error) {
	f, err := os.Open(filepath.Join(dir, split+".csv"))
	if err != nil {
		return nil, fmt.Errorf("COLD %s: %w", split, err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("COLD %s header: %w", split, err)
	}
	label, text := -1, -1
	for i, h := range head {
		switch strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")) {
		case "label":
			label = i
		case "TEXT":
			text = i
		}
	}
	if label < 0 || text < 0 {
		return nil, fmt.Errorf("COLD %s: no label/TEXT columns in %q", split, head)
	}
	var out []Sample
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("COLD %s: %w", split, err)
		}
		if len(rec) <= max(label, text) {
			continue
		}
		l, err := strconv.Atoi(strings.TrimSpace(rec[label]))
		if err != nil {
			continue
		}
		out = append(out, Sample{Text: rec[text], Offensive: l == 1, Source: "cold-" + split})
	}
	return out, nil
}

// TrainAndStore trains on COLD (train, plus dev unless holdDev) and the
// platform's labelled samples, stores the model as the newest version and
// tells every node to load it. With holdDev the dev metrics are the
// honest figure; without, they are measured on data the model saw.
func (e *Engine) TrainAndStore(ctx context.Context, coldDir string, holdDev bool, o TrainOptions) (*Model, Metrics, error) {
	train, err := ReadCOLD(coldDir, "train")
	if err != nil {
		return nil, Metrics{}, err
	}
	dev, err := ReadCOLD(coldDir, "dev")
	if err != nil {
		return nil, Metrics{}, err
	}
	data := append([]Sample(nil), train...)
	if !holdDev {
		data = append(data, dev...)
	}
	fb, err := e.st.samples(ctx)
	if err != nil {
		return nil, Metrics{}, err
	}
	data = append(data, fb...)
	m := Train(data, o)
	met := Evaluate(m, dev)
	m.Metrics = fmt.Sprintf("dev %s; trained on %d COLD train%s + %d platform samples", met, len(train), map[bool]string{true: "", false: "+dev"}[holdDev], len(fb))
	enc, err := m.encodeString()
	if err != nil {
		return nil, met, err
	}
	if err := e.st.saveModel(ctx, m.Version, o.Seed, m.Metrics, enc); err != nil {
		return nil, met, err
	}
	e.announce("model")
	return m, met, nil
}
