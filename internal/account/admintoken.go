package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/livehouse/livehouse/internal/store"
)

const adminCredential = "admin_token"

// Admin checks the platform admin's bearer token, which is stored only as
// a hash.
type Admin struct {
	db *store.DB
}

// NewAdmin returns an Admin on db.
func NewAdmin(db *store.DB) *Admin { return &Admin{db: db} }

func hashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// EnsureToken makes sure an admin token exists. A configured token replaces
// the stored one. With none configured and none stored, a new token is
// generated and returned so it can be shown once; otherwise it returns "".
func (a *Admin) EnsureToken(ctx context.Context, configured string) (generated string, err error) {
	if configured != "" {
		_, err := a.db.ExecContext(ctx, `INSERT INTO platform_credentials (name, secret_hash, created_at) VALUES ($1, $2, $3)
			ON CONFLICT (name) DO UPDATE SET secret_hash = excluded.secret_hash, created_at = excluded.created_at`,
			adminCredential, hashSecret(configured), store.Now())
		if err != nil {
			return "", fmt.Errorf("store admin token: %w", err)
		}
		return "", nil
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate admin token: %w", err)
	}
	token := "lh_admin_" + base64.RawURLEncoding.EncodeToString(b[:])
	res, err := a.db.ExecContext(ctx, `INSERT INTO platform_credentials (name, secret_hash, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO NOTHING`, adminCredential, hashSecret(token), store.Now())
	if err != nil {
		return "", fmt.Errorf("store admin token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return "", nil // one exists from an earlier start
	}
	return token, nil
}

// Check reports whether token is the admin token.
func (a *Admin) Check(ctx context.Context, token string) (bool, error) {
	var stored string
	err := a.db.QueryRowContext(ctx, `SELECT secret_hash FROM platform_credentials WHERE name = $1`, adminCredential).Scan(&stored)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read admin token: %w", err)
	}
	return subtle.ConstantTimeCompare([]byte(stored), []byte(hashSecret(token))) == 1, nil
}

// BearerToken extracts the token of an "Authorization: Bearer" header.
func BearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}
