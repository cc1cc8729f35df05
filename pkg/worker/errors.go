package worker

import (
	"errors"
	"fmt"
)

// Error types the worker reports on its own.
const (
	// ErrorTypeUnknownTaskType: the worker received a task type it did not register. The
	// failure is retryable, so a worker that knows the type can still run the task; the
	// service ends the task Failed after a bounded number of attempts (5 by default) so a
	// type no worker knows does not retry forever.
	ErrorTypeUnknownTaskType = "UnknownTaskType"
	// ErrorTypePanic: the handler panicked.
	ErrorTypePanic = "Panic"
	// ErrorTypeTimeout: the handler did not return within the start-to-close timeout.
	ErrorTypeTimeout = "StartToCloseTimeout"
	// ErrorTypeGeneric is the type of a plain error returned by a handler.
	ErrorTypeGeneric = "Error"
)

// Error is a task failure with an application error type (matched by the service against
// the retry policy's non-retryable error types) and optional details.
type Error struct {
	Type         string
	Message      string
	NonRetryable bool
	Details      []byte
	Err          error // the cause, if any
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	if e.Type != "" {
		return e.Type + ": " + msg
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// NewError returns a retryable failure of the given application error type.
func NewError(errorType, format string, args ...any) *Error {
	return &Error{Type: errorType, Message: fmt.Sprintf(format, args...)}
}

// NonRetryable marks err so that the task ends as Failed at once, whatever its retry
// policy. The error type is kept when err is (or wraps) an *Error.
func NonRetryable(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		c := *e
		c.NonRetryable = true
		if c.Err == nil && c.Message == "" {
			c.Err = err
		}
		return &c
	}
	return &Error{Type: ErrorTypeGeneric, Err: err, NonRetryable: true}
}

// IsNonRetryable tells whether err was marked with NonRetryable or is a non-retryable *Error.
func IsNonRetryable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.NonRetryable
}

// failureOf turns a handler's error into the failure reported to the service.
func failureOf(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		c := *e
		if c.Type == "" {
			c.Type = ErrorTypeGeneric
		}
		if c.Message == "" {
			c.Message = err.Error()
		}
		return &c
	}
	return &Error{Type: ErrorTypeGeneric, Message: err.Error()}
}
