package eventsvc

import (
	"github.com/ThreeDotsLabs/watermill"
	"github.com/rs/zerolog"
)

// wmLogger adapts zerolog to Watermill's logger. Watermill's informational chatter (router
// started, handler added) goes to debug; its errors stay errors.
type wmLogger struct {
	log zerolog.Logger
}

var _ watermill.LoggerAdapter = wmLogger{}

// NewWatermillLogger returns a Watermill logger writing to log.
func NewWatermillLogger(log zerolog.Logger) watermill.LoggerAdapter { return wmLogger{log: log} }

func (l wmLogger) fields(e *zerolog.Event, f watermill.LogFields) *zerolog.Event {
	for k, v := range f {
		e = e.Interface(k, v)
	}
	return e
}

func (l wmLogger) Error(msg string, err error, f watermill.LogFields) {
	l.fields(l.log.Error().Err(err), f).Msg(msg)
}
func (l wmLogger) Info(msg string, f watermill.LogFields)  { l.fields(l.log.Debug(), f).Msg(msg) }
func (l wmLogger) Debug(msg string, f watermill.LogFields) { l.fields(l.log.Trace(), f).Msg(msg) }
func (l wmLogger) Trace(msg string, f watermill.LogFields) { l.fields(l.log.Trace(), f).Msg(msg) }
func (l wmLogger) With(f watermill.LogFields) watermill.LoggerAdapter {
	c := l.log.With()
	for k, v := range f {
		c = c.Interface(k, v)
	}
	return wmLogger{log: c.Logger()}
}
