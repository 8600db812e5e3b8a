package live

import "sync/atomic"

// Drain is a node's "going away" flag: set on SIGTERM, it makes the node
// refuse new publishers, viewers and WebSocket joins while current ones
// finish, and the node's load report says so to the scheduler.
type Drain struct{ on atomic.Bool }

// Start marks the node as draining; it cannot be undone.
func (d *Drain) Start() { d.on.Store(true) }

// Draining reports whether the node is draining.
func (d *Drain) Draining() bool { return d.on.Load() }
