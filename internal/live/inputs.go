package live

import "time"

// Inputs describes a live channel's publishers on its origin when backup
// ingest is in use (Health.Inputs): which one is on air and what the hot
// standby is doing.
type Inputs struct {
	// OnAir is "primary" or "backup": the stream key (or, for the same key
	// from two encoders, the order of arrival) of the input viewers see.
	OnAir string `json:"on_air"`
	// Standby is "none", "waiting" (connected, tracks not known yet),
	// "ready" (receiving, a keyframe buffered: can take over now) or
	// "stalled" (connected but sending nothing).
	Standby string `json:"standby"`
	// StandbyInput is "primary" or "backup" when a standby is connected.
	StandbyInput string `json:"standby_input,omitempty"`
	// Failovers counts switches to the standby in this live session.
	Failovers int `json:"failovers"`
	// LastFailover is when the last switch happened; LastFailoverMS how
	// long viewers' timeline had no new media around it (last frame of the
	// old input to the first frame of the new one on air).
	LastFailover   *time.Time `json:"last_failover,omitempty"`
	LastFailoverMS int64      `json:"last_failover_ms,omitempty"`
}
