package account

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/policy"
	"github.com/livehouse/livehouse/internal/store"
)

// APIToken is a personal token for bots, OBS plugins and integrations.
type APIToken struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Scopes     []string   `json:"scopes"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// Tokens stores personal API tokens, hashed.
type Tokens struct{ db *store.DB }

const maxTokensPerUser = 50

// Create makes a token and returns its secret, shown once.
func (t *Tokens) Create(ctx context.Context, userID int64, name string, scopes []string) (APIToken, string, error) {
	name = strings.TrimSpace(name)
	if err := CheckLabel("token name", name, 64); err != nil {
		return APIToken{}, "", err
	}
	if len(scopes) == 0 {
		return APIToken{}, "", invalid("a token needs at least one scope: %s", strings.Join(policy.AllScopes(), ", "))
	}
	clean := []string{}
	for _, sc := range scopes {
		if !slices.Contains(policy.AllScopes(), sc) {
			return APIToken{}, "", invalid("unknown scope %q; scopes are %s", clip(sc, 32), strings.Join(policy.AllScopes(), ", "))
		}
		if !slices.Contains(clean, sc) {
			clean = append(clean, sc)
		}
	}
	var n int
	if err := t.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL`, userID).Scan(&n); err != nil {
		return APIToken{}, "", err
	}
	if n >= maxTokensPerUser {
		return APIToken{}, "", invalid("at most %d active tokens; revoke one first", maxTokensPerUser)
	}
	secret := randomToken("lh_pat_")
	tok := APIToken{Name: name, Scopes: clean, CreatedAt: time.UnixMilli(store.Now())}
	err := t.db.QueryRowContext(ctx, `INSERT INTO api_tokens (user_id, name, token_hash, scopes, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		userID, name, hashSecret(secret), strings.Join(clean, " "), tok.CreatedAt.UnixMilli()).Scan(&tok.ID)
	if err != nil {
		return APIToken{}, "", fmt.Errorf("insert token: %w", err)
	}
	return tok, secret, nil
}

// List returns a user's active tokens.
func (t *Tokens) List(ctx context.Context, userID int64) ([]APIToken, error) {
	rows, err := t.db.QueryContext(ctx, `SELECT id, name, scopes, created_at, last_used_at FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL ORDER BY id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []APIToken{}
	for rows.Next() {
		var tok APIToken
		var scopes string
		var created int64
		var used sql.NullInt64
		if err := rows.Scan(&tok.ID, &tok.Name, &scopes, &created, &used); err != nil {
			return nil, err
		}
		tok.Scopes = strings.Fields(scopes)
		tok.CreatedAt = time.UnixMilli(created)
		if used.Valid {
			at := time.UnixMilli(used.Int64)
			tok.LastUsedAt = &at
		}
		out = append(out, tok)
	}
	return out, rows.Err()
}

// Revoke ends a token of the user.
func (t *Tokens) Revoke(ctx context.Context, userID, id int64) error {
	res, err := t.db.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL`, store.Now(), id, userID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNoToken
	}
	return nil
}

// ErrNoToken is returned for a token that does not exist or is revoked.
var ErrNoToken = httpjson.NewProblem(http.StatusNotFound, "", "no such token")

// Lookup resolves a token secret to its id, owner and scopes.
func (t *Tokens) Lookup(ctx context.Context, secret string) (id, userID int64, scopes []string, ok bool, err error) {
	var sc string
	err = t.db.QueryRowContext(ctx, `SELECT t.id, t.user_id, t.scopes FROM api_tokens t JOIN users u ON u.id = t.user_id
		WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.deleted_at IS NULL`, hashSecret(secret)).Scan(&id, &userID, &sc)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil, false, nil
	}
	if err != nil {
		return 0, 0, nil, false, fmt.Errorf("read token: %w", err)
	}
	_, _ = t.db.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = $1 WHERE id = $2`, store.Now(), id)
	return id, userID, strings.Fields(sc), true, nil
}

// CheckLabel refuses a short label a person typed (a token's name, the
// reason of a sanction or report) that is empty, longer than max
// characters or holds control characters.
func CheckLabel(field, s string, max int) error {
	if s == "" {
		return invalid("%s must not be empty", field)
	}
	if len([]rune(s)) > max {
		return invalid("%s is longer than %d characters", field, max)
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f {
			return invalid("%s must not contain control characters", field)
		}
	}
	return nil
}
