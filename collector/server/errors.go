package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// An Error is a refusal the caller can act on: what kind it is decides
// the gRPC code, and its message is sent as it is. Any other error is the
// collector's own failure.
type Error struct {
	Code codes.Code
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func refuse(code codes.Code, format string, args ...any) error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// The kinds of refusal.
func invalid(format string, args ...any) error { return refuse(codes.InvalidArgument, format, args...) }
func notFound(format string, args ...any) error {
	return refuse(codes.NotFound, format, args...)
}
func unauthenticated(format string, args ...any) error {
	return refuse(codes.Unauthenticated, format, args...)
}
func denied(format string, args ...any) error { return refuse(codes.PermissionDenied, format, args...) }
func unavailable(format string, args ...any) error {
	return refuse(codes.Unavailable, format, args...)
}
func aborted(format string, args ...any) error { return refuse(codes.Aborted, format, args...) }
func deadline(format string, args ...any) error {
	return refuse(codes.DeadlineExceeded, format, args...)
}

// failure is the collector's own failure while doing what: the caller is
// told only that it failed, and toStatus logs the cause.
type failure struct {
	what string
	err  error
}

func (f *failure) Error() string { return f.what + ": " + f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

func internal(what string, err error) error { return &failure{what: what, err: err} }

// toStatus is the one place where errors become gRPC statuses. A refusal
// keeps its code and message; a cancelled or expired call keeps its
// code; an error that already is a status (from the stream itself) passes;
// anything else is the collector's failure, logged here once with the
// method and what was being done, and answered as Internal without its
// detail.
func toStatus(log zerolog.Logger, method string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return status.Error(e.Code, e.Msg)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "the call was cancelled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "the call's deadline passed")
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	what := "request failed"
	var f *failure
	if errors.As(err, &f) {
		what = f.what
	}
	log.Error().Err(err).Str("method", method).Msg("internal error")
	return status.Error(codes.Internal, what+": the collector failed (its log says why)")
}
