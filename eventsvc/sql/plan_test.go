package sqlbus_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/database/databasetest"
	sqlbus "github.com/stagebus/stagebus/eventsvc/sql"
)

// TestReadPlanSurvivesTinyStatistics: SQLite's statistics taken while bus_messages held one
// message (PRAGMA optimize at start-up) must not turn a reader's fetch into a scan of the whole
// table: it reads through the (topic, part, seq) index, and the shared payload by its key.
func TestReadPlanSurvivesTinyStatistics(t *testing.T) {
	db := databasetest.SQLite(t, sqlbus.Migrations)
	ctx := t.Context()
	_, err := db.ExecContext(ctx, `INSERT INTO bus_messages (topic, part, uuid, payload, metadata, created_at) VALUES ('a', 0, 'x', x'00', '{}', 0)`)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `ANALYZE`)
	require.NoError(t, err)
	var stat string
	require.NoError(t, db.QueryRowContext(ctx, `SELECT stat FROM sqlite_stat1 WHERE tbl = 'bus_messages' AND idx = 'bus_messages_topic_part_seq'`).Scan(&stat))
	require.True(t, strings.HasPrefix(stat, "1 "), "statistics of a one-message table: %q", stat)
	// What start-up does: the database's optimize drops the statistics of small tables.
	require.NoError(t, db.Optimize(ctx))
	var kept int
	require.NoError(t, db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_stat1 WHERE tbl = 'bus_messages'`).Scan(&kept))
	require.Zero(t, kept)

	for _, tc := range []struct {
		name, query string
		args        []any
		m           string
	}{
		{"reader", sqlbus.ReadSQLite, []any{"a", 0, 0, 10}, "SEARCH m USING INDEX bus_messages_topic_part_seq (topic=? AND part=? AND seq>?)"},
		{"relay", sqlbus.RelayRead, []any{0, 10}, "SEARCH m USING INTEGER PRIMARY KEY (rowid>?)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := db.QueryContext(ctx, `EXPLAIN QUERY PLAN `+tc.query, tc.args...)
			require.NoError(t, err)
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				require.NoError(t, rows.Scan(&id, &parent, &unused, &detail))
				plan = append(plan, detail)
			}
			require.NoError(t, rows.Err())
			text := strings.Join(plan, "\n")
			require.Contains(t, text, tc.m)
			require.Equal(t, 2, strings.Count(text, "SEARCH p USING INTEGER PRIMARY KEY (rowid=?)"), "the shared payload by its key:\n%s", text)
			require.NotContains(t, text, "SCAN", "a scan of bus_messages:\n%s", text)
		})
	}
}
