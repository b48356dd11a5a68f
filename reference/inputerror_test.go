package reference

import (
	"errors"
	"fmt"
	"testing"
)

func TestIsInvalidInput(t *testing.T) {
	bad := invalidInput("input %q element %d is %d", "input_ids", 3, 100)
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"direct", bad, true},
		{"wrapped", fmt.Errorf("chunk 2: %w", bad), true},
		{"joined", errors.Join(errors.New("other"), bad), true},
		{"plain", errors.New(`input "input_ids" element 3 is 100`), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		if got := IsInvalidInput(tt.err); got != tt.want {
			t.Errorf("%s: IsInvalidInput(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
	if bad.Error() != `input "input_ids" element 3 is 100` {
		t.Errorf("message = %q", bad.Error())
	}
}
