package social

import (
	"context"
	"slices"
	"testing"

	"github.com/livehouse/livehouse/internal/account"
	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/store/storetest"
)

// TestFollowsOnBothEngines: following twice is one follow, unfollowing
// what is not followed is no error, and counts and lists agree.
func TestFollowsOnBothEngines(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		users, err := account.NewUsers(db)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, name := range []string{"fan_one", "fan_two"} {
			u, err := users.Create(ctx, account.NewUser{Username: name, Password: name + "-password"})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, u.ID)
		}
		s := NewStore(db)
		for _, f := range []struct{ user, channel int64 }{{ids[0], 7}, {ids[0], 7}, {ids[0], 8}, {ids[1], 7}} {
			if err := s.Follow(ctx, f.user, f.channel); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := s.Followers(ctx, 7); err != nil || n != 2 {
			t.Fatalf("followers of 7: %d %v, want 2", n, err)
		}
		got, err := s.FollowedChannels(ctx, ids[0])
		slices.Sort(got)
		if err != nil || !slices.Equal(got, []int64{7, 8}) {
			t.Fatalf("followed by fan_one: %v %v", got, err)
		}
		if err := s.Unfollow(ctx, ids[1], 7); err != nil {
			t.Fatal(err)
		}
		if err := s.Unfollow(ctx, ids[1], 7); err != nil {
			t.Fatalf("unfollowing twice: %v", err)
		}
		if ok, err := s.Follows(ctx, ids[1], 7); err != nil || ok {
			t.Fatalf("fan_two still follows 7: %v %v", ok, err)
		}
		if ok, err := s.Follows(ctx, ids[0], 7); err != nil || !ok {
			t.Fatalf("fan_one no longer follows 7: %v %v", ok, err)
		}
	}, account.Migrations(), Migrations())
}
