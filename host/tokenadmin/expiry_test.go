package tokenadmin

import (
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func TestParseExpiry(t *testing.T) {
	tests := []struct {
		value  string
		expect time.Time
	}{
		{"never", time.Time{}},
		{"2027-01-31", time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)},
		{"2027-01-31T18:00:00Z", time.Date(2027, 1, 31, 18, 0, 0, 0, time.UTC)},
		{"2027-01-31T18:00:00+01:00", time.Date(2027, 1, 31, 17, 0, 0, 0, time.UTC)},
		{"2026-06-01T12:00:01.5Z", time.Date(2026, 6, 1, 12, 0, 1, 0, time.UTC)},
		{"90d", testNow.Add(90 * 24 * time.Hour)},
		{"1d", testNow.Add(24 * time.Hour)},
		{"12h", testNow.Add(12 * time.Hour)},
		{"1h30m", testNow.Add(90 * time.Minute)},
		{"2026-06-02", time.Date(2026, 6, 2, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			got, err := ParseExpiry(tt.value, testNow)
			if err != nil {
				t.Fatalf("ParseExpiry(%q): %v", tt.value, err)
			}
			if !got.Equal(tt.expect) {
				t.Errorf("ParseExpiry(%q) = %v, expected %v", tt.value, got, tt.expect)
			}
			if got.Location() != time.UTC {
				t.Errorf("ParseExpiry(%q) is in %v, expected UTC", tt.value, got.Location())
			}
		})
	}
}

func TestParseExpiry_Errors(t *testing.T) {
	tests := []struct {
		value  string
		expect string
	}{
		{"", "missing expiry"},
		{"2026-06-01", "not in the future"},
		{"2026-06-01T12:00:00Z", "not in the future"},
		{"2020-01-01T00:00:00Z", "not in the future"},
		{"2026-06-01T12:00:00.9Z", "not in the future"}, // truncated to the second
		{"0d", "not positive"},
		{"-5d", "not positive"},
		{"-1h", "not positive"},
		{"0s", "not positive"},
		{"99999999999d", "too far away"},
		{"90 days", "invalid expiry"},
		{"d", "invalid expiry"},
		{"1.5d", "invalid expiry"},
		{"Never", "invalid expiry"},
		{"2027-02-30", "invalid expiry"},
		{"2027-01-31 18:00:00", "invalid expiry"},
		{"tomorrow", "invalid expiry"},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			got, err := ParseExpiry(tt.value, testNow)
			if err == nil {
				t.Fatalf("ParseExpiry(%q) = %v, expected an error", tt.value, got)
			}
			if !strings.Contains(err.Error(), tt.expect) {
				t.Errorf("error %q does not contain %q", err, tt.expect)
			}
		})
	}
}
