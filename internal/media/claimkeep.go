package media

import (
	"context"
	"time"
)

// keepClaims renews this node's claims and closes the lapsed claims of
// nodes that died, every ClaimRenew, until Close.
func (h *Hub) keepClaims() {
	defer close(h.done)
	t := time.NewTicker(h.renew)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		h.renewClaims()
	}
}

func (h *Hub) renewClaims() {
	ctx, cancel := context.WithTimeout(context.Background(), h.renew)
	defer cancel()
	h.mu.Lock()
	held := make([]*Claim, 0, len(h.claims))
	for _, c := range h.claims {
		if c.session != 0 && !c.done {
			held = append(held, c)
		}
	}
	h.mu.Unlock()
	if len(held) > 0 {
		open, err := h.channels.RenewClaims(ctx, h.node, h.claimTTL)
		if err != nil {
			h.log.Warn("renew live claims", "err", err)
		} else {
			h.dropLost(held, open)
		}
	}
	if n, err := h.channels.CloseLapsedClaims(ctx); err != nil {
		h.log.Warn("close lapsed live claims", "err", err)
	} else if n > 0 {
		h.log.Warn("closed live sessions of a node that stopped renewing its claims", "count", n)
	}
}

// dropLost ends the publishes whose claims are no longer open: this node
// did not renew them in time, another node closed them, and the channel
// may be live elsewhere now.
func (h *Hub) dropLost(held []*Claim, open []int64) {
	still := make(map[int64]bool, len(open))
	for _, id := range open {
		still[id] = true
	}
	for _, c := range held {
		// Under h.mu: a backup ingest switch hands the session to the new
		// input on air (and leaves the old one without).
		h.mu.Lock()
		kick, session := c.kick, c.session
		if c.done || kick == nil || session == 0 || still[session] {
			h.mu.Unlock()
			continue
		}
		c.kicked = true
		h.mu.Unlock()
		h.log.Error("live claim lapsed before it was renewed; ending this publish", "channel", c.Channel.Slug, "session", session)
		kick()
	}
}
