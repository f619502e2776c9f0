// Package cli is the cobra command tree of the axon binary: serve, work, migrate,
// rollback-resolve and dev. Commands are thin: they boot the platform (boot.go) and run.
package cli

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/axonhq/axon/platform/kernel"
)

// Options is everything the command tree takes from main.go.
type Options struct {
	Args    []string
	Getenv  func(string) string
	Stdout  io.Writer
	Stderr  io.Writer
	Version string
	// Modules builds the modules, in order, from the platform dependencies.
	Modules func(ctx context.Context, d *kernel.Deps) ([]kernel.Module, error)
	// Extra adds commands owned outside the platform (e.g. backup), optional.
	Extra []func(o *Options) *cobra.Command
}

// Execute runs the command named by o.Args.
func Execute(ctx context.Context, o Options) error {
	root := NewRoot(&o)
	root.SetArgs(o.Args)
	root.SetOut(o.Stdout)
	root.SetErr(o.Stderr)
	return root.ExecuteContext(ctx)
}

// NewRoot builds the command tree.
func NewRoot(o *Options) *cobra.Command {
	root := &cobra.Command{
		Use:   "axon",
		Short: "Axon: the backend of an AI customer-support platform",
		Long: `Axon is one binary with several roles:

  serve             the HTTP API (run 2+ replicas behind a load balancer)
  work              the River job workers and periodic jobs (1..N processes)
  migrate           database migrations (goose + River), under an advisory lock
  rollback-resolve  repair migration state after a failed or reverted migration
  backup            stream pg_dump to S3 or a directory, list dumps, restore one
  dev               everything in one process for a laptop

Configuration comes from the environment and configs/<APP_ENV>.env.`,
		Version:       o.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(serveCmd(o), workCmd(o), migrateCmd(o), rollbackResolveCmd(o), devCmd(o), backupCmd(o))
	for _, f := range o.Extra {
		root.AddCommand(f(o))
	}
	return root
}

func serveCmd(o *Options) *cobra.Command {
	var withWorker bool
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP API",
		Example: `  axon serve
  PORT=8080 axon serve --with-worker   # also run job workers in-process (development)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), o, withWorker, "api")
		},
	}
	c.Flags().BoolVar(&withWorker, "with-worker", false, "also run the job workers in this process")
	return c
}

func workCmd(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:     "work",
		Short:   "Run the job workers and periodic jobs",
		Example: "  axon work",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runWork(cmd.Context(), o)
		},
	}
}

func devCmd(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "dev",
		Short: "Migrate, then serve and work in one process (laptop defaults)",
		Long: `dev runs migrate, serve and work in one process. Without REDIS_URL, OPENAI_API_KEY,
RESEND_API_KEY, S3_BUCKET or STRIPE_SECRET_KEY it uses the embedded development defaults
(in-process cache, offline AI, logged e-mail, local storage, billing disabled) and says so.`,
		Example: "  axon dev",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := runMigrate(cmd.Context(), o, "up"); err != nil {
				return err
			}
			return runServe(cmd.Context(), o, true, "dev")
		},
	}
}

func migrateCmd(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate [up|down|status|redo]",
		Short: "Apply or inspect database migrations (goose + River)",
		Long: `migrate applies the SQL migrations embedded from db/migrations and River's own
migrations. It holds a Postgres advisory lock, so replicas starting at once run one after the
other. Use it as the release / pre-deploy hook.`,
		Example: `  axon migrate          # same as: axon migrate up
  axon migrate status
  axon migrate down      # roll back the newest migration
  axon migrate redo      # down + up of the newest migration`,
		Args:      cobra.MaximumNArgs(1),
		ValidArgs: []string{"up", "down", "status", "redo"},
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "up"
			if len(args) == 1 {
				dir = args[0]
			}
			switch dir {
			case "up", "down", "status", "redo":
			default:
				return errf("migrate: unknown direction %q (want up, down, status or redo)", dir)
			}
			return runMigrate(cmd.Context(), o, dir)
		},
	}
}

func rollbackResolveCmd(o *Options) *cobra.Command {
	var runDown bool
	c := &cobra.Command{
		Use:   "rollback-resolve VERSION",
		Short: "Mark a migration as not applied (after a failed or manually reverted migration)",
		Long: `rollback-resolve marks VERSION as not applied in goose's version table without running
any SQL (like prisma migrate resolve --rolled-back). With --run-down it runs the migration's
down SQL instead. It prints what it changed.`,
		Example: `  axon rollback-resolve 7
  axon rollback-resolve 7 --run-down`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := parseVersion(args[0])
			if err != nil {
				return err
			}
			return runRollbackResolve(cmd.Context(), o, v, runDown)
		},
	}
	c.Flags().BoolVar(&runDown, "run-down", false, "run the down migration instead of only marking it")
	return c
}
