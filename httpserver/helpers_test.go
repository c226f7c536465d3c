package httpserver_test

import (
	"io"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// syncWriter serialises writes from concurrent handlers into one buffer.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}
