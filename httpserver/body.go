package httpserver

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// limitBodyTime bounds the time to receive a request's body: it sets the connection's read
// deadline to timeout after the headers, for requests that have a body. The deadline is set
// before the handler runs rather than at its first Read, because a handler that answers
// without reading leaves the body to net/http, which then discards it from the connection
// and would otherwise wait for it forever. When the deadline ends a Read, the request is
// answered 408 in Backstage's error shape and the connection is closed: whatever the
// handler writes afterwards (typically an error about the unreadable body) is replaced.
// net/http clears the deadline itself once the body has been read to its end, so a slow
// handler is not cut by it (writeTimeout bounds that).
func limitBodyTime(next http.Handler, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		if err := http.NewResponseController(w).SetReadDeadline(time.Now().Add(timeout)); err != nil {
			// No connection under this writer (a test recorder): nothing to bound.
			next.ServeHTTP(w, r)
			return
		}
		body := &deadlineBody{ReadCloser: r.Body}
		tw := &bodyTimeoutWriter{ResponseWriter: w, body: body, r: r, timeout: timeout}
		r2 := r.WithContext(r.Context()) // a shallow copy, to change its Body only
		r2.Body = body
		next.ServeHTTP(tw, r2)
		if body.expired.Load() && !tw.wroteHeader {
			tw.WriteHeader(http.StatusRequestTimeout)
		}
	})
}

// deadlineBody records that a Read ended on the read deadline.
type deadlineBody struct {
	io.ReadCloser
	expired atomic.Bool
}

// Read reads the body, noting a deadline error.
func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && isTimeout(err) {
		b.expired.Store(true)
	}
	return n, err
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// bodyTimeoutWriter answers 408 in place of the handler's response once the body has timed
// out. It is used by one handler goroutine, like any ResponseWriter.
type bodyTimeoutWriter struct {
	http.ResponseWriter
	body        *deadlineBody
	r           *http.Request
	timeout     time.Duration
	wroteHeader bool
	replaced    bool
}

// WriteHeader passes code on, or a 408 error when the body's deadline has passed.
func (w *bodyTimeoutWriter) WriteHeader(code int) {
	if w.wroteHeader {
		w.ResponseWriter.WriteHeader(code) // let net/http report the superfluous call
		return
	}
	w.wroteHeader = true
	if !w.body.expired.Load() {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.replaced = true
	h := w.Header()
	for k := range h {
		if k != RequestIDHeader {
			delete(h, k)
		}
	}
	h.Set("Connection", "close")
	WriteError(w.ResponseWriter, w.r, Errorf(http.StatusRequestTimeout,
		"the request body did not arrive within %s (backend.server.bodyReadTimeout)", w.timeout))
}

// Write writes the handler's body, or drops it when a 408 replaced the response.
func (w *bodyTimeoutWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.replaced {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *bodyTimeoutWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
