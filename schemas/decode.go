package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// DecodeDocument decodes a JSON document, or a YAML one when name ends in
// .yaml or .yml, into the values Validate takes. Numbers stay exact
// (json.Number). A key repeated in one object is an error in both formats.
// YAML is read as sigs.k8s.io/yaml (and so Kubernetes) reads it, YAML 1.1:
// unquoted yes, no, on, off, y and n are booleans, so quote such strings.
// name is only used to choose the format and in errors, which name the
// file and, where known, the line and column.
func DecodeDocument(name string, data []byte) (any, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%s: empty document, want a JSON or YAML value", name)
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml":
		j, err := yaml.YAMLToJSONStrict(data)
		if err != nil {
			msg := err.Error()
			msg = strings.TrimPrefix(msg, "error converting YAML to JSON: ")
			msg = strings.TrimPrefix(msg, "yaml: ")
			msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
			msg = strings.ReplaceAll(msg, "\n  ", "; ")
			return nil, fmt.Errorf("%s: invalid YAML: %s", name, msg)
		}
		doc, err := decodeJSON(j)
		if err != nil {
			// YAMLToJSON writes valid JSON; this cannot point into the YAML.
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return doc, nil
	}
	doc, err := decodeJSON(data)
	if err != nil {
		var pe *positionError
		if errors.As(err, &pe) {
			line, col := position(data, pe.offset)
			return nil, fmt.Errorf("%s:%d:%d: invalid JSON: %s", name, line, col, pe.msg)
		}
		return nil, fmt.Errorf("%s: invalid JSON: %w", name, err)
	}
	return doc, nil
}

// positionError is a JSON syntax error at a byte offset.
type positionError struct {
	offset int64
	msg    string
}

func (e *positionError) Error() string { return fmt.Sprintf("offset %d: %s", e.offset, e.msg) }

// decodeJSON decodes exactly one JSON value with json.Number numbers.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			// The offset is just past the offending byte.
			return nil, &positionError{offset: max(se.Offset-1, 0), msg: se.Error()}
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, &positionError{offset: int64(len(data)), msg: "unexpected end of input"}
		}
		return nil, err
	}
	off := dec.InputOffset()
	if _, err := dec.Token(); err != io.EOF {
		rest := bytes.TrimLeft(data[off:], " \t\r\n")
		return nil, &positionError{offset: int64(len(data) - len(rest)), msg: "unexpected data after the top-level value"}
	}
	if err := checkDuplicateKeys(data); err != nil {
		return nil, err
	}
	return doc, nil
}

// frame is an open JSON container: the keys seen so far for an object (nil
// for an array), and whether the object's next token is a key.
type frame struct {
	keys      map[string]bool
	expectKey bool
}

// valueEnded notes that a value ended inside the innermost container: in
// an object, a key (or the end) comes next.
func valueEnded(stack []*frame) {
	if len(stack) > 0 && stack[len(stack)-1].keys != nil {
		stack[len(stack)-1].expectKey = true
	}
}

// checkDuplicateKeys reports the first key that appears twice in one object
// of data, which is known to be valid JSON. encoding/json would silently keep
// the last value, hiding e.g. a setting given twice.
func checkDuplicateKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var stack []*frame
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.keys != nil && top.expectKey {
			key, isKey := tok.(string)
			if !isKey { // the object's closing '}'
				stack = stack[:len(stack)-1]
				valueEnded(stack)
				continue
			}
			if top.keys[key] {
				rest := bytes.TrimLeft(data[start:], " \t\r\n,")
				return &positionError{offset: int64(len(data) - len(rest)), msg: fmt.Sprintf("duplicate key %q", key)}
			}
			top.keys[key] = true
			top.expectKey = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{keys: map[string]bool{}, expectKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		valueEnded(stack)
	}
}

// position converts a byte offset into a 1-based line and column (in bytes).
func position(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// KindOf returns the string value of the document's top-level "kind"
// property, if the document is an object that has one.
func KindOf(doc any) (string, bool) {
	m, ok := doc.(map[string]any)
	if !ok {
		return "", false
	}
	k, ok := m["kind"].(string)
	return k, ok
}
