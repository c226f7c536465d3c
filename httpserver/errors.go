package httpserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/rs/zerolog"
)

// Error is an error with an HTTP status and a Backstage error name (InputError,
// NotFoundError, …). Handlers return or write it with [WriteError].
type Error struct {
	Status  int
	Name    string
	Message string
}

// Error returns the message.
func (e *Error) Error() string { return e.Message }

// Errorf builds an Error with the Backstage name that matches the status.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Name: errorName(status), Message: fmt.Sprintf(format, args...)}
}

func errorName(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return "InputError"
	case http.StatusUnauthorized:
		return "AuthenticationError"
	case http.StatusForbidden:
		return "NotAllowedError"
	case http.StatusNotFound:
		return "NotFoundError"
	case http.StatusMethodNotAllowed:
		return "MethodNotAllowedError"
	case http.StatusRequestTimeout:
		return "RequestTimeoutError"
	case http.StatusConflict:
		return "ConflictError"
	case http.StatusRequestEntityTooLarge:
		return "PayloadTooLargeError"
	case http.StatusUnsupportedMediaType:
		return "UnsupportedMediaTypeError"
	case http.StatusTooManyRequests:
		return "TooManyRequestsError"
	case http.StatusServiceUnavailable:
		return "ServiceUnavailableError"
	}
	return "Error"
}

// ErrorBody is Backstage's JSON error response shape.
type ErrorBody struct {
	Error struct {
		Name    string `json:"name"`
		Message string `json:"message"`
	} `json:"error"`
	Request struct {
		Method string `json:"method"`
		URL    string `json:"url"`
	} `json:"request"`
	Response struct {
		StatusCode int `json:"statusCode"`
	} `json:"response"`
}

// WriteError answers with err in Backstage's JSON error shape. An *Error keeps its status,
// name and message; any other error is a 500 whose message is not shown (it is logged).
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		zerolog.Ctx(r.Context()).Error().Err(err).Msg("request failed")
		e = Errorf(http.StatusInternalServerError, "internal server error")
	}
	var body ErrorBody
	body.Error.Name = e.Name
	body.Error.Message = e.Message
	body.Request.Method = r.Method
	body.Request.URL = r.URL.RequestURI()
	body.Response.StatusCode = e.Status
	WriteJSON(w, e.Status, body)
}

// WriteJSON answers with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// QueryInt reads the integer query parameter name: def when it is absent, else a number from
// minValue to maxValue, or a 400 *Error saying so.
func QueryInt(r *http.Request, name string, def, minValue, maxValue int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < minValue || n > maxValue {
		return 0, Errorf(http.StatusBadRequest, "%s must be a number from %d to %d", name, minValue, maxValue)
	}
	return n, nil
}
