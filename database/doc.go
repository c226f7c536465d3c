// Package database is the one database Stagebus keeps its state in (catalog, audit log,
// deduplication, dead letters, public keys): SQLite through a pure-Go driver by default, or
// PostgreSQL through pgx, chosen by backend.database.client.
//
// Queries use $1, $2 … placeholders, which both dialects accept. Modules bring their own
// [Migration]s through the "migrations" value group ([AsMigrations]); they are applied at
// start-up in one transaction, serialised across instances that share a PostgreSQL database.
package database
