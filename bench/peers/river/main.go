// The River side of `make bench` (docs/benchmarks.md): the work of dtq's
// engine_bench, done by River on PostgreSQL. No-op jobs that report
// progress once (an UPDATE of the job's metadata, committed, as River has no
// progress call of its own) and record the output {}, inserted in batches
// with InsertManyFast while the client already works, as engine_bench
// enqueues while its engine runs. Prints the same lines as engine_bench, so
// that scripts/run-bench.sh reads both the same way.
//
//	river-bench -dsn DSN [-jobs N] [-concurrency C] [-batch B] [-fetch-cooldown D]
//
// C is the number of jobs in flight (the queue's MaxWorkers), as
// engine_bench's --concurrency. The connection pool gets min(C, 64) + 8
// connections: up to 64 workers never wait for one to report their
// progress, and the 8 are River's own (fetches, completions, leadership). A job counts as
// complete when the client's completed event arrives, which River sends
// once the job's completed state is committed.
//
// The schema is migrated and river_job emptied before each run; the server
// is the caller's (scripts/bench/postgres.sh), and this program only reads
// its durability settings back to print them.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

type noopArgs struct{}

func (noopArgs) Kind() string { return "bench_noop" }

type noopWorker struct {
	river.WorkerDefaults[noopArgs]
	pool *pgxpool.Pool
}

func (w *noopWorker) Work(ctx context.Context, job *river.Job[noopArgs]) error {
	// One progress report, durable before the job goes on, as dtq's and
	// BullMQ's are.
	if _, err := w.pool.Exec(ctx,
		`UPDATE river_job SET metadata = jsonb_set(metadata, '{progress}', '50') WHERE id = $1`,
		job.ID); err != nil {
		return err
	}
	return river.RecordOutput(ctx, struct{}{})
}

func moduleVersion(path string) string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == path {
				return dep.Version
			}
		}
	}
	return "?"
}

func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(p*float64(len(sorted)-1))]
}

func run() error {
	dsn := flag.String("dsn", "", "PostgreSQL connection string (scripts/bench/postgres.sh env)")
	jobs := flag.Int("jobs", 200000, "jobs to run")
	concurrency := flag.Int("concurrency", 32, "jobs in flight (the queue's MaxWorkers)")
	batch := flag.Int("batch", 500, "jobs per InsertManyFast")
	cooldown := flag.Duration("fetch-cooldown", river.FetchCooldownMin,
		"River's FetchCooldown: throughput is at most concurrency / cooldown")
	version := flag.Bool("version", false, "print River's version and exit")
	flag.Parse()
	if *version {
		fmt.Println("river", moduleVersion("github.com/riverqueue/river"))
		return nil
	}
	if *dsn == "" {
		return fmt.Errorf("-dsn is required")
	}
	ctx := context.Background()

	config, err := pgxpool.ParseConfig(*dsn)
	if err != nil {
		return err
	}
	config.MaxConns = int32(min(*concurrency, 64) + 8)
	pool, err := pgxpool.NewWithConfig(ctx, config)
	if err != nil {
		return err
	}
	defer pool.Close()

	migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return err
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrating River's schema: %w", err)
	}
	if _, err := pool.Exec(ctx, "TRUNCATE river_job"); err != nil {
		return err
	}
	var pgVersion, syncCommit, fsync string
	if err := pool.QueryRow(ctx,
		"SELECT current_setting('server_version'), current_setting('synchronous_commit'), current_setting('fsync')").
		Scan(&pgVersion, &syncCommit, &fsync); err != nil {
		return err
	}

	workers := river.NewWorkers()
	river.AddWorker(workers, &noopWorker{pool: pool})
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Queues:        map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: *concurrency}},
		Workers:       workers,
		FetchCooldown: *cooldown,
	})
	if err != nil {
		return err
	}
	events, cancel := client.SubscribeConfig(&river.SubscribeConfig{
		ChanSize: *jobs,
		Kinds:    []river.EventKind{river.EventKindJobCompleted, river.EventKindJobFailed},
	})
	defer cancel()
	if err := client.Start(ctx); err != nil {
		return err
	}

	latencies := make([]float64, 0, *jobs)
	done := make(chan error, 1)
	go func() {
		for event := range events {
			if event.Kind != river.EventKindJobCompleted {
				done <- fmt.Errorf("job %d failed: %v", event.Job.ID, event.Job.Errors)
				return
			}
			latencies = append(latencies, float64(time.Since(event.Job.CreatedAt))/float64(time.Millisecond))
			if len(latencies) == *jobs {
				done <- nil
				return
			}
		}
	}()

	start := time.Now()
	params := make([]river.InsertManyParams, 0, *batch)
	for first := 0; first < *jobs; first += *batch {
		params = params[:0]
		for i := first; i < first+*batch && i < *jobs; i++ {
			params = append(params, river.InsertManyParams{Args: noopArgs{}})
		}
		if _, err := client.InsertManyFast(ctx, params); err != nil {
			return fmt.Errorf("insert: %w", err)
		}
	}
	enqueued := time.Now()
	if err := <-done; err != nil {
		return err
	}
	finished := time.Now()
	stopCtx, stop := context.WithTimeout(ctx, 30*time.Second)
	defer stop()
	if err := client.Stop(stopCtx); err != nil {
		return err
	}
	// Outside the timing: the dirty pages of this run are written now, not
	// during whatever `make bench` runs next.
	if _, err := pool.Exec(ctx, "CHECKPOINT"); err != nil {
		return err
	}

	seconds := finished.Sub(start).Seconds()
	sort.Float64s(latencies)
	fmt.Printf("River %s (pgx %s) on PostgreSQL %s, no-op jobs with one progress update each\n",
		moduleVersion("github.com/riverqueue/river"), moduleVersion("github.com/jackc/pgx/v5"), pgVersion)
	fmt.Printf("  postgres             %s, synchronous_commit %s, fsync %s\n",
		strings.TrimPrefix(strings.SplitN(*dsn, "?", 2)[0], "postgres://"), syncCommit, fsync)
	fmt.Printf("  jobs                 %d (concurrency %d: MaxWorkers, fetch cooldown %s, InsertManyFast batches of %d)\n",
		*jobs, *concurrency, *cooldown, *batch)
	fmt.Printf("  durable enqueue      %.0f jobs/s\n", float64(*jobs)/enqueued.Sub(start).Seconds())
	fmt.Printf("  submit -> complete   %.0f jobs/s\n", float64(*jobs)/seconds)
	fmt.Printf("  latency p50          %.2f ms\n", percentile(latencies, 0.50))
	fmt.Printf("  latency p99          %.2f ms\n", percentile(latencies, 0.99))
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "river bench: %v\n", err)
		os.Exit(1)
	}
}
