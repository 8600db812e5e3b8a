// Package httpjson is the JSON side of every Livehouse HTTP handler: one way
// to write a value, one error shape ({"error": "..."}) and one strict decoder.
package httpjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
)

// MaxBody is the largest JSON request body any API accepts.
const MaxBody = 64 << 10

// Write sends v as JSON with status code.
func Write(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	if err := enc.Encode(v); err != nil {
		slog.Debug("write JSON response", "err", err)
	}
}

// Error sends {"error": msg} with status code.
func Error(w http.ResponseWriter, code int, msg string) {
	Write(w, code, map[string]string{"error": msg})
}

// Decode reads exactly one JSON object into v, refusing unknown fields,
// trailing data and bodies over MaxBody. Its errors are safe to show the client.
func Decode(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, r.Body, MaxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var maxErr *http.MaxBytesError
		var syntaxErr *json.SyntaxError
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &maxErr):
			return fmt.Errorf("request body is larger than %d bytes", MaxBody)
		case errors.Is(err, io.EOF):
			return errors.New("request body is empty; send a JSON object")
		case errors.As(err, &syntaxErr):
			return fmt.Errorf("request body is not valid JSON (at byte %d)", syntaxErr.Offset)
		case errors.As(err, &typeErr):
			return fmt.Errorf("field %q has the wrong type", typeErr.Field)
		default:
			return fmt.Errorf("invalid request body: %v", err)
		}
	}
	if dec.More() {
		return errors.New("request body has data after the JSON object")
	}
	if _, err := io.Copy(io.Discard, body); err != nil {
		return fmt.Errorf("request body is larger than %d bytes", MaxBody)
	}
	return nil
}
