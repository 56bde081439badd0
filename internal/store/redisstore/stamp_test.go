package redisstore

import (
	"testing"
	"time"
)

// TestStamp: times round-trip exactly, compare as strings as they do as
// times, and the ends of the range are clamped rather than wrapped.
func TestStamp(t *testing.T) {
	now := time.Now()
	for _, tm := range []time.Time{now, now.Add(time.Nanosecond), time.Unix(1, 0), time.Unix(0, 1)} {
		got, err := unstamp(stamp(tm))
		if err != nil || !got.Equal(tm) {
			t.Fatalf("%v came back as %v, %v", tm, got, err)
		}
	}
	if !(stamp(now) < stamp(now.Add(time.Nanosecond))) || !(stamp(time.Unix(9, 0)) < stamp(time.Unix(10, 0))) {
		t.Fatal("stamps do not compare as their times")
	}
	if z, _ := unstamp(stamp(time.Time{})); !z.IsZero() {
		t.Fatalf("the zero time came back as %v", z)
	}
	if far := stamp(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)); far != "09223372036854775807" {
		t.Fatalf("year 3000: %s", far)
	}
	for _, bad := range []string{"", "12", "-0000000000000000001", "0000000000000000000x"} {
		if _, err := unstamp(bad); err == nil {
			t.Fatalf("%q read as a time", bad)
		}
	}
}
