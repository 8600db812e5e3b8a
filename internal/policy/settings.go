package policy

// Scopes a personal API token can carry.
const (
	ScopeChatWrite     = "chat:write"
	ScopeChannelManage = "channel:manage"
	ScopeModerate      = "moderate"
	ScopeAccountRead   = "account:read"
	// ScopeWalletSpend spends the account's coins (gifts, memberships);
	// chat:write alone cannot.
	ScopeWalletSpend = "wallet:spend"
	// ScopeChannelPayout withdraws a channel's earnings; channel:manage
	// alone cannot.
	ScopeChannelPayout = "channel:payout"
)

// AllScopes returns every scope, in display order.
func AllScopes() []string {
	return []string{ScopeAccountRead, ScopeChatWrite, ScopeWalletSpend, ScopeChannelManage, ScopeChannelPayout, ScopeModerate}
}

// Settings are the platform-wide switches the policy reads.
type Settings struct {
	// OpenStreaming lets every account create channels; otherwise an admin grants it.
	OpenStreaming bool
	// Limits overrides the abuse-defence allowances (0: the start-up value).
	Limits RateSettings
}

// RateSettings are the adjustable rate limits, each per its limiter's period.
type RateSettings struct {
	WritesPerAccount int `json:"writes_per_account_per_minute"`
	WritesPerIP      int `json:"writes_per_ip_per_minute"`
	SignupsPerIP     int `json:"signups_per_ip_per_hour"`
	LoginsPerIP      int `json:"logins_per_ip_per_minute"`
	// RoomConnectionsPerIP caps open room WebSockets from one address on
	// each node (0: DefaultRoomConnectionsPerIP).
	RoomConnectionsPerIP int `json:"room_connections_per_ip"`
}

// DefaultRoomConnectionsPerIP: a household or an office behind one address
// has a few tabs per person; a script opening hundreds is refused.
const DefaultRoomConnectionsPerIP = 20

// Validate bounds each limit (0 means the default).
func (r RateSettings) Validate() error {
	for _, v := range []int{r.WritesPerAccount, r.WritesPerIP, r.SignupsPerIP, r.LoginsPerIP, r.RoomConnectionsPerIP} {
		if v < 0 || v > 100000 {
			return invalid("each rate limit must be 0 (the default) to 100000")
		}
	}
	return nil
}
