package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/database/databasetest"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/subscribers/audit"
)

func appendN(t *testing.T, db *database.DB, from, to int) {
	t.Helper()
	s := audit.NewStore(db, zerolog.Nop())
	for i := from; i <= to; i++ {
		_, _, err := s.Append(context.Background(), fmt.Sprintf("msg-%d", i), record(i, "user:default/bob", "authenticate", "failed"))
		require.NoError(t, err)
	}
}

// rehashFrom recomputes every row's prev_hash and hash from row id on, as an intruder who
// edited row id would, so that the chain verifies on its own again.
func rehashFrom(t *testing.T, db *database.DB, id int64) {
	t.Helper()
	ctx := context.Background()
	page, err := audit.NewStore(db, zerolog.Nop()).List(ctx, audit.Filter{Limit: 500})
	require.NoError(t, err)
	entries := page.Items
	prev := audit.GenesisHash
	for i := len(entries) - 1; i >= 0; i-- { // oldest first
		e := entries[i]
		if e.ID >= id {
			e.PrevHash = prev
			e.Hash = audit.Hash(prev, e)
			_, err := db.ExecContext(ctx, `UPDATE audit_log SET prev_hash = $1, hash = $2 WHERE id = $3`, e.PrevHash, e.Hash, e.ID)
			require.NoError(t, err)
		}
		prev = e.Hash
	}
}

// TestCheckpointsFindWhatTheChainCannot: truncating the end of the log, or editing a row and
// re-hashing everything after it, leaves a chain that verifies on its own; a checkpoint
// taken before (kept outside the database) finds both. An honest log that grew since passes.
func TestCheckpointsFindWhatTheChainCannot(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		tamper  func(t *testing.T, db *database.DB)
		wantRow int64
		want    string // "" for an honest log
	}{
		{name: "honest log that grew", tamper: func(t *testing.T, db *database.DB) { appendN(t, db, 11, 13) }},
		{name: "last 5 rows deleted", wantRow: 6, want: "checkpoint 10:%s recorded 10 rows, the log has 5 (truncated)", tamper: func(t *testing.T, db *database.DB) {
			dropTriggers(t, db)
			_, err := db.ExecContext(context.Background(), `DELETE FROM audit_log WHERE id > 5`)
			require.NoError(t, err)
		}},
		{name: "last 5 rows deleted and 5 others appended", wantRow: 10, want: "the row's hash differs from checkpoint 10:%s (rows up to 10 were rewritten)", tamper: func(t *testing.T, db *database.DB) {
			dropTriggers(t, db)
			_, err := db.ExecContext(context.Background(), `DELETE FROM audit_log WHERE id > 5`)
			require.NoError(t, err)
			appendN(t, db, 106, 110)
		}},
		{name: "row 3 edited and the chain re-hashed", wantRow: 10, want: "the row's hash differs from checkpoint 10:%s (rows up to 10 were rewritten)", tamper: func(t *testing.T, db *database.DB) {
			dropTriggers(t, db)
			_, err := db.ExecContext(context.Background(), `UPDATE audit_log SET actor_id = 'user:default/nobody' WHERE id = 3`)
			require.NoError(t, err)
			rehashFrom(t, db, 3)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			databasetest.Each(t, audit.Migrations, func(t *testing.T, db *database.DB) {
				ctx := context.Background()
				appendN(t, db, 1, 10)
				cp, err := audit.Head(ctx, db)
				require.NoError(t, err)
				require.EqualValues(t, 10, cp.Rows)
				tt.tamper(t, db)

				alone, err := audit.Verify(ctx, db)
				require.NoError(t, err)
				require.True(t, alone.OK, "the chain alone cannot tell: %+v", alone)

				res, err := audit.Verify(ctx, db, cp)
				require.NoError(t, err)
				var out, errOut bytes.Buffer
				code := audit.RunVerify(ctx, db, &out, &errOut, cp)
				if tt.want == "" {
					require.True(t, res.OK, "%+v", res)
					require.Equal(t, 0, code, errOut.String())
					require.Equal(t, fmt.Sprintf("audit log OK: %d rows checked, 1 checkpoints matched\n", res.Checked), out.String())
					return
				}
				want := fmt.Sprintf(tt.want, cp.Hash)
				require.False(t, res.OK)
				require.Equal(t, tt.wantRow, *res.FirstBrokenID)
				require.Equal(t, want, res.Reason)
				require.Equal(t, 1, code)
				require.Empty(t, out.String())
				require.Equal(t, fmt.Sprintf("platform: audit log broken at row %d: %s (%d rows checked)\n", tt.wantRow, want, res.Checked), errOut.String())
			})
		})
	}
}

