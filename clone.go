package session

import (
	"encoding/json"
	"reflect"
)

// cloneMap returns a deep copy of m: see cloneValue.
func cloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = cloneValue(v)
	}
	return c
}

// cloneValue returns a copy of v that shares no map or slice with it, at any depth, so
// that values a caller hands to a Session or gets from one cannot change it later.
// Pointers, structs, channels and functions are not looked into: maps and slices they
// hold are shared.
func cloneValue(v any) any {
	switch v := v.(type) {
	case nil, string, bool, float64, json.Number, int, int64:
		return v
	case map[string]any:
		return cloneMap(v)
	case []any:
		if v == nil {
			return v
		}
		c := make([]any, len(v))
		for i, e := range v {
			c[i] = cloneValue(e)
		}
		return c
	}
	rv := reflect.ValueOf(v)
	if c, ok := cloneReflect(rv); ok {
		return c.Interface()
	}
	return v
}

// cloneReflect deep-copies maps, slices and arrays of any type, for the values that
// cloneValue has no fast path for, such as map[string]string or [][]string. It reports
// false when v holds nothing that needs copying.
func cloneReflect(v reflect.Value) (reflect.Value, bool) {
	switch v.Kind() {
	case reflect.Map:
		if v.IsNil() {
			return v, false
		}
		c := reflect.MakeMapWithSize(v.Type(), v.Len())
		iter := v.MapRange()
		for iter.Next() {
			c.SetMapIndex(iter.Key(), cloneElem(iter.Value()))
		}
		return c, true
	case reflect.Slice:
		if v.IsNil() {
			return v, false
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			c.Index(i).Set(cloneElem(v.Index(i)))
		}
		return c, true
	case reflect.Array:
		c := reflect.New(v.Type()).Elem()
		for i := range v.Len() {
			c.Index(i).Set(cloneElem(v.Index(i)))
		}
		return c, true
	}
	return v, false
}

// cloneElem deep-copies one element of a map, slice or array.
func cloneElem(e reflect.Value) reflect.Value {
	if e.Kind() == reflect.Interface {
		if e.IsNil() {
			return e
		}
		c := reflect.ValueOf(cloneValue(e.Interface()))
		out := reflect.New(e.Type()).Elem()
		out.Set(c)
		return out
	}
	if c, ok := cloneReflect(e); ok {
		return c
	}
	return e
}
