package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// defaultMemoryLimit is the soft memory limit `aiconform serve` sets
// unless --memory-limit or GOMEMLIMIT says otherwise: above what the
// server holds at rest (the models' weights and their bounded program
// caches, well under 100 MiB) and at its busiest on a small machine (a few
// seed-transformer forward passes of 90 to 175 MB each), so that the
// garbage collector works harder only when the heap nears it and gives
// freed memory back to the system then.
const defaultMemoryLimit = 512 << 20

// memoryLimit is the soft memory limit serve runs with and where it came
// from.
type memoryLimit struct {
	// bytes is the limit, math.MaxInt64 for none; set is false when
	// serve leaves the runtime's own limit (GOMEMLIMIT) in place.
	bytes int64
	set   bool
	// source says where the limit came from, for the banner.
	source string
}

// resolveMemoryLimit returns the soft memory limit of --memory-limit
// (flag, "" when not given), else the runtime's current one (current) when
// GOMEMLIMIT is set (the runtime has applied it already), else
// defaultMemoryLimit.
func resolveMemoryLimit(flag string, envSet bool, current int64) (memoryLimit, error) {
	switch {
	case flag != "":
		n, err := parseByteSize(flag)
		if err != nil {
			return memoryLimit{}, fmt.Errorf("serve: --memory-limit: %w", err)
		}
		return memoryLimit{bytes: n, set: true, source: "--memory-limit"}, nil
	case envSet:
		return memoryLimit{bytes: current, source: "GOMEMLIMIT"}, nil
	}
	return memoryLimit{bytes: defaultMemoryLimit, set: true, source: "default"}, nil
}

// String describes the limit: "512 MiB", "none".
func (m memoryLimit) String() string {
	if m.bytes == math.MaxInt64 {
		return "none"
	}
	return formatBytes(m.bytes)
}

// byteUnits are the unit suffixes GOMEMLIMIT accepts, largest first.
var byteUnits = []struct {
	suffix string
	shift  uint
}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}

// parseByteSize parses a size as GOMEMLIMIT writes it: a positive integer
// of bytes, optionally followed by one of the units B, KiB, MiB, GiB and
// TiB ("512MiB"), or "off" for no limit (math.MaxInt64).
func parseByteSize(s string) (int64, error) {
	if s == "off" {
		return math.MaxInt64, nil
	}
	digits, shift := s, uint(0)
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			digits, shift = strings.TrimSuffix(s, u.suffix), u.shift
			break
		}
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size: want a positive whole number of bytes with an optional unit B, KiB, MiB, GiB or TiB (512MiB), or off", s)
	}
	if n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n << shift, nil
}

// formatBytes writes n bytes in the largest unit that divides it: "512
// MiB", "1536 KiB", "1000 B".
func formatBytes(n int64) string {
	for _, u := range byteUnits[:len(byteUnits)-1] {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d %s", n>>u.shift, u.suffix)
		}
	}
	return fmt.Sprintf("%d B", n)
}
