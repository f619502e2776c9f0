package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/axonhq/axon/configs"
	"github.com/axonhq/axon/modules/analytics"
	"github.com/axonhq/axon/modules/billing"
	"github.com/axonhq/axon/platform/cli"
)

// analyticsCmd is `axon analytics backfill --from --to`: the daily rollup (the code of the
// analytics.rollup_day job) for every day of a range, one progress line per day.
func analyticsCmd(o *cli.Options) *cobra.Command {
	root := &cobra.Command{
		Use:   "analytics",
		Short: "Analytics maintenance (backfill the daily rollups)",
	}
	var from, to string
	backfill := &cobra.Command{
		Use:   "backfill --from YYYY-MM-DD --to YYYY-MM-DD",
		Short: "Run the daily analytics rollup for each day of a range (UTC dates, both included)",
		Long: `backfill runs the analytics.rollup_day computation for every day from --from to --to,
oldest first, printing one line per day (date, rows written, rows removed, duration). It is
idempotent: re-running a day rewrites the same rows. It runs beside "axon work" safely (each
day holds an advisory lock while it is rolled up).`,
		Example: `  axon analytics backfill --from 2025-01-01 --to 2025-03-31
  axon analytics backfill --from 2025-06-01 --to 2025-06-01   # one day`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := time.Parse(time.DateOnly, from)
			if err != nil {
				return fmt.Errorf("--from must be a date YYYY-MM-DD (got %q)", from)
			}
			t, err := time.Parse(time.DateOnly, to)
			if err != nil {
				return fmt.Errorf("--to must be a date YYYY-MM-DD (got %q)", to)
			}
			if t.Before(f) {
				return fmt.Errorf("--from %s is after --to %s", from, to)
			}
			cfg, err := configs.Load(o.Getenv)
			if err != nil {
				return err
			}
			db, log, err := commandDB(cmd.Context(), o, cfg)
			if err != nil {
				return err
			}
			defer db.Close()
			svc, err := analytics.NewService(db, billing.Usage{}, nil, log)
			if err != nil {
				return err
			}
			return svc.Backfill(cmd.Context(), f, t, o.Stdout)
		},
	}
	backfill.Flags().StringVar(&from, "from", "", "first day (YYYY-MM-DD, UTC); required")
	backfill.Flags().StringVar(&to, "to", "", "last day (YYYY-MM-DD, UTC); required")
	_ = backfill.MarkFlagRequired("from")
	_ = backfill.MarkFlagRequired("to")
	root.AddCommand(backfill)
	return root
}
