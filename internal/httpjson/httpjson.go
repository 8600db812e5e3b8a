// Package httpjson is the JSON side of every Livehouse HTTP handler: one way
// to write a value, one error type (Problem: status, code, message, retry)
// written one way (Fail), and one strict decoder.
package httpjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"unicode/utf8"
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

// Codes of Decode's refusals.
const (
	CodeBodyTooLarge = "body_too_large"
	CodeBodyTimeout  = "body_timeout" // 408: the body did not arrive in time
	CodeEmptyBody    = "empty_body"
	CodeBadJSON      = "bad_json"
	CodeBadEncoding  = "bad_encoding" // not UTF-8: refused, never silently replaced
	CodeWrongType    = "wrong_type"
	CodeUnknownField = "unknown_field"
	CodeTrailingData = "trailing_data"
)

func refuse(status int, code, format string, args ...any) *Problem {
	return &Problem{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Decode reads exactly one JSON object into v, refusing bodies over
// MaxBody, that are not UTF-8, that do not arrive in time, unknown fields
// and trailing data. Its errors are *Problem, safe to show the client;
// answer them with BadBody (or Fail).
func Decode(w http.ResponseWriter, r *http.Request, v any) error {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var maxErr *http.MaxBytesError
		var netErr net.Error
		switch {
		case errors.As(err, &maxErr):
			return refuse(http.StatusBadRequest, CodeBodyTooLarge, "request body is larger than %d bytes", MaxBody)
		case errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
			return refuse(http.StatusRequestTimeout, CodeBodyTimeout, "request body did not arrive in time")
		default:
			return refuse(http.StatusBadRequest, "bad_request", "request body could not be read")
		}
	}
	return DecodeBytes(data, v)
}

// DecodeBytes is Decode for a body already read (a signed webhook's):
// exactly one JSON object, UTF-8, no unknown fields, nothing after it.
func DecodeBytes(data []byte, v any) error {
	// encoding/json would replace invalid UTF-8 in strings with U+FFFD;
	// a name or a message must be what the client meant, or nothing.
	if !utf8.Valid(data) {
		return refuse(http.StatusBadRequest, CodeBadEncoding, "request body is not valid UTF-8")
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return refuse(http.StatusBadRequest, CodeEmptyBody, "request body is empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syntaxErr *json.SyntaxError
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syntaxErr):
			return refuse(http.StatusBadRequest, CodeBadJSON, "request body is not valid JSON (at byte %d)", syntaxErr.Offset)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return refuse(http.StatusBadRequest, CodeBadJSON, "request body is not valid JSON (it ends early)")
		case errors.As(err, &typeErr):
			return refuse(http.StatusBadRequest, CodeWrongType, "field %q has the wrong type", typeErr.Field)
		case isUnknownField(err):
			return refuse(http.StatusBadRequest, CodeUnknownField, "invalid request body: %v", err)
		default:
			return refuse(http.StatusBadRequest, "bad_request", "invalid request body: %v", err)
		}
	}
	if dec.More() {
		return refuse(http.StatusBadRequest, CodeTrailingData, "request body has data after the JSON object")
	}
	return nil
}

// isUnknownField recognises DisallowUnknownFields' error, which has no type.
func isUnknownField(err error) bool {
	const prefix = "json: unknown field "
	return len(err.Error()) > len(prefix) && err.Error()[:len(prefix)] == prefix
}
