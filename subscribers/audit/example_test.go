package audit_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rs/zerolog"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/subscribers/audit"
)

// Append records to the chain and verify it, as `platform audit verify` does.
func ExampleVerify() {
	dir, err := os.MkdirTemp("", "audit-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	db, err := database.Open(database.Config{Client: database.ClientSQLite, Connection: database.Connection{DSN: filepath.Join(dir, "db.sqlite")}}, audit.Migrations, zerolog.Nop())
	if err != nil {
		panic(err)
	}
	defer db.Close()
	ctx := context.Background()
	if err := db.Start(ctx); err != nil {
		panic(err)
	}
	store := audit.NewStore(db, zerolog.Nop())
	for i, id := range []string{"event-a", "event-b", "event-a"} { // event-a is delivered twice
		rec, err := audit.ParseRecord([]byte(`{"eventId":"authenticate","status":"failed","meta":{"reason":"token has expired"}}`))
		if err != nil {
			panic(err)
		}
		e, appended, err := store.Append(ctx, id, rec)
		if err != nil {
			panic(err)
		}
		fmt.Printf("delivery %d: row %d appended=%t\n", i+1, e.ID, appended)
	}
	res, err := audit.Verify(ctx, db)
	if err != nil {
		panic(err)
	}
	fmt.Printf("ok=%t checked=%d\n", res.OK, res.Checked)
	// Output:
	// delivery 1: row 1 appended=true
	// delivery 2: row 2 appended=true
	// delivery 3: row 1 appended=false
	// ok=true checked=2
}
