package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/subscribers/audit"
)

// TestAuditVerifyCheckpoint: `platform audit verify --checkpoint ROWS:HASH` passes while the
// log extends the checkpoint and fails with exit 1 and one line once the last 5 rows are
// deleted (which the chain alone does not show); a malformed checkpoint is refused.
func TestAuditVerifyCheckpoint(t *testing.T) {
	t.Parallel()
	dbPath := filepath.Join(t.TempDir(), "stagebus.db")
	cfg := writeConfig(t, "backend:\n  database:\n    connection: "+dbPath+"\n")
	ctx := context.Background()
	db, err := database.Open(database.Config{Client: database.ClientSQLite, Connection: database.Connection{DSN: dbPath}}, audit.Migrations, zerolog.Nop())
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.Start(ctx))
	store := audit.NewStore(db, zerolog.Nop())
	for i := range 10 {
		_, _, err := store.Append(ctx, fmt.Sprintf("m%d", i), audit.Record{EventID: "authenticate", SeverityLevel: "medium", Status: "failed", Timestamp: time.Now()})
		require.NoError(t, err)
	}
	head, err := audit.Head(ctx, db)
	require.NoError(t, err)
	code, stdout, stderr := runCLI(t, nil, "audit", "verify", "--checkpoint", head.String(), "--config", cfg)
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "audit log OK: 10 rows checked, 1 checkpoints matched\n", stdout)

	for _, stmt := range []string{"DROP TRIGGER audit_log_no_delete", "DELETE FROM audit_log WHERE id > 5"} {
		_, err := db.ExecContext(ctx, stmt)
		require.NoError(t, err)
	}
	code, stdout, _ = runCLI(t, nil, "audit", "verify", "--config", cfg)
	require.Equal(t, 0, code, "without a checkpoint the truncated chain verifies")
	require.Equal(t, "audit log OK: 5 rows checked\n", stdout)

	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "truncated below the checkpoint", args: []string{"audit", "verify", "--checkpoint", head.String(), "--config", cfg},
			want: fmt.Sprintf("platform: audit log broken at row 6: checkpoint %s recorded 10 rows, the log has 5 (truncated) (5 rows checked)\n", head)},
		{name: "malformed checkpoint", args: []string{"audit", "verify", "--checkpoint", "10", "--config", cfg},
			want: "platform: --checkpoint: checkpoint \"10\": want ROWS:HASH, such as 120:" + strings.Repeat("ab", 32) + "\n"},
		{name: "checkpoint for another command", args: []string{"config", "check", "--checkpoint", head.String(), "--config", cfg},
			want: "platform: --checkpoint is for 'platform audit verify' only\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, nil, tt.args...)
			require.Equal(t, 1, code)
			require.Empty(t, stdout)
			require.Equal(t, tt.want, stderr)
		})
	}
}
