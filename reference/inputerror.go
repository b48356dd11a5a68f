package reference

import (
	"errors"
	"fmt"
)

// InvalidInputError is a Forward error that blames the request: an input
// value outside the model's domain (a token id outside the vocabulary, a
// malformed attention mask, a sequence longer than the model accepts) or an
// input tensor that does not fit the model. Its InvalidInput method makes
// servers answer it as a bad request (see package serve). The reference
// models' input checks return it (through invalidInput).
type InvalidInputError struct {
	// Msg says what is wrong, naming the input and what was expected.
	Msg string
}

func (e *InvalidInputError) Error() string { return e.Msg }

// InvalidInput reports that the error blames the request; it is always true.
func (e *InvalidInputError) InvalidInput() bool { return true }

// invalidInput returns an *InvalidInputError with a message formatted as
// fmt.Errorf formats it (so a %w verb formats its error as %v would; the
// result does not wrap it), which lets input checks share one format with
// plain errors.
func invalidInput(format string, args ...any) error {
	return &InvalidInputError{Msg: fmt.Errorf(format, args...).Error()}
}

// IsInvalidInput reports whether err's chain holds an error with an
// InvalidInput method returning true: an error that blames the request.
func IsInvalidInput(err error) bool {
	var ie interface{ InvalidInput() bool }
	return errors.As(err, &ie) && ie.InvalidInput()
}
