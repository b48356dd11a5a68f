package oip

import "strconv"

// appendFloat writes the shortest decimal that round-trips at the given
// bit size, so FP32 values survive JSON exactly.
func appendFloat(b []byte, v float64, bits int) []byte {
	return strconv.AppendFloat(b, v, 'g', -1, bits)
}
