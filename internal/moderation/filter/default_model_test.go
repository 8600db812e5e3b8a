package filter

import (
	"os"
	"testing"
)

// TestWriteDefaultModel rewrites the model shipped in the binary:
// COLD train+dev, seed 1, default options. Run with
// LIVEHOUSE_COLD=/path/to/cold go test -run TestWriteDefaultModel.
func TestWriteDefaultModel(t *testing.T) {
	dir := os.Getenv("LIVEHOUSE_COLD")
	if dir == "" {
		t.Skip("set LIVEHOUSE_COLD to rewrite model/default.lhm.gz")
	}
	train, err := ReadCOLD(dir, "train")
	if err != nil {
		t.Fatal(err)
	}
	dev, err := ReadCOLD(dir, "dev")
	if err != nil {
		t.Fatal(err)
	}
	held := Train(train, TrainOptions{Seed: 1})
	met := Evaluate(held, dev)
	m := Train(append(train, dev...), TrainOptions{Seed: 1})
	m.Version = "default-cold-s1"
	m.Metrics = "trained on COLD train+dev (seed 1); the same options trained on train only: dev " + met.String()
	f, err := os.Create("model/default.lhm.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := m.Encode(f); err != nil {
		t.Fatal(err)
	}
	t.Log(m.Metrics)
}