func TestParseCheckpoint(t *testing.T) {
	t.Parallel()
	h := strings.Repeat("0a", 32)
	tests := []struct {
		in   string
		want audit.Checkpoint
		err  string
	}{
		{in: "12:" + h, want: audit.Checkpoint{Rows: 12, Hash: h}},
		{in: " 0:" + audit.GenesisHash + "\n", want: audit.Checkpoint{Hash: audit.GenesisHash}},
		{in: "0:" + h, err: "an empty log's hash is 0000"},
		{in: "12", err: "want ROWS:HASH"},
		{in: "-1:" + h, err: "want ROWS:HASH"},
		{in: "x:" + h, err: "want ROWS:HASH"},
		{in: "12:" + strings.ToUpper(h), err: "64 lowercase hex digits"},
		{in: "12:" + h[:63], err: "64 lowercase hex digits"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := audit.ParseCheckpoint(tt.in)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			require.Equal(t, strings.TrimSpace(tt.in), got.String())
		})
	}
}

func FuzzParseCheckpoint(f *testing.F) {
	f.Add("12:" + strings.Repeat("ab", 32))
	f.Add("0:" + audit.GenesisHash)
	f.Add("99999999999999999999:")
	f.Add(":")
	f.Fuzz(func(t *testing.T, s string) {
		cp, err := audit.ParseCheckpoint(s)
		if err != nil {
			return
		}
		again, err := audit.ParseCheckpoint(cp.String())
		require.NoError(t, err)
		require.Equal(t, cp, again)
		require.GreaterOrEqual(t, cp.Rows, int64(0))
	})
}

// TestCheckpointer: each checkpoint is published on auth.audit.checkpoint and exposed as
// metrics; one that finds the log shorter than, or different from, the previous checkpoint
// counts a mismatch. Start takes the first at once; Stop ends the loop.
func TestCheckpointer(t *testing.T) {
	t.Parallel()
	databasetest.Each(t, audit.Migrations, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		bus := &eventsvctest.Recorder{}
		reg := prometheus.NewRegistry()
		c, err := audit.NewCheckpointer(db, bus, zerolog.Nop(), time.Hour, reg)
		require.NoError(t, err)
		require.NoError(t, c.Start(ctx))
		require.Eventually(t, func() bool { return len(bus.Published(audit.CheckpointTopic)) == 1 }, 10*time.Second, 5*time.Millisecond)
		require.NoError(t, c.Stop(ctx))

		appendN(t, db, 1, 4)
		cp, err := c.Take(ctx)
		require.NoError(t, err)
		published := bus.Published(audit.CheckpointTopic)
		require.Len(t, published, 2)
		var got audit.Checkpoint
		require.NoError(t, json.Unmarshal(published[1].Payload, &got))
		require.Equal(t, cp.String(), got.String())
		require.EqualValues(t, 4, metric(t, reg, "stagebus_audit_checkpoint_rows"))
		require.EqualValues(t, 1, metric(t, reg, "stagebus_audit_checkpoint_info", "hash", cp.Hash))
		require.EqualValues(t, 0, metric(t, reg, "stagebus_audit_checkpoint_mismatches_total"))

		dropTriggers(t, db)
		_, err = db.ExecContext(ctx, `DELETE FROM audit_log WHERE id > 2`)
		require.NoError(t, err)
		_, err = c.Take(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 1, metric(t, reg, "stagebus_audit_checkpoint_mismatches_total"), "truncated")
		appendN(t, db, 103, 104) // back to 4 rows, but not the same ones
		_, err = c.Take(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 1, metric(t, reg, "stagebus_audit_checkpoint_mismatches_total"), "extends the previous checkpoint (2 rows)")
		_, err = db.ExecContext(ctx, `UPDATE audit_log SET actor_id = 'x' WHERE id = 1`)
		require.NoError(t, err)
		rehashFrom(t, db, 1)
		_, err = c.Take(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 2, metric(t, reg, "stagebus_audit_checkpoint_mismatches_total"), "rewritten")
	})
}

