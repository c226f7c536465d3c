package ingress_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/database/databasetest"
	"github.com/stagebus/stagebus/eventsvc/ingress"
)

// poisonRows makes the database itself refuse two rows that pass the ingress's validation:
// the insert of delivery "poison", and the confirmation of delivery "poison-confirm".
func poisonRows(t *testing.T, db *database.DB) {
	t.Helper()
	stmts := map[database.Dialect][]string{
		database.SQLite: {
			`CREATE TRIGGER poison_claim BEFORE INSERT ON ingress_deliveries WHEN NEW.delivery_id = 'poison'
			 BEGIN SELECT RAISE(ABORT, 'poisoned row'); END`,
			`CREATE TRIGGER poison_confirm BEFORE UPDATE ON ingress_deliveries WHEN NEW.delivery_id = 'poison-confirm' AND NEW.state = 'published'
			 BEGIN SELECT RAISE(ABORT, 'poisoned row'); END`,
		},
		database.Postgres: {
			`CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
			   IF NEW.delivery_id = 'poison' OR (TG_OP = 'UPDATE' AND NEW.delivery_id = 'poison-confirm' AND NEW.state = 'published') THEN
			     RAISE EXCEPTION 'poisoned row';
			   END IF;
			   RETURN NEW;
			 END $$`,
			`CREATE TRIGGER poison BEFORE INSERT OR UPDATE ON ingress_deliveries FOR EACH ROW EXECUTE FUNCTION poison()`,
		},
	}[db.Dialect()]
	require.NotEmpty(t, stmts, "dialect %s", db.Dialect())
	for _, s := range stmts {
		_, err := db.ExecContext(context.Background(), s)
		require.NoError(t, err)
	}
}

func deliveryStates(t *testing.T, db *database.DB) map[string]string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), `SELECT delivery_id, state FROM ingress_deliveries`)
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, state string
		require.NoError(t, rows.Scan(&id, &state))
		out[id] = state
	}
	require.NoError(t, rows.Err())
	return out
}

// TestDedupBadRowFailsAlone: a row the database refuses fails only its own operation in a
// group-commit batch, for claims and for confirmations, on SQLite and PostgreSQL; no confirmed
// delivery stays pending.
func TestDedupBadRowFailsAlone(t *testing.T) {
	t.Parallel()
	databasetest.Each(t, ingress.DedupMigrations, func(t *testing.T, db *database.DB) {
		poisonRows(t, db)
		d := ingress.NewDedup(db, 72*time.Hour, zerolog.Nop(), nil) // batches run directly, no writer

		ids := []string{"ok-1", "poison", "ok-2", "poison-confirm", "ok-3"}
		claims, errs := ingress.ClaimBatch(d, "github", ids...)
		for i, id := range ids {
			if id == "poison" {
				require.ErrorContains(t, errs[i], "poisoned row")
				continue
			}
			require.NoError(t, errs[i], id)
			require.Equal(t, ingress.Claimed, claims[i], id)
		}

		confirm := []string{"ok-1", "poison-confirm", "ok-2", "ok-3"}
		errs = ingress.ConfirmBatch(d, "github", confirm...)
		for i, id := range confirm {
			if id == "poison-confirm" {
				require.ErrorContains(t, errs[i], "poisoned row")
			} else {
				require.NoError(t, errs[i], id)
			}
		}
		require.Equal(t, map[string]string{"ok-1": "published", "ok-2": "published", "ok-3": "published", "poison-confirm": "pending"},
			deliveryStates(t, db), "only the refused confirmation is left pending")

		claims, errs = ingress.ClaimBatch(d, "github", "ok-1", "poison", "new")
		require.Equal(t, []ingress.Claim{ingress.Duplicate, 0, ingress.Claimed}, []ingress.Claim{claims[0], 0, claims[2]})
		require.NoError(t, errs[0])
		require.Error(t, errs[1])
		require.NoError(t, errs[2])
	})
}
