// Package filter is the content filter of chat, names and titles: term
// lists (platform and channel) matched after normalisation that undoes
// evasions, spam and ad heuristics, and a learned character n-gram
// classifier, combined into one verdict per strictness level.
//
// Check never waits on I/O: lists, settings and the model live in one
// immutable snapshot swapped atomically when any node changes them (a bus
// event makes every node rebuild from the store).
package filter

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livehouse/livehouse/internal/bus"
	"github.com/livehouse/livehouse/internal/policy"
	"github.com/livehouse/livehouse/internal/store"
)

// Action is a verdict.
type Action string

const (
	Allow Action = "allow"
	Hide  Action = "hide" // shown, but hidden from viewers whose shield is below the score
	Hold  Action = "hold" // waits for a moderator
	Block Action = "block"
)

// Reason is one thing that contributed to a verdict.
type Reason struct {
	Source   string   `json:"source"`   // "term" | "spam" | "classifier"
	Rule     string   `json:"rule"`     // the term / heuristic name / model version (moderators only)
	Category string   `json:"category"` // abuse|hate|sexual|spam|politics|custom
	Steps    []string `json:"steps,omitempty"`
	Start    int      `json:"start"` // byte range in the original text (-1 when n/a)
	End      int      `json:"end"`
	Score    int      `json:"score"`
	// Action is what the rule alone asks for (a term's action, or the
	// level's verdict for a score).
	Action Action `json:"action,omitempty"`
}

// Result is the verdict on one text.
type Result struct {
	Action   Action   `json:"action"`
	Score    int      `json:"score"`    // 0–100 overall
	Category string   `json:"category"` // top category, "" when clean
	Text     string   `json:"text"`     // text to show: "replace" terms masked with ＊
	Reasons  []Reason `json:"reasons,omitempty"`
}

// Input is one text to check.
type Input struct {
	ChannelID  int64 // 0: platform lists only
	Text       string
	Level      int    // channel strictness 0 off … 4 strict; the platform floor applies
	Kind       string // "chat"|"name"|"title"|"gift"|"report"; non-chat kinds never get Hide
	UserID     int64
	AccountAge time.Duration
	Room       string // channel slug, for copy-paste wave detection
}

// Accounts authorises HTTP callers (the account domain).
type Accounts interface {
	Authorize(r *http.Request, a policy.Action, channelID, ownerID int64) (policy.Principal, error)
	InChannel(a policy.Action, h func(http.ResponseWriter, *http.Request, policy.Channel, policy.Principal)) http.HandlerFunc
}

// Deps are what the engine is built on.
type Deps struct {
	DB *store.DB
	// Bus tells other nodes a list, the settings or the model changed;
	// nil on a single process (the CLI).
	Bus     *bus.Bus
	DataDir string
	Log     *slog.Logger
	// Accounts authorises the term-list routes (nil: Routes is not used).
	Accounts Accounts
}

// Changed is the bus event type every node rebuilds its snapshot on
// (payload {"what":"terms"|"settings"|"model"}).
const Changed = "modfilter.changed"

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the filter's tables: term lists, settings, labelled
// samples and trained models.
func Migrations() store.MigrationSet {
	sub, _ := fs.Sub(migrationFiles, "migrations")
	return store.MigrationSet{Domain: "modfilter", FS: sub}
}

// snapshot is everything Check reads, immutable once published.
type snapshot struct {
	platform *matcher
	channels map[int64]*matcher
	floor    int
	model    *Model
	terms    int
}

// Engine is the content filter.
type Engine struct {
	d     Deps
	st    *termStore
	snap  atomic.Pointer[snapshot]
	waves *waves

	reload chan struct{}
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once

	pool sync.Pool // *scratch
}

type scratch struct {
	n     Normalized
	chars []raw
	hits  []hit
	view  []rune
	pos   [][2]int32
	// the text read as pinyin (homophones)
	homo      []byte
	homoAt    []int32
	homoStart []bool
}

// New loads lists, settings and model from the store and starts the
// goroutine that rebuilds them when a node announces a change.
func New(d Deps) (*Engine, error) {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.DB == nil {
		return nil, errors.New("moderation filter: no store")
	}
	e := &Engine{d: d, st: &termStore{db: d.DB}, waves: newWaves(),
		reload: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	e.pool.New = func() any { return &scratch{} }
	if err := e.Rebuild(context.Background()); err != nil {
		return nil, err
	}
	if d.Bus != nil {
		if err := d.Bus.Subscribe(func(bus.Event) { e.requestReload() }, Changed); err != nil {
			return nil, fmt.Errorf("moderation filter: %w", err)
		}
	}
	go e.reloader()
	return e, nil
}

func (e *Engine) requestReload() {
	select {
	case e.reload <- struct{}{}:
	default: // one is already queued; it will read the latest state
	}
}

// reloader owns the rebuilds: one at a time, coalesced, until Close.
func (e *Engine) reloader() {
	defer close(e.done)
	for {
		select {
		case <-e.stop:
			return
		case <-e.reload:
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := e.Rebuild(ctx); err != nil {
				e.d.Log.Error("moderation filter: reload failed; keeping the previous lists", "err", err)
			}
			cancel()
		}
	}
}

// Rebuild reads lists, settings and model from the store and swaps them
// in. Check keeps using the previous snapshot until the swap.
func (e *Engine) Rebuild(ctx context.Context) error {
	terms, err := e.st.allTerms(ctx)
	if err != nil {
		return err
	}
	floor, err := e.st.floor(ctx)
	if err != nil {
		return err
	}
	model, err := e.loadModel(ctx)
	if err != nil {
		return err
	}
	s := &snapshot{channels: map[int64]*matcher{}, floor: floor, model: model, terms: len(terms)}
	byChannel := map[int64][]Term{}
	for _, t := range terms {
		byChannel[t.ChannelID] = append(byChannel[t.ChannelID], t)
	}
	for ch, list := range byChannel {
		m, err := compile(list)
		if err != nil {
			return fmt.Errorf("compile terms of channel %d: %w", ch, err)
		}
		if ch == 0 {
			s.platform = m
		} else {
			s.channels[ch] = m
		}
	}
	e.snap.Store(s)
	return nil
}

// announce tells every node (this one included) to rebuild.
func (e *Engine) announce(what string) {
	if e.d.Bus == nil {
		e.requestReload()
		return
	}
	if err := e.d.Bus.Publish(bus.Event{Type: Changed, Payload: []byte(`{"what":"` + what + `"}`)}); err != nil {
		e.d.Log.Warn("moderation filter: announce change", "err", err)
		e.requestReload()
	}
}

// Close stops the reload goroutine. Safe to call more than once.
func (e *Engine) Close(ctx context.Context) error {
	e.once.Do(func() { close(e.stop) })
	select {
	case <-e.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Floor is the platform's minimum strictness.
func (e *Engine) Floor() int { return e.snap.Load().floor }

// ModelVersion names the classifier in use.
func (e *Engine) ModelVersion() string {
	if m := e.snap.Load().model; m != nil {
		return m.Version
	}
	return ""
}

// maskText replaces the original characters of each range with ＊.
func maskText(text string, ranges [][2]int) string {
	if len(ranges) == 0 {
		return text
	}
	var b strings.Builder
	i := 0
	for _, rg := range ranges {
		if rg[0] < i {
			continue
		}
		b.WriteString(text[i:rg[0]])
		for _, r := range text[rg[0]:rg[1]] {
			if r == ' ' {
				b.WriteRune(r)
				continue
			}
			b.WriteString("＊")
		}
		i = rg[1]
	}
	b.WriteString(text[i:])
	return b.String()
}
