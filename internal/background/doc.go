// Package background runs the process's periodic work — purges, signing-key rotation, retries
// of configured catalog locations, entity-provider syncs — in one shape, so that every loop
// stops when the application stops and never holds shutdown past its deadline.
//
// A [Loop] calls a [Func] every interval on a goroutine of its own. Its contract:
//
//   - [Loop.Start] is called from an fx OnStart hook (see [Loop.Hook]) and returns at once. The
//     loop runs on a context of its own, never the OnStart context, which expires after the
//     start timeout.
//   - Each iteration's context is cancelled when [Loop.Stop] is called (and at the iteration's
//     timeout, when one is set). Funcs pass it to every I/O call and wait with [Sleep], never
//     time.Sleep.
//   - [Loop.Stop] cancels that context and waits for the running iteration to return, but no
//     longer than its own context: when that ends first, Stop returns its error (the
//     iteration is left to finish on its own; it has been told to stop).
//   - An iteration's error is logged with the loop's name and counted in
//     stagebus_background_loop_errors_total{loop}; a panic is recovered, logged with its stack
//     and counted the same way. Either way the loop goes on. A Func returns [ErrFinished] to
//     end the loop on purpose.
//   - The wait between iterations is measured from the end of one to the start of the next,
//     so a slow iteration never piles up behind itself.
package background
