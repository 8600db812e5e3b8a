package filter

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/store"
)

// termStore is the filter's data layer.
type termStore struct{ db *store.DB }

// Categories and actions a term may have.
var (
	categories  = map[string]bool{"abuse": true, "hate": true, "sexual": true, "spam": true, "politics": true, "custom": true}
	termActions = map[string]bool{"block": true, "hold": true, "replace": true, "allow": true}
)

// ErrTermNotFound answers a delete of a term that is not in the list.
var ErrTermNotFound = httpjson.NewProblem(http.StatusNotFound, "term_not_found", "no such term in this list")

// ErrTermExists answers adding a term the list already has.
var ErrTermExists = httpjson.NewProblem(http.StatusConflict, "term_exists", "the list already has this term")

// validTerm checks a term from a client and fills defaults.
func validTerm(t *Term) error {
	t.Term = strings.TrimSpace(t.Term)
	if t.Initials {
		t.Pinyin = true // initials are a pinyin spelling
	}
	if t.Action == "" {
		t.Action = "block"
	}
	if t.Category == "" {
		t.Category = "custom"
	}
	switch {
	case t.Term == "" || !utf8.ValidString(t.Term) || utf8.RuneCountInString(t.Term) > 64:
		return httpjson.BadRequest("bad_term", "a term is 1 to 64 characters")
	case len(Normalize(t.Term).Units) == 0:
		return httpjson.BadRequest("bad_term", "a term needs a letter, digit or character after normalisation")
	case !termActions[t.Action]:
		return httpjson.BadRequest("bad_term_action", "action must be block, hold, replace or allow")
	case !categories[t.Category]:
		return httpjson.BadRequest("bad_term_category", "category must be abuse, hate, sexual, spam, politics or custom")
	}
	return nil
}

const termColumns = "id, channel_id, term, action, category, pinyin, initials"

func scanTerms(rows *sql.Rows) ([]Term, error) {
	defer rows.Close()
	var out []Term
	for rows.Next() {
		var t Term
		if err := rows.Scan(&t.ID, &t.ChannelID, &t.Term, &t.Action, &t.Category, &t.Pinyin, &t.Initials); err != nil {
			return nil, fmt.Errorf("read terms: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func (s *termStore) allTerms(ctx context.Context) ([]Term, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+termColumns+" FROM modfilter_terms ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("read terms: %w", err)
	}
	return scanTerms(rows)
}

func (s *termStore) terms(ctx context.Context, channelID int64) ([]Term, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+termColumns+" FROM modfilter_terms WHERE channel_id = $1 ORDER BY id", channelID)
	if err != nil {
		return nil, fmt.Errorf("read terms: %w", err)
	}
	return scanTerms(rows)
}

func (s *termStore) addTerm(ctx context.Context, t Term, by int64) (Term, error) {
	err := s.db.QueryRowContext(ctx, `INSERT INTO modfilter_terms (channel_id, term, action, category, pinyin, initials, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`, t.ChannelID, t.Term, t.Action, t.Category, t.Pinyin, t.Initials, by, store.Now()).Scan(&t.ID)
	if store.IsUniqueViolation(err) {
		return t, ErrTermExists
	}
	if err != nil {
		return t, fmt.Errorf("add term: %w", err)
	}
	return t, nil
}

// addTerms adds many terms in one transaction, skipping ones the list has
// (imports, tests, the benchmark's 10,000 terms).
func (s *termStore) addTerms(ctx context.Context, ts []Term, by int64) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		for _, t := range ts {
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM modfilter_terms WHERE channel_id = $1 AND term = $2", t.ChannelID, t.Term).Scan(&n); err != nil {
				return fmt.Errorf("add terms: %w", err)
			}
			if n > 0 {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO modfilter_terms (channel_id, term, action, category, pinyin, initials, created_by, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, t.ChannelID, t.Term, t.Action, t.Category, t.Pinyin, t.Initials, by, store.Now()); err != nil {
				return fmt.Errorf("add term %q: %w", t.Term, err)
			}
		}
		return nil
	})
}

func (s *termStore) deleteTerm(ctx context.Context, channelID, id int64) error {
	res, err := s.db.ExecContext(ctx, "DELETE FROM modfilter_terms WHERE channel_id = $1 AND id = $2", channelID, id)
	if err != nil {
		return fmt.Errorf("delete term: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrTermNotFound
	}
	return nil
}

func (s *termStore) setting(ctx context.Context, name string) (string, bool, error) {
	var v string
	err := s.db.QueryRowContext(ctx, "SELECT value FROM modfilter_settings WHERE name = $1", name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read setting %s: %w", name, err)
	}
	return v, true, nil
}

func (s *termStore) setSetting(ctx context.Context, name, value string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO modfilter_settings (name, value, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, name, value, store.Now())
	if err != nil {
		return fmt.Errorf("save setting %s: %w", name, err)
	}
	return nil
}

func (s *termStore) floor(ctx context.Context) (int, error) {
	v, ok, err := s.setting(ctx, "floor")
	if err != nil || !ok {
		return DefaultFloor, err
	}
	f, err := strconv.Atoi(v)
	if err != nil || f < 0 || f > 4 {
		return DefaultFloor, nil
	}
	return f, nil
}

// Sample is one labelled text for training.
type Sample struct {
	Text      string
	Offensive bool
	Source    string
}

func (s *termStore) addSample(ctx context.Context, sm Sample) error {
	_, err := s.db.ExecContext(ctx, "INSERT INTO modfilter_samples (text, offensive, source, created_at) VALUES ($1, $2, $3, $4)",
		sm.Text, sm.Offensive, sm.Source, store.Now())
	if err != nil {
		return fmt.Errorf("store sample: %w", err)
	}
	return nil
}

func (s *termStore) samples(ctx context.Context) ([]Sample, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT text, offensive, source FROM modfilter_samples ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("read samples: %w", err)
	}
	defer rows.Close()
	var out []Sample
	for rows.Next() {
		var sm Sample
		if err := rows.Scan(&sm.Text, &sm.Offensive, &sm.Source); err != nil {
			return nil, fmt.Errorf("read samples: %w", err)
		}
		out = append(out, sm)
	}
	return out, rows.Err()
}

func (s *termStore) saveModel(ctx context.Context, version string, seed int64, metrics, data string) error {
	_, err := s.db.ExecContext(ctx, "INSERT INTO modfilter_models (version, seed, metrics, data, created_at) VALUES ($1, $2, $3, $4, $5)",
		version, seed, metrics, data, store.Now())
	if err != nil {
		return fmt.Errorf("save model %s: %w", version, err)
	}
	return nil
}

// latestModel is the newest trained model ("" when none was trained).
func (s *termStore) latestModel(ctx context.Context) (version, data string, err error) {
	err = s.db.QueryRowContext(ctx, "SELECT version, data FROM modfilter_models ORDER BY id DESC LIMIT 1").Scan(&version, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("read model: %w", err)
	}
	return version, data, nil
}
