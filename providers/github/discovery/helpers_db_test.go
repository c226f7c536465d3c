package discovery_test

import (
	"testing"

	"github.com/stagebus/stagebus/catalog"
	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/database/databasetest"
)

func databaseForTest(t *testing.T) *database.DB {
	return databasetest.SQLite(t, catalog.Migrations)
}
