//go:build reliability

package reliability

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/database/databasetest"
)

// timing is how long a scenario's phases last.
type timing struct {
	warm   time.Duration // load before the first fault, so that a backlog builds up
	gap    time.Duration // load between two kills
	outage time.Duration // how long the broker, or a killed instance of two, stays down
	// dbOutage is how long PostgreSQL stays down: 10 s short, 30 s long, both below the least
	// time the default retry policy (events.retry: 8 attempts, waits of 1, 2, 4, 8, 16, 30 and
	// 30 s ±50%) gives a handler that needs the database before it dead-letters the event,
	// about 45 s.
	dbOutage time.Duration
	tail     time.Duration // load after the fault ended
}

// phases are the short timings (CI) or, with -reliability.long, the long ones.
func phases() timing {
	if *long {
		return timing{warm: 10 * time.Second, gap: 10 * time.Second, outage: 30 * time.Second, dbOutage: 30 * time.Second, tail: 10 * time.Second}
	}
	return timing{warm: 3 * time.Second, gap: 2 * time.Second, outage: 10 * time.Second, dbOutage: 10 * time.Second, tail: 3 * time.Second}
}

// deployment is a scenario's running system: its instances on one bus, and the load.
type deployment struct {
	bus       bus
	instances []*instance
	load      *load
}

// fault injects a scenario's fault under load and returns when the fault ended: the instance
// or the service is back and answers.
type fault func(t *testing.T, d *deployment, tm timing) (end time.Time)

// sqlSQLite is the SQL bus on SQLite.
func sqlSQLite(t *testing.T) bus {
	path := filepath.Join(t.TempDir(), "stagebus.db")
	return bus{
		yaml: fmt.Sprintf("  database:\n    connection: %s\nevents:\n  bus: sql\n  sql:\n    leaseTimeout: 2s\n", path),
		db:   database.Config{Client: database.ClientSQLite, Connection: database.Connection{DSN: path}},
	}
}

// sqlPostgres is the SQL bus on a fresh schema of the private PostgreSQL.
func sqlPostgres(t *testing.T) bus {
	cfg := databasetest.PostgresConfig(t)
	return bus{
		yaml: fmt.Sprintf("  database:\n    client: pg\n    connection: %q\nevents:\n  bus: sql\n  sql:\n    leaseTimeout: 2s\n", cfg.Connection.DSN),
		db:   cfg,
	}
}

// kafkaPostgres is the Kafka bus on the private broker, with topics and consumer groups of its
// own, its database a fresh schema of the private PostgreSQL; events.kafka.outbox is
// -reliability.outbox.
func kafkaPostgres(t *testing.T) bus {
	cfg := databasetest.PostgresConfig(t)
	prefix := "rel" + randomHex(4) + "."
	outboxYAML := ""
	if *outbox {
		outboxYAML = "    outbox: true\n"
	}
	return bus{
		yaml: fmt.Sprintf("  database:\n    client: pg\n    connection: %q\nevents:\n  bus: kafka\n  kafka:\n    brokers: [%s]\n    topicPrefix: %s\n    groupPrefix: %s\n    sessionTimeout: 3s\n%s",
			cfg.Connection.DSN, svc.kafka, prefix, prefix, outboxYAML),
		db: cfg,
	}
}

// kafkaName names the Kafka path the scenarios take.
func kafkaName() string {
	if *outbox {
		return "kafka-outbox"
	}
	return "kafka-direct"
}

// killStagebus kills the instance with SIGKILL three times, a gap of load apart, and starts it
// again each time on the same configuration.
func killStagebus(t *testing.T, d *deployment, tm timing) time.Time {
	for range 3 {
		time.Sleep(tm.gap)
		in := d.instances[0]
		in.kill(t, syscall.SIGKILL)
		d.load.up[0].Store(false)
		in.start(t)
		d.load.up[0].Store(true)
	}
	return time.Now()
}

