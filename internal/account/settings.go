package account

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/livehouse/livehouse/internal/policy"
	"github.com/livehouse/livehouse/internal/ratelimit"
)

// settingsTTL bounds how stale a node's platform settings get if a
// bus.SettingsChanged event is lost; the event applies a change at once.
const settingsTTL = 5 * time.Second

type cachedSettings struct {
	st policy.Settings
	at time.Time
}

// Settings returns the platform switches, from memory when read in the last
// settingsTTL (every authorised request asks).
func (s *Service) Settings(ctx context.Context) (policy.Settings, error) {
	if c := s.settings.Load(); c != nil && time.Since(c.at) < settingsTTL {
		return c.st, nil
	}
	return s.loadSettings(ctx)
}

// loadSettings reads the switches from the store and, when the rate limits
// changed, applies them to this node's limiters.
func (s *Service) loadSettings(ctx context.Context) (policy.Settings, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT name, value FROM platform_settings`)
	if err != nil {
		return policy.Settings{}, fmt.Errorf("read platform settings: %w", err)
	}
	defer rows.Close()
	var st policy.Settings
	limits := map[string]*int{
		"limit.writes_per_account": &st.Limits.WritesPerAccount, "limit.writes_per_ip": &st.Limits.WritesPerIP,
		"limit.signups_per_ip": &st.Limits.SignupsPerIP, "limit.logins_per_ip": &st.Limits.LoginsPerIP,
		"limit.room_connections_per_ip": &st.Limits.RoomConnectionsPerIP,
	}
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return policy.Settings{}, err
		}
		if name == "open_streaming" {
			st.OpenStreaming = value == "true"
		} else if p, ok := limits[name]; ok {
			*p, _ = strconv.Atoi(value)
		}
	}
	if err := rows.Err(); err != nil {
		return policy.Settings{}, err
	}
	if prev := s.settings.Swap(&cachedSettings{st: st, at: time.Now()}); prev == nil || prev.st.Limits != st.Limits {
		s.applyLimits(st.Limits)
	}
	return st, nil
}

func (s *Service) applyLimits(r policy.RateSettings) {
	s.roomConnsPerIP.Store(int64(r.RoomConnectionsPerIP))
	for l, n := range map[*ratelimit.Limiter]int{s.Limits.WritePerAccount: r.WritesPerAccount, s.Limits.WritePerIP: r.WritesPerIP,
		s.Limits.SignupPerIP: r.SignupsPerIP, s.Limits.LoginPerIP: r.LoginsPerIP} {
		if l != nil {
			l.SetRate(n)
		}
	}
}

// EffectiveLimits are the allowances in force on this node.
func (s *Service) EffectiveLimits() policy.RateSettings {
	n := func(l *ratelimit.Limiter) int {
		if l == nil {
			return 0
		}
		v, _ := l.Rate()
		return v
	}
	return policy.RateSettings{WritesPerAccount: n(s.Limits.WritePerAccount), WritesPerIP: n(s.Limits.WritePerIP),
		SignupsPerIP: n(s.Limits.SignupPerIP), LoginsPerIP: n(s.Limits.LoginPerIP), RoomConnectionsPerIP: s.RoomConnectionsPerIP()}
}

// RoomConnectionsPerIP is the cap on one address's open room connections
// in force on this node (kept in memory: the gateway asks on every upgrade).
func (s *Service) RoomConnectionsPerIP() int {
	if n := s.roomConnsPerIP.Load(); n > 0 {
		return int(n)
	}
	return policy.DefaultRoomConnectionsPerIP
}

// SetSettings stores the platform switches.
func (s *Service) SetSettings(ctx context.Context, st policy.Settings) error {
	if err := st.Limits.Validate(); err != nil {
		return err
	}
	values := map[string]string{
		"open_streaming":                strconv.FormatBool(st.OpenStreaming),
		"limit.writes_per_account":      strconv.Itoa(st.Limits.WritesPerAccount),
		"limit.writes_per_ip":           strconv.Itoa(st.Limits.WritesPerIP),
		"limit.signups_per_ip":          strconv.Itoa(st.Limits.SignupsPerIP),
		"limit.logins_per_ip":           strconv.Itoa(st.Limits.LoginsPerIP),
		"limit.room_connections_per_ip": strconv.Itoa(st.Limits.RoomConnectionsPerIP),
	}
	err := s.DB.InTx(ctx, func(tx *sql.Tx) error {
		for name, value := range values {
			if _, err := tx.ExecContext(ctx, `INSERT INTO platform_settings (name, value) VALUES ($1, $2)
				ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save platform settings: %w", err)
	}
	s.settings.Store(&cachedSettings{st: st, at: time.Now()})
	s.applyLimits(st.Limits)
	return nil
}
