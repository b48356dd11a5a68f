package grpcbind

import (
	pb "github.com/aiconform/aiconform/oip/inferencepb"
)

// maxScanDepth is the deepest nesting scanContents reads; deeper data goes
// to encoding/json, which has its own limit.
const maxScanDepth = 1000

// scanContents reads JSON tensor data for datatype in place, without
// building a value of it: arrays nested to any depth whose leaves are
// numbers in JSON's grammar (BOOL: true and false; FP32 and FP64 also
// "NaN", "Infinity" and "-Infinity", with no escapes), each converted as
// decodeContents converts it. It reports false, having decided nothing,
// for any other data, any leaf decodeContents would refuse, and the
// datatypes it does not read (BYTES, whose strings may hold escapes, and
// those without typed contents): decodeContents then decides, so the two
// give the same contents for every input.
func scanContents(datatype string, data []byte) (*pb.InferTensorContents, bool) {
	if _, err := ContentsField(datatype); err != nil || datatype == "BYTES" {
		return nil, false
	}
	c := &pb.InferTensorContents{}
	leaf := func(tok []byte, str bool) bool {
		switch {
		case str:
			f, ok := nonFinite(string(tok))
			return ok && appendReal(c, datatype, f)
		case string(tok) == "true" || string(tok) == "false":
			return appendBool(c, datatype, string(tok) == "true")
		default:
			return isNumber(tok) && appendNumber(c, datatype, string(tok))
		}
	}
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '[' {
		return nil, false
	}
	depth := 0
	for {
		// At a value: '[' opens an array (one closed at once is a value
		// read), a string or another token is a leaf.
		i = skipSpace(data, i)
		switch {
		case i >= len(data):
			return nil, false
		case data[i] == '[':
			depth++
			if depth > maxScanDepth {
				return nil, false
			}
			i = skipSpace(data, i+1)
			if i >= len(data) || data[i] != ']' {
				continue
			}
			depth--
			i++
			if depth == 0 {
				return c, skipSpace(data, i) == len(data)
			}
		case data[i] == '"':
			j := i + 1
			for j < len(data) && data[j] != '"' && data[j] != '\\' && data[j] >= 0x20 {
				j++
			}
			if j >= len(data) || data[j] != '"' || !leaf(data[i+1:j], true) {
				return nil, false
			}
			i = j + 1
		default:
			j := i
			for j < len(data) && !isDelimiter(data[j]) {
				j++
			}
			if j == i || !leaf(data[i:j], false) {
				return nil, false
			}
			i = j
		}
		// After a value: ',' before the next, or the ']' of each array
		// it ends.
		for {
			i = skipSpace(data, i)
			if i >= len(data) {
				return nil, false
			}
			if data[i] == ',' {
				i++
				break
			}
			if data[i] != ']' {
				return nil, false
			}
			depth--
			i++
			if depth == 0 {
				return c, skipSpace(data, i) == len(data)
			}
		}
	}
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// isDelimiter reports whether b ends a number or literal token.
func isDelimiter(b byte) bool {
	switch b {
	case ',', ']', '[', '{', '}', '"', ':', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

// isNumber reports whether tok is a number in JSON's grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func isNumber(tok []byte) bool {
	i := 0
	if i < len(tok) && tok[i] == '-' {
		i++
	}
	switch {
	case i < len(tok) && tok[i] == '0':
		i++
	case i < len(tok) && tok[i] >= '1' && tok[i] <= '9':
		for i < len(tok) && tok[i] >= '0' && tok[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(tok) && tok[i] == '.' {
		i++
		d := i
		for i < len(tok) && tok[i] >= '0' && tok[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	if i < len(tok) && (tok[i] == 'e' || tok[i] == 'E') {
		i++
		if i < len(tok) && (tok[i] == '+' || tok[i] == '-') {
			i++
		}
		d := i
		for i < len(tok) && tok[i] >= '0' && tok[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	return i == len(tok)
}
