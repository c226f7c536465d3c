package database_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/database"
)

func TestArgsAndWhere(t *testing.T) {
	t.Parallel()
	var args database.Args
	conds := []string{"topic = " + args.Add("orders"), "attempts > " + args.Add(3)}
	require.Equal(t, []string{"topic = $1", "attempts > $2"}, conds)
	require.Equal(t, database.Args{"orders", 3}, args)
	for _, tt := range []struct {
		conds []string
		want  string
	}{
		{nil, ""},
		{conds[:1], " WHERE topic = $1"},
		{conds, " WHERE topic = $1 AND attempts > $2"},
	} {
		require.Equal(t, tt.want, database.Where(tt.conds))
	}
}
