// Package logging builds the process's zerolog logger: JSON lines by default, a readable
// console format when standard output is a terminal or --log-format=console, at the level of
// LOG_LEVEL or else backend.log.level (default info). Loggers are injected, never global; request and message loggers travel in contexts
// (zerolog.Ctx).
package logging