// TestCheckpointRoutes: POST /api/audit/checkpoint returns the head for an admin; the verify
// route checks checkpoints given as query parameters and refuses malformed ones.
func TestCheckpointRoutes(t *testing.T) {
	t.Parallel()
	a := startApp(t)
	appendN(t, a.db, 1, 3)
	code, body := a.do(http.MethodPost, audit.CheckpointPath, "admin")
	require.Equal(t, http.StatusOK, code, body)
	require.EqualValues(t, 3, body["rows"])
	text := body["checkpoint"].(string)
	require.True(t, strings.HasPrefix(text, "3:"), text)
	code, _ = a.do(http.MethodPost, audit.CheckpointPath, "bob")
	require.Equal(t, http.StatusForbidden, code)

	code, body = a.get(audit.VerifyPath+"?checkpoint="+url.QueryEscape(text), "admin")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, true, body["ok"])
	code, body = a.get(audit.VerifyPath+"?checkpoint="+url.QueryEscape("4:"+strings.Repeat("ab", 32)), "admin")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, false, body["ok"])
	require.Contains(t, body["reason"], "(truncated)")
	code, body = a.get(audit.VerifyPath+"?checkpoint=nope", "admin")
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, fmt.Sprint(body), "want ROWS:HASH")
}

func (a app) do(method, path, token string) (int, map[string]any) {
	a.t.Helper()
	r := httptest.NewRequest(method, path, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	a.srv.Handler().ServeHTTP(w, r)
	var body map[string]any
	require.NoError(a.t, json.Unmarshal(w.Body.Bytes(), &body), w.Body.String())
	return w.Code, body
}

// refusing is a bus that refuses every publish.
type refusing struct{}

func (refusing) Publish(context.Context, eventsvc.Event) error { return errors.New("bus down") }

// TestCheckpointerLast: Last is the last checkpoint this process took — none before the
// first, the one Take returned after it, and one whose publication failed too.
func TestCheckpointerLast(t *testing.T) {
	t.Parallel()
	databasetest.Each(t, audit.Migrations, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		tests := []struct {
			name    string
			bus     eventsvc.Publisher
			wantErr bool
		}{
			{"published", &eventsvctest.Recorder{}, false},
			{"not published", refusing{}, true},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c, err := audit.NewCheckpointer(db, tt.bus, zerolog.Nop(), time.Hour, nil)
				require.NoError(t, err)
				_, ok := c.Last()
				require.False(t, ok, "no checkpoint yet")
				appendN(t, db, 10*i+1, 10*i+2)
				head, err := audit.Head(ctx, db)
				require.NoError(t, err)
				cp, err := c.Take(ctx)
				require.Equal(t, tt.wantErr, err != nil, "%v", err)
				last, ok := c.Last()
				require.True(t, ok)
				require.Equal(t, head.String(), last.String())
				if err == nil {
					require.Equal(t, cp, last)
				}
			})
		}
	})
}
