package main

import (
	"math"
	"strings"
	"testing"
)

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr string
	}{
		{in: "512MiB", want: 512 << 20},
		{in: "2GiB", want: 2 << 30},
		{in: "1TiB", want: 1 << 40},
		{in: "64KiB", want: 64 << 10},
		{in: "1000B", want: 1000},
		{in: "123456", want: 123456},
		{in: "off", want: math.MaxInt64},
		{in: "0", wantErr: "not a size"},
		{in: "-1MiB", wantErr: "not a size"},
		{in: "512MB", wantErr: "not a size"},
		{in: "512 MiB", wantErr: "not a size"},
		{in: "MiB", wantErr: "not a size"},
		{in: "lots", wantErr: "not a size"},
		{in: "9999999TiB", wantErr: "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseByteSize(tt.in)
			switch {
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("parseByteSize(%q) = %d, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
			case tt.wantErr == "" && (err != nil || got != tt.want):
				t.Errorf("parseByteSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{512 << 20, "512 MiB"},
		{1536 << 10, "1536 KiB"},
		{3 << 30, "3 GiB"},
		{1000, "1000 B"},
		{1, "1 B"},
	}
	for _, tt := range tests {
		if got := formatBytes(tt.n); got != tt.want {
			t.Errorf("formatBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestResolveMemoryLimit(t *testing.T) {
	const current = 300 << 20 // what the runtime took from GOMEMLIMIT
	tests := []struct {
		name    string
		flag    string
		envSet  bool
		want    memoryLimit
		wantStr string
		wantErr bool
	}{
		{name: "default", want: memoryLimit{bytes: defaultMemoryLimit, set: true, source: "default"}, wantStr: "512 MiB"},
		{name: "GOMEMLIMIT is left in place", envSet: true, want: memoryLimit{bytes: current, source: "GOMEMLIMIT"}, wantStr: "300 MiB"},
		{name: "the flag wins over GOMEMLIMIT", flag: "1GiB", envSet: true, want: memoryLimit{bytes: 1 << 30, set: true, source: "--memory-limit"}, wantStr: "1 GiB"},
		{name: "off", flag: "off", want: memoryLimit{bytes: math.MaxInt64, set: true, source: "--memory-limit"}, wantStr: "none"},
		{name: "bad flag", flag: "lots", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolveMemoryLimit(tt.flag, tt.envSet, current)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "--memory-limit") {
					t.Errorf("resolveMemoryLimit(%q) = %+v, %v; want an error naming the flag", tt.flag, got, err)
				}
				return
			}
			if err != nil || got != tt.want || got.String() != tt.wantStr {
				t.Errorf("resolveMemoryLimit(%q, %v) = %+v (%q), %v; want %+v (%q)", tt.flag, tt.envSet, got, got, err, tt.want, tt.wantStr)
			}
		})
	}
}
