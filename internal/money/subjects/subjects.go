// Package subjects names the bus subjects the money domain's events go
// out on, in one place. It is deliberately small: when the bus owns typed
// subjects and one event envelope, these two functions are what moves.
package subjects

import "strconv"

// Subject is a bus subject.
type Subject string

// Room is where a room's viewers hear its gifts and memberships.
func Room(slug string) Subject { return Subject("room." + slug) }

// Notice is where a member hears about their money (a renewal a price
// rise stopped): money.notice.USER_ID.
func Notice(userID int64) Subject {
	return Subject("money.notice." + strconv.FormatInt(userID, 10))
}
