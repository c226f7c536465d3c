package ingress

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReadBody(t *testing.T) {
	body := strings.Repeat("x", 3000)
	tests := []struct {
		name      string
		announced int64
	}{
		{"announced exactly", 3000},
		{"announced too short", 100},
		{"announced too long", 5000},
		{"not announced (chunked)", -1},
		{"announced over the limit", 1 << 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readBody(strings.NewReader(body), tt.announced, 1<<20)
			require.NoError(t, err)
			require.Equal(t, body, string(got))
		})
	}
}
