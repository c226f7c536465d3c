package promreg_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/internal/promreg"
)

func TestRegister(t *testing.T) {
	newVec := func() *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "x_total", Help: "x"}, []string{"l"})
	}
	tests := []struct {
		name    string
		reg     func() prometheus.Registerer
		second  prometheus.Collector
		shared  bool // the second registration returns the first collector
		wantErr string
	}{
		{name: "same kind again shares the first", reg: func() prometheus.Registerer { return prometheus.NewRegistry() }, second: newVec(), shared: true},
		{name: "another kind under the name fails", reg: func() prometheus.Registerer { return prometheus.NewRegistry() },
			second: prometheus.NewCounter(prometheus.CounterOpts{Name: "x_total", Help: "x"}), wantErr: "register metric"},
		{name: "nil registry registers nothing", reg: func() prometheus.Registerer { return nil }, second: newVec()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := tt.reg()
			first, err := promreg.Register(reg, newVec())
			require.NoError(t, err)
			got, err := promreg.Register(reg, tt.second)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			if tt.shared {
				require.Same(t, first, got.(*prometheus.CounterVec))
			} else {
				require.Same(t, tt.second, got)
			}
		})
	}
}
