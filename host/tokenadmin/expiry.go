package tokenadmin

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Never is the expiry value of a token that does not expire.
const Never = "never"

// day is the length of the "d" unit in expiry durations: 24 hours, regardless of daylight
// saving time.
const day = 24 * time.Hour

// ParseExpiry returns the instant that an expiry value names, relative to now:
//   - "never": the zero time;
//   - an RFC 3339 date such as 2027-01-31: midnight UTC at the start of that day;
//   - an RFC 3339 instant such as 2027-01-31T18:00:00+01:00;
//   - a positive duration from now: whole days such as 90d, or a Go duration such as 12h or
//     1h30m.
//
// It rejects any instant that is not after now. Instants are returned in UTC, truncated to the
// second.
func ParseExpiry(value string, now time.Time) (time.Time, error) {
	if value == "" {
		return time.Time{}, fmt.Errorf("missing expiry: give a date (2027-01-31), an instant (2027-01-31T18:00:00Z), a duration (90d, 12h) or never")
	}
	if value == Never {
		return time.Time{}, nil
	}
	at, err := parseExpiryInstant(value, now)
	if err != nil {
		return time.Time{}, err
	}
	at = at.UTC().Truncate(time.Second)
	if !at.After(now) {
		return time.Time{}, fmt.Errorf("expiry %q is %s, which is not in the future: choose a later instant, a duration such as 90d, or never", value, at.Format(time.RFC3339))
	}
	return at, nil
}

// parseExpiryInstant reads a date, an instant or a duration without checking that it is in
// the future.
func parseExpiryInstant(value string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, value); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, value); err == nil {
		return t, nil
	}
	d, err := parseExpiryDuration(value)
	if err != nil {
		return time.Time{}, err
	}
	return now.Add(d), nil
}

// parseExpiryDuration reads "90d" or a Go duration such as "12h" and rejects durations that
// are not positive.
func parseExpiryDuration(value string) (time.Duration, error) {
	invalid := fmt.Errorf("invalid expiry %q: want a date (2027-01-31), an instant (2027-01-31T18:00:00Z), a duration (90d, 12h) or never", value)
	var d time.Duration
	if days, ok := strings.CutSuffix(value, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil {
			return 0, invalid
		}
		if n > math.MaxInt64/int64(day) {
			return 0, fmt.Errorf("expiry %q is too far away: use never for a token that does not expire", value)
		}
		d = time.Duration(n) * day
	} else {
		var err error
		if d, err = time.ParseDuration(value); err != nil {
			return 0, invalid
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("expiry duration %q is not positive: give a duration such as 90d or 12h", value)
	}
	return d, nil
}
