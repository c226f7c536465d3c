package httpserver_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/httpserver"
)

func TestQueryInt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		query   string
		want    int
		wantErr string
	}{
		{query: "", want: 50},
		{query: "limit=1", want: 1},
		{query: "limit=500", want: 500},
		{query: "limit=0", wantErr: "limit must be a number from 1 to 500"},
		{query: "limit=501", wantErr: "limit must be a number from 1 to 500"},
		{query: "limit=ten", wantErr: "limit must be a number from 1 to 500"},
		{query: "other=3", want: 50},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/x?"+tt.query, nil)
			got, err := httpserver.QueryInt(r, "limit", 50, 1, 500)
			if tt.wantErr == "" {
				require.NoError(t, err)
				require.Equal(t, tt.want, got)
				return
			}
			var e *httpserver.Error
			require.True(t, errors.As(err, &e), "a *httpserver.Error, got %v", err)
			require.Equal(t, http.StatusBadRequest, e.Status)
			require.Equal(t, tt.wantErr, e.Message)
		})
	}
}
