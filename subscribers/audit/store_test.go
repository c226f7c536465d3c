package audit_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/database/databasetest"
	"github.com/stagebus/stagebus/subscribers/audit"
)

var base = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func record(i int, actor, eventID, status string) audit.Record {
	return audit.Record{
		Plugin: "auth", EventID: eventID, SeverityLevel: "medium", Status: status,
		Actor:     audit.Actor{ActorID: actor, IP: "192.0.2.1", UserAgent: "test"},
		Request:   &audit.Request{Method: "GET", URL: "/api/things"},
		Meta:      map[string]any{"reason": fmt.Sprintf("reason %d", i)},
		Timestamp: base.Add(time.Duration(i) * time.Minute),
	}
}

// reopen opens a second handle on the same database, as a second instance would.
func reopen(t *testing.T, db *database.DB) *database.DB {
	t.Helper()
	other, err := database.Open(db.Config(), nil, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = other.Close() })
	return other
}

// TestStoreContract runs the chain's contract on SQLite and PostgreSQL.
func TestStoreContract(t *testing.T) {
	t.Parallel()
	databasetest.Each(t, audit.Migrations, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		s := audit.NewStore(db, zerolog.Nop())

		t.Run("appends link into a chain", func(t *testing.T) {
			var prev string = audit.GenesisHash
			for i := 1; i <= 3; i++ {
				e, appended, err := s.Append(ctx, fmt.Sprintf("msg-%d", i), record(i, "user:default/bob", "authenticate", "failed"))
				require.NoError(t, err)
				require.True(t, appended)
				require.EqualValues(t, i, e.ID)
				require.Equal(t, prev, e.PrevHash)
				require.Len(t, e.Hash, 64)
				prev = e.Hash
			}
			res, err := audit.Verify(ctx, db)
			require.NoError(t, err)
			require.Equal(t, audit.VerifyResult{OK: true, Checked: 3}, res)
		})

		t.Run("a redelivered event is stored once", func(t *testing.T) {
			e, appended, err := s.Append(ctx, "msg-2", record(99, "user:default/eve", "authenticate", "failed"))
			require.NoError(t, err)
			require.False(t, appended)
			require.EqualValues(t, 2, e.ID)
			require.Equal(t, "user:default/bob", e.Actor.ActorID, "the stored record, not the redelivered one")
		})

		t.Run("concurrent appends from two instances stay one chain", func(t *testing.T) {
			stores := []*audit.Store{s, audit.NewStore(reopen(t, db), zerolog.Nop())}
			var wg sync.WaitGroup
			errs := make(chan error, 40)
			for i := range 40 {
				wg.Go(func() {
					_, _, err := stores[i%2].Append(ctx, fmt.Sprintf("concurrent-%d", i), record(10+i, fmt.Sprintf("user:default/u%d", i%3), "token-issue", "succeeded"))
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			res, err := audit.Verify(ctx, db)
			require.NoError(t, err)
			require.Equal(t, audit.VerifyResult{OK: true, Checked: 43}, res)
		})

		t.Run("list filters and pages newest first", func(t *testing.T) {
			page, err := s.List(ctx, audit.Filter{EventID: "authenticate"})
			require.NoError(t, err)
			require.Equal(t, 3, page.TotalItems)
			require.EqualValues(t, 3, page.Items[0].ID)
			require.Equal(t, "reason 3", page.Items[0].Meta["reason"])
			require.Equal(t, &audit.Request{Method: "GET", URL: "/api/things"}, page.Items[0].Request)
			require.Equal(t, "192.0.2.1", page.Items[0].Actor.IP)

			var ids []int64
			cursor := ""
			for {
				page, err := s.List(ctx, audit.Filter{Actor: "user:default/bob", Status: "failed", Limit: 2, Cursor: cursor})
				require.NoError(t, err)
				require.Equal(t, 3, page.TotalItems)
				for _, e := range page.Items {
					ids = append(ids, e.ID)
				}
				if page.NextCursor == "" {
					break
				}
				cursor = page.NextCursor
			}
			require.Equal(t, []int64{3, 2, 1}, ids)

			page, err = s.List(ctx, audit.Filter{From: base.Add(2 * time.Minute), To: base.Add(3 * time.Minute)})
			require.NoError(t, err)
			require.Equal(t, 1, page.TotalItems)
			require.EqualValues(t, 2, page.Items[0].ID)

			_, err = s.List(ctx, audit.Filter{Cursor: "nope"})
			require.ErrorIs(t, err, audit.ErrBadCursor)
		})

		t.Run("the table refuses updates and deletes", func(t *testing.T) {
			_, err := db.ExecContext(ctx, `UPDATE audit_log SET actor_id = 'x' WHERE id = 1`)
			require.ErrorContains(t, err, "append-only")
			_, err = db.ExecContext(ctx, `DELETE FROM audit_log WHERE id = 1`)
			require.ErrorContains(t, err, "append-only")
		})
	})
}

// dropTriggers does what an intruder with database access would do first.
func dropTriggers(t *testing.T, db *database.DB) {
	t.Helper()
	on := ""
	if db.Dialect() == database.Postgres {
		on = " ON audit_log"
	}
	for _, tr := range []string{"audit_log_no_update", "audit_log_no_delete"} {
		_, err := db.ExecContext(context.Background(), "DROP TRIGGER "+tr+on)
		require.NoError(t, err)
	}
}

// TestTamperingIsFound: Verify and RunVerify (platform audit verify) name the first row
// that was edited, removed or re-hashed.
func TestTamperingIsFound(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		tamper func(t *testing.T, db *database.DB)
		broken int64
		reason string
	}{
		{name: "edited record", broken: 3, reason: "the row's content does not match its hash (edited)", tamper: func(t *testing.T, db *database.DB) {
			_, err := db.ExecContext(context.Background(), `UPDATE audit_log SET record = replace(record, 'failed', 'succeeded'), status = 'succeeded' WHERE id = 3`)
			require.NoError(t, err)
		}},
		{name: "edited column only", broken: 2, reason: "the row's content does not match its hash (edited)", tamper: func(t *testing.T, db *database.DB) {
			_, err := db.ExecContext(context.Background(), `UPDATE audit_log SET actor_id = 'user:default/nobody' WHERE id = 2`)
			require.NoError(t, err)
		}},
		{name: "deleted row", broken: 4, reason: "rows 3 to 3 are missing", tamper: func(t *testing.T, db *database.DB) {
			_, err := db.ExecContext(context.Background(), `DELETE FROM audit_log WHERE id = 3`)
			require.NoError(t, err)
		}},
		{name: "edited and re-hashed", broken: 4, reason: "prev_hash does not match the previous row's hash", tamper: func(t *testing.T, db *database.DB) {
			ctx := context.Background()
			s := audit.NewStore(db, zerolog.Nop())
			// Change row 3's actor and recompute its hash: row 3 then verifies, row 4 does not.
			_, err := db.ExecContext(ctx, `UPDATE audit_log SET actor_id = $1 WHERE id = 3`, "user:default/nobody")
			require.NoError(t, err)
			page, err := s.List(ctx, audit.Filter{Actor: "user:default/nobody"})
			require.NoError(t, err)
			e := page.Items[0]
			_, err = db.ExecContext(ctx, `UPDATE audit_log SET hash = $1 WHERE id = 3`, audit.Hash(e.PrevHash, e))
			require.NoError(t, err)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			databasetest.Each(t, audit.Migrations, func(t *testing.T, db *database.DB) {
				ctx := context.Background()
				s := audit.NewStore(db, zerolog.Nop())
				for i := 1; i <= 5; i++ {
					_, _, err := s.Append(ctx, fmt.Sprintf("msg-%d", i), record(i, "user:default/bob", "authenticate", "failed"))
					require.NoError(t, err)
				}
				var out, errOut bytes.Buffer
				require.Equal(t, 0, audit.RunVerify(ctx, db, &out, &errOut))
				require.Equal(t, "audit log OK: 5 rows checked\n", out.String())

				dropTriggers(t, db)
				tt.tamper(t, db)
				res, err := audit.Verify(ctx, db)
				require.NoError(t, err)
				require.False(t, res.OK)
				require.Equal(t, tt.broken, *res.FirstBrokenID)
				require.Equal(t, tt.reason, res.Reason)

				out.Reset()
				require.Equal(t, 1, audit.RunVerify(ctx, db, &out, &errOut))
				require.Empty(t, out.String())
				require.Contains(t, errOut.String(), fmt.Sprintf("platform: audit log broken at row %d: %s", tt.broken, tt.reason))
			})
		})
	}
}

// TestVerifyEmptyLog: an empty log is intact.
func TestVerifyEmptyLog(t *testing.T) {
	t.Parallel()
	db := databasetest.SQLite(t, audit.Migrations)
	res, err := audit.Verify(context.Background(), db)
	require.NoError(t, err)
	require.Equal(t, audit.VerifyResult{OK: true}, res)
}