// terminateStagebus stops the instance with SIGTERM (a graceful drain, exit 0) and starts it
// again.
func terminateStagebus(t *testing.T, d *deployment, _ timing) time.Time {
	in := d.instances[0]
	in.stop(t)
	d.load.up[0].Store(false)
	if log := in.stderr.String(); log != "" {
		t.Logf("the stopped instance's warnings and errors:\n%s", log[max(0, len(log)-4000):])
	}
	in.start(t)
	d.load.up[0].Store(true)
	return time.Now()
}

// killOneOfTwo kills the second instance with SIGKILL, keeps it down for the outage while the
// first takes the load, and starts it again.
func killOneOfTwo(t *testing.T, d *deployment, tm timing) time.Time {
	in := d.instances[1]
	in.kill(t, syscall.SIGKILL)
	d.load.up[1].Store(false)
	time.Sleep(tm.outage)
	in.start(t)
	d.load.up[1].Store(true)
	return time.Now()
}

// stopBroker returns the fault that stops the private Kafka broker with sig (SIGTERM: a clean
// shutdown; SIGKILL; SIGSTOP: frozen, its connections open), keeps it down for the outage, and
// brings it back on the same port and data (SIGCONT for a frozen one).
func stopBroker(sig syscall.Signal) fault {
	return func(t *testing.T, d *deployment, tm timing) time.Time {
		switch sig {
		case syscall.SIGTERM:
			require.NoError(t, svc.run("../scripts/services", "pause", "kafka"))
		case syscall.SIGKILL:
			require.NoError(t, svc.run("../scripts/kafka/broker", "signal", "KILL"))
		case syscall.SIGSTOP:
			require.NoError(t, svc.run("../scripts/kafka/broker", "signal", "STOP"))
		}
		d.load.outage.Store(true)
		time.Sleep(tm.outage)
		d.load.outage.Store(false)
		if sig == syscall.SIGSTOP {
			require.NoError(t, svc.run("../scripts/kafka/broker", "signal", "CONT"))
		}
		require.NoError(t, svc.run("../scripts/services", "resume", "kafka"))
		return time.Now()
	}
}

// stopPostgres stops the private PostgreSQL (fast shutdown) for the database outage and starts
// it again on the same port and data.
func stopPostgres(t *testing.T, d *deployment, tm timing) time.Time {
	require.NoError(t, svc.run("../scripts/services", "pause", "postgres"))
	d.load.outage.Store(true)
	time.Sleep(tm.dbOutage)
	d.load.outage.Store(false)
	require.NoError(t, svc.run("../scripts/services", "resume", "postgres"))
	return time.Now()
}

// scenario is a fault under load and what must hold besides "no acknowledged delivery lost".
type scenario struct {
	name      string
	bus       func(t *testing.T) bus
	instances int
	fault     fault
	check     func(t *testing.T, d *deployment, r result)
}

