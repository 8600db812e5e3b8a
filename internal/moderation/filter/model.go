package filter

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
)

// Model is the learned classifier: logistic regression over hashed
// character 1-, 2- and 3-grams of the normalised text (so "傻 逼" and
// "傻逼" share features). Why this model: it is linear, so scoring a
// message is one pass over ~3 features per character into a fixed table
// (no allocation, well under a microsecond for chat lengths); unlike
// naive Bayes it does not double-count the overlapping n-grams of one
// phrase; and trained with a fixed seed it is deterministic.
type Model struct {
	Version  string    `json:"version"`
	Category string    `json:"category"` // what a high score means
	Bits     int       `json:"bits"`     // the table has 1<<Bits weights
	Seed     int64     `json:"seed"`
	Metrics  string    `json:"metrics,omitempty"`
	Bias     float32   `json:"-"`
	W        []float32 `json:"-"`
}

const modelMagic = "LHMODEL1\n"

// ngram hashes: each order gets its own seed so a bigram and a unigram
// never share a bucket by construction.
func mix(h uint64, r rune) uint64 {
	h ^= uint64(r)
	h *= 0x100000001b3
	h ^= h >> 29
	return h
}

// features calls fn with the bucket of every n-gram of n's units.
func features(n *Normalized, bits int, fn func(b uint32)) int {
	mask := uint64(1)<<bits - 1
	u := n.Units
	count := 0
	for i := range u {
		h1 := mix(0xcbf29ce484222325, u[i].r)
		fn(uint32(h1 & mask))
		count++
		if i+1 < len(u) {
			h2 := mix(mix(0x84222325cbf29ce4, u[i].r), u[i+1].r)
			fn(uint32(h2 & mask))
			count++
		}
		if i+2 < len(u) {
			h3 := mix(mix(mix(0x9ce484222325cbf2, u[i].r), u[i+1].r), u[i+2].r)
			fn(uint32(h3 & mask))
			count++
		}
	}
	return count
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// logit is the model's raw output on normalised text.
func (m *Model) logit(n *Normalized) float64 {
	var sum float32
	cnt := features(n, m.Bits, func(b uint32) { sum += m.W[b] })
	if cnt == 0 {
		return float64(m.Bias)
	}
	return float64(m.Bias) + float64(sum)/math.Sqrt(float64(cnt))
}

// Score is the probability of "offensive" as 0–100.
func (m *Model) Score(n *Normalized) int {
	return int(math.Round(sigmoid(m.logit(n)) * 100))
}

// Encode writes m as gzip(magic, JSON header line, little-endian weights).
func (m *Model) Encode(w io.Writer) error {
	zw := gzip.NewWriter(w)
	head, err := json.Marshal(m)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(zw)
	bw.WriteString(modelMagic)
	bw.Write(head)
	bw.WriteByte('\n')
	if err := binary.Write(bw, binary.LittleEndian, m.Bias); err != nil {
		return err
	}
	if err := binary.Write(bw, binary.LittleEndian, m.W); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return zw.Close()
}

// DecodeModel reads what Encode wrote.
func DecodeModel(r io.Reader) (*Model, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	br := bufio.NewReader(zr)
	magic := make([]byte, len(modelMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != modelMagic {
		return nil, fmt.Errorf("model: not a livehouse model")
	}
	line, err := br.ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("model header: %w", err)
	}
	m := &Model{}
	if err := json.Unmarshal(line, m); err != nil {
		return nil, fmt.Errorf("model header: %w", err)
	}
	if m.Bits < 8 || m.Bits > 24 {
		return nil, fmt.Errorf("model: %d bits out of range", m.Bits)
	}
	if err := binary.Read(br, binary.LittleEndian, &m.Bias); err != nil {
		return nil, fmt.Errorf("model weights: %w", err)
	}
	m.W = make([]float32, 1<<m.Bits)
	if err := binary.Read(br, binary.LittleEndian, m.W); err != nil {
		return nil, fmt.Errorf("model weights: %w", err)
	}
	return m, nil
}

// encodeString is the model as stored in the database.
func (m *Model) encodeString() (string, error) {
	var b bytes.Buffer
	if err := m.Encode(&b); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b.Bytes()), nil
}

func decodeString(s string) (*Model, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	return DecodeModel(bytes.NewReader(raw))
}
