package app

import (
	"github.com/livehouse/livehouse/internal/channel"
	"github.com/livehouse/livehouse/internal/media"
)

// offeredRungs is the platform's ladder as the studio shows it.
func offeredRungs(rungs []media.Rung) []channel.LadderRung {
	out := make([]channel.LadderRung, len(rungs))
	for i, r := range rungs {
		out[i] = channel.LadderRung{Name: r.Name, Height: r.Height, FPS: r.MaxFPS, Kbps: r.Kbps, Profile: r.Profile}
	}
	return out
}
