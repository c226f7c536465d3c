// Package databasetest runs store tests against every database Stagebus supports: SQLite
// always, and PostgreSQL when PLATFORM_TEST_POSTGRES_URL is set (scripts/services sets it;
// with PLATFORM_REQUIRE_REAL_SERVICES=1, as in CI, a missing PostgreSQL fails the test
// instead of skipping it).
package databasetest
