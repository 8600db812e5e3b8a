package money

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/livehouse/livehouse/internal/money/ledger"
	"github.com/livehouse/livehouse/internal/store"
)

// Provider owner id of the webhook payment provider's ledger account.
const ProviderWebhook int64 = 2

// Package is a top-up offer.
type Package struct {
	ID         string `json:"id"`
	Coins      int64  `json:"coins"`
	PriceCents int64  `json:"price_cents"`
	Currency   string `json:"currency"`
}

// Packages lists the top-up offers.
func (s *Service) Packages(ctx context.Context) ([]Package, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, coins, price_cents, currency FROM topup_packages WHERE active ORDER BY coins`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Package{}
	for rows.Next() {
		var p Package
		if err := rows.Scan(&p.ID, &p.Coins, &p.PriceCents, &p.Currency); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// WebhookWindow is how far a webhook's timestamp may be from now; older
// deliveries are refused, so a captured request cannot be replayed later.
const WebhookWindow = 5 * time.Minute

// ErrBadSignature is a webhook whose signature or timestamp is wrong.
var ErrBadSignature = errors.New("webhook signature or timestamp is not valid")

// VerifyWebhook checks signature = hex(HMAC-SHA256(secret, timestamp "." body))
// in constant time, and the timestamp window.
func VerifyWebhook(secret []byte, timestamp, signature string, body []byte, now time.Time) error {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(ts, 0)); d > WebhookWindow || d < -WebhookWindow {
		return ErrBadSignature
	}
	got, err := hex.DecodeString(signature)
	if err != nil {
		return ErrBadSignature
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	if !hmac.Equal(got, m.Sum(nil)) {
		return ErrBadSignature
	}
	return nil
}

// SignWebhook is what a payment provider computes (tests, integrations).
func SignWebhook(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// ConfirmPayment credits a package to a user for a provider transaction,
// exactly once per (provider, provider_tx).
func (s *Service) ConfirmPayment(ctx context.Context, provider string, providerTx string, userID int64, packageID string) (balance int64, duplicate bool, err error) {
	if providerTx == "" || len(providerTx) > 128 {
		return 0, false, &InputError{Msg: "provider_tx is required (up to 128 characters)"}
	}
	user, prov, err := s.paymentAccounts(ctx, provider, userID)
	if err != nil {
		return 0, false, err
	}
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		balance, err = creditPayment(ctx, tx, provider, providerTx, userID, packageID, user, prov)
		return err
	})
	if store.IsUniqueViolation(err) {
		// Delivered before: the first delivery credited it.
		balance, err = ledger.Balance(ctx, s.db, user)
		return balance, true, err
	}
	return balance, false, err
}

// paymentAccounts returns the ledger accounts a payment moves coins
// between (created outside any transaction: SQLite has one writer).
func (s *Service) paymentAccounts(ctx context.Context, provider string, userID int64) (user, prov int64, err error) {
	if user, err = s.account(ctx, KindUser, userID); err != nil {
		return 0, 0, err
	}
	providerOwner := ProviderWebhook
	if provider == "manual" {
		providerOwner = ProviderManual
	}
	prov, err = s.account(ctx, KindProvider, providerOwner)
	return user, prov, err
}

// creditPayment records a payment and credits its coins inside tx. A
// payment recorded before fails with a unique violation.
func creditPayment(ctx context.Context, tx *sql.Tx, provider, providerTx string, userID int64, packageID string, user, prov int64) (balance int64, err error) {
	var coins int64
	err = tx.QueryRowContext(ctx, `SELECT coins FROM topup_packages WHERE id = $1 AND active`, packageID).Scan(&coins)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, &InputError{Msg: "unknown package " + strconv.Quote(packageID)}
	}
	if err != nil {
		return 0, err
	}
	now := store.Now()
	posted, err := ledger.Post(ctx, tx, ledger.Tx{Kind: "topup", Memo: fmt.Sprintf("%s %s: %s", provider, providerTx, packageID), At: now,
		Entries: []ledger.Entry{ledger.Move(prov, -coins), ledger.Move(user, coins)}})
	if err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO payments (provider, provider_tx, user_id, package_id, coins, tx_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, provider, providerTx, userID, packageID, coins, posted.ID, now); err != nil {
		return 0, err
	}
	return posted.Balance(user), nil
}
