// Package jsonexact decodes a JSON document that a schema has validated
// into a Go value with object member names matched exactly.
//
// encoding/json matches a member to a struct field case-insensitively,
// with Unicode folding ("outputſ" and "OUTPUTS" both read as the field
// "outputs"), and the last such member wins. A member the schema let
// through as an extension, because its name is not the field's, would so
// be read in place of the member the schema validated.
package jsonexact

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// Decode decodes doc, a document as encoding/json decodes it into an any
// (objects as map[string]any), into v, a non-nil pointer, as
// json.Unmarshal would, except that object members whose names are not
// exactly those of the fields they would be read into are left out.
// Values whose types decode themselves (json.Unmarshaler,
// encoding.TextUnmarshaler) are passed on whole: such a type matches
// names itself, with Unmarshal when it decodes into a copy of its fields.
func Decode(doc, v any) error {
	b, err := json.Marshal(strip(doc, reflect.TypeOf(v)))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// Unmarshal decodes the JSON document b into v as Decode does, numbers
// kept exact (as json.Number) on the way.
func Unmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("data after the JSON value")
	}
	return Decode(doc, v)
}

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// strip returns doc without the object members that json.Unmarshal would
// read into a field of a value of type t whose name differs from theirs.
// doc itself is not modified.
func strip(doc any, t reflect.Type) any {
	if t == nil {
		return doc
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return doc
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := doc.(map[string]any)
		if !ok {
			return doc
		}
		fields := map[string]reflect.Type{}
		collectFields(t, fields)
		out := make(map[string]any, len(obj))
		for k, v := range obj {
			if ft, ok := fields[k]; ok {
				out[k] = strip(v, ft)
				continue
			}
			misread := false
			for name := range fields {
				if strings.EqualFold(name, k) {
					misread = true
					break
				}
			}
			if !misread {
				out[k] = v
			}
		}
		return out
	case reflect.Slice, reflect.Array:
		arr, ok := doc.([]any)
		if !ok {
			return doc
		}
		out := make([]any, len(arr))
		for i, v := range arr {
			out[i] = strip(v, t.Elem())
		}
		return out
	case reflect.Map:
		obj, ok := doc.(map[string]any)
		if !ok {
			return doc
		}
		out := make(map[string]any, len(obj))
		for k, v := range obj {
			out[k] = strip(v, t.Elem())
		}
		return out
	}
	return doc
}

// collectFields adds the JSON member names of struct type t and the types
// of their fields to fields, those of embedded structs without a name of
// their own included, as encoding/json promotes them: a field of t hides a
// field of the same name of an embedded struct.
func collectFields(t reflect.Type, fields map[string]reflect.Type) {
	var embedded []reflect.Type
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				embedded = append(embedded, ft)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, ok := fields[name]; !ok {
			fields[name] = f.Type
		}
	}
	for _, ft := range embedded {
		collectFields(ft, fields)
	}
}