// TestReliability is the reliability report: each scenario runs the real binary under load
// (workers sending signed GitHub pushes as fast as the recorder subscriber handles them at best),
// injects its fault, stops the load, waits for the backlog to drain, and prints one line
//
//	scenario=<name> sent=N acknowledged=N handled=N lost=N duplicated=N recovery_s=N
//
// where lost counts the deliveries answered 202 that the recorder never handled, duplicated
// the deliveries beyond the first over the recorder's rows, and recovery_s the seconds from
// the end of the fault until every acknowledged delivery was handled. A scenario fails when
// lost is not zero, or when its own check fails.
func TestReliability(t *testing.T) {
	ackedInOutage := func(t *testing.T, d *deployment, _ result) {
		if *outbox {
			require.NotZero(t, d.load.ackedInOutage, "with the outbox, ingestion answers 202 while the broker is down")
		}
	}
	// A graceful stop hands out and handles what its subscriptions fetched, and records it, so
	// the restarted instance handles nothing a second time.
	handledOnce := func(t *testing.T, _ *deployment, r result) {
		require.Zero(t, r.duplicated, "a graceful stop handled every event it fetched and recorded it")
	}
	tests := []scenario{
		{name: "sigkill-sql-sqlite", bus: sqlSQLite, instances: 1, fault: killStagebus},
		{name: "sigkill-sql-postgres", bus: sqlPostgres, instances: 1, fault: killStagebus},
		{name: "sigkill-" + kafkaName(), bus: kafkaPostgres, instances: 1, fault: killStagebus},
		{name: "broker-sigterm-" + kafkaName(), bus: kafkaPostgres, instances: 1, fault: stopBroker(syscall.SIGTERM), check: ackedInOutage},
		{name: "broker-sigkill-" + kafkaName(), bus: kafkaPostgres, instances: 1, fault: stopBroker(syscall.SIGKILL), check: ackedInOutage},
		{name: "broker-sigstop-" + kafkaName(), bus: kafkaPostgres, instances: 1, fault: stopBroker(syscall.SIGSTOP), check: ackedInOutage},
		{
			name: "postgres-stop-sql-postgres", bus: sqlPostgres, instances: 1, fault: stopPostgres,
			check: func(t *testing.T, d *deployment, _ result) {
				require.Zero(t, d.load.ackedInOutage, "nothing is acknowledged while the bus's database is down")
				require.NotZero(t, d.load.refusedInOutage, "ingestion answers 503 while the bus's database is down")
			},
		},
		{name: "postgres-stop-" + kafkaName(), bus: kafkaPostgres, instances: 1, fault: stopPostgres},
		{name: "sigterm-sql-sqlite", bus: sqlSQLite, instances: 1, fault: terminateStagebus, check: handledOnce},
		{name: "sigterm-" + kafkaName(), bus: kafkaPostgres, instances: 1, fault: terminateStagebus, check: handledOnce},
		{name: "two-instances-" + kafkaName(), bus: kafkaPostgres, instances: 2, fault: killOneOfTwo},
	}
	for _, sc := range tests {
		t.Run(sc.name, sc.run)
	}
}

// run runs the scenario: see TestReliability.
func (sc scenario) run(t *testing.T) {
	tm := phases()
	d := &deployment{bus: sc.bus(t)}
	ports := make([]int, sc.instances)
	for i := range ports {
		ports[i] = freePort(t)
		d.instances = append(d.instances, startInstance(t, ports[i], d.bus))
	}
	d.load = newLoad(sc.name+"-"+randomHex(3), sendEvery, ports)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() { d.load.run(stop); close(done) }()
	stopLoad := sync.OnceFunc(func() { close(stop); <-done })
	defer stopLoad()

	time.Sleep(tm.warm)
	begin := time.Now()
	end := sc.fault(t, d, tm)
	time.Sleep(tm.tail)
	stopLoad()

	acked := d.load.ackedIDs()
	handledAt, rec, lost := waitHandled(t, d.bus.db, acked)
	for _, in := range d.instances {
		in.stop(t)
	}
	r := result{name: sc.name, sent: d.load.sent, acknowledged: len(acked), handled: len(acked) - lost, lost: lost, recovery: max(0, handledAt.Sub(end))}
	var twice []string
	for id, row := range rec {
		if row.Deliveries > 1 {
			r.duplicated += row.Deliveries - 1
			twice = append(twice, fmt.Sprintf("%s first handled at %+.1fs", id, row.HandledAt.Sub(begin).Seconds()))
		}
	}
	fmt.Println(r)
	if len(twice) > 0 {
		slices.Sort(twice)
		t.Logf("%s: delivered more than once, first handled relative to the fault's start: %s", sc.name, strings.Join(twice[:min(len(twice), 20)], "; "))
	}
	dead := deadLetters(t, d.bus.db)
	t.Logf("%s: answers by status (0: none) %v; during the outage 202: %d, 503: %d; dead letters: %d",
		sc.name, d.load.statuses, d.load.ackedInOutage, d.load.refusedInOutage, dead)
	require.NotZero(t, r.acknowledged, "nothing was acknowledged")
	require.Zero(t, r.lost, "acknowledged deliveries were never handled (the dead-letter store holds %d events)", dead)
	if sc.check != nil {
		sc.check(t, d, r)
	}
}
