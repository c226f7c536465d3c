package config_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/config/configtest"
)

func TestOneOrMany(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		yaml string
		want config.OneOrMany[string]
		err  string
	}{
		{"x: one\n", config.OneOrMany[string]{"one"}, ""},
		{"x: [one, two]\n", config.OneOrMany[string]{"one", "two"}, ""},
		{"x: []\n", config.OneOrMany[string]{}, ""},
		{"x: {a: 1}\n", nil, "x: expected a string, got an object"},
		{"x: [one, [two]]\n", nil, "x[1]: expected a string"},
	} {
		c, err := config.Decode(configtest.Tree(t, tc.yaml), config.NewSection[config.OneOrMany[string]]("x"))
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, tc.yaml)
			continue
		}
		require.NoError(t, err, tc.yaml)
		require.Equal(t, tc.want, config.Get[config.OneOrMany[string]](c, "x"), tc.yaml)
	}
}
