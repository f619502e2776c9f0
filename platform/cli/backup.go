package cli

import (
	"context"
	"fmt"
	"log/slog"
	"path"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/axonhq/axon/configs"
	"github.com/axonhq/axon/platform/backup"
	"github.com/axonhq/axon/platform/observe"
	"github.com/axonhq/axon/platform/storage"
)

// backupCmd is `axon backup [run|list|restore]`; without a subcommand it runs a backup.
func backupCmd(o *Options) *cobra.Command {
	var to string
	var keep int
	c := &cobra.Command{
		Use:   "backup [run|list|restore]",
		Short: "Back up the database to S3 or a directory, list backups, restore one",
		Long: `backup streams pg_dump --format=custom --no-owner --no-acl of DATABASE_URL into
s3://$S3_BUCKET/backups/axon-<UTC timestamp>.dump (or a local directory with --to), without
holding the dump in memory. Its sha256 is stored beside it as <name>.sha256 and verified on
restore. pg_dump and pg_restore must be on PATH, of the server's major version or newer.

S3 settings: S3_BUCKET, S3_REGION, S3_ENDPOINT (MinIO/R2), AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY. Without a subcommand, backup runs a backup.`,
		Example: `  axon backup                                   # same as: axon backup run
  axon backup run --keep 14                     # and delete all but the newest 14
  axon backup run --to file:///var/backups/axon
  axon backup list
  axon backup restore axon-20250131T020000Z.dump --target-url postgres://u:p@host/axon_restore`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBackup(cmd.Context(), o, to, keep)
		},
	}
	addRunFlags(c, &to, &keep)
	c.AddCommand(backupRunCmd(o), backupListCmd(o), backupRestoreCmd(o))
	return c
}

func addRunFlags(c *cobra.Command, to *string, keep *int) {
	c.Flags().StringVar(to, "to", "", "write to a local directory (file:///absolute/path) instead of S3_BUCKET")
	c.Flags().IntVar(keep, "keep", 0, "after the backup, delete all but the newest N backups (0 keeps all)")
}

func backupRunCmd(o *Options) *cobra.Command {
	var to string
	var keep int
	c := &cobra.Command{
		Use:   "run",
		Short: "Dump the database to S3 (or --to a directory)",
		Long: `run streams pg_dump of DATABASE_URL to s3://$S3_BUCKET/backups/axon-<UTC timestamp>.dump
with a multipart upload (parts of 5 MiB for a database up to 24 GiB, larger above, sized from
pg_database_size; 2 in flight), computing its size and sha256 on the way;
the sha256 is written to <name>.sha256. On a terminal it shows progress (bytes and rate) on
one line; otherwise it logs a progress line every 10 s and one line at the end. If pg_dump fails, the command fails with pg_dump's message and leaves
no partial dump behind. --keep N then deletes all but the newest N axon-*.dump backups.`,
		Example: `  axon backup run
  axon backup run --keep 14
  axon backup run --to file:///var/backups/axon --keep 7`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBackup(cmd.Context(), o, to, keep)
		},
	}
	addRunFlags(c, &to, &keep)
	return c
}

func backupListCmd(o *Options) *cobra.Command {
	var from string
	c := &cobra.Command{
		Use:   "list",
		Short: "List the backups with size, age and sha256, newest first",
		Example: `  axon backup list
  axon backup list --from file:///var/backups/axon`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, _, err := backupConfig(o)
			if err != nil {
				return err
			}
			s, err := backupStore(ctx, cfg, from, "--from")
			if err != nil {
				return err
			}
			ds, err := backup.List(ctx, s)
			if err != nil {
				return err
			}
			if len(ds) == 0 {
				fmt.Fprintf(o.Stdout, "no backups in %s\n", s)
				return nil
			}
			tw := tabwriter.NewWriter(o.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSIZE\tAGE\tSHA256")
			for _, d := range ds {
				sum := d.SHA256
				if sum == "" {
					sum = "(no sidecar)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.Name, humanBytes(d.Size), humanAge(time.Since(d.Created)), sum)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVar(&from, "from", "", "list a local directory (file:///absolute/path) instead of S3_BUCKET")
	return c
}

func backupRestoreCmd(o *Options) *cobra.Command {
	var from, target string
	var clean, noVerify bool
	c := &cobra.Command{
		Use:   "restore KEY --target-url URL",
		Short: "Restore a backup into a database with pg_restore",
		Long: `restore streams the backup KEY (a name from "axon backup list", its S3 key, or a
file:///path/to/name.dump) into pg_restore --no-owner --no-acl --single-transaction, checking
its sha256 on the way. The last bytes reach pg_restore only after the checksum matched, so a
damaged dump fails and the transaction rolls back: the target is left as it was.

The target must have no table in schema public, unless --clean is given: then the dump's
objects are dropped first (pg_restore --clean --if-exists) and recreated; other objects stay.`,
		Example: `  axon backup restore axon-20250131T020000Z.dump --target-url postgres://u:p@host:5432/axon_restore
  axon backup restore backups/axon-20250131T020000Z.dump --target-url "$STAGING_DATABASE_URL" --clean
  axon backup restore file:///var/backups/axon/axon-20250131T020000Z.dump --target-url postgres://localhost/axon`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			key := args[0]
			if strings.HasPrefix(key, "file:") {
				if from != "" {
					return errf("restore: give either a file:// KEY or --from, not both")
				}
				from, key = dirOf(key)
			}
			cfg, log, err := backupConfig(o)
			if err != nil {
				return err
			}
			s, err := backupStore(ctx, cfg, from, "--from")
			if err != nil {
				return err
			}
			m := newMeter(o.Stderr, log, "restored")
			res, err := backup.Restore(ctx, s, key, backup.RestoreOptions{
				TargetURL: target, Clean: clean, NoVerify: noVerify, Progress: m.update,
			})
			m.done(res.Size, res.Elapsed, err)
			if err != nil {
				return err
			}
			verified := "sha256 verified"
			if noVerify {
				verified = "sha256 not checked"
			}
			if !m.tty {
				log.Info("backup restored", "location", res.Location, "target", backup.RedactURL(target),
					"bytes", res.Size, "seconds", res.Elapsed.Seconds(), "mbPerSecond", res.MBps())
			}
			fmt.Fprintf(o.Stdout, "restored %s (%s, %s) into %s\n", res.Location, humanBytes(res.Size), verified, backup.RedactURL(target))
			return nil
		},
	}
	c.Flags().StringVar(&target, "target-url", "", "database to restore into (postgres://…); required")
	c.Flags().BoolVar(&clean, "clean", false, "allow a non-empty target: drop the dump's objects before recreating them")
	c.Flags().StringVar(&from, "from", "", "read from a local directory (file:///absolute/path) instead of S3_BUCKET")
	c.Flags().BoolVar(&noVerify, "no-verify", false, "restore a dump that has no .sha256 sidecar")
	_ = c.MarkFlagRequired("target-url")
	return c
}

// runBackup takes one backup and, with keep > 0, prunes the older ones.
func runBackup(ctx context.Context, o *Options, to string, keep int) error {
	if keep < 0 {
		return errf("--keep must be 0 (keep all) or a positive number (got %d)", keep)
	}
	cfg, log, err := backupConfig(o)
	if err != nil {
		return err
	}
	s, err := backupStore(ctx, cfg, to, "--to")
	if err != nil {
		return err
	}
	if o.Getenv("GOGC") == "" {
		// The live heap of a backup is its part buffers, which hold no pointers, so a
		// collection costs almost nothing, and the default GOGC=100 would let garbage grow
		// to their size: 10 keeps it at a tenth (peak RssAnon 20.2 -> 17.5 MiB for the 1.57
		// GiB database of bench/backup, 15 collections at 0% CPU; docs/decisions.md).
		debug.SetGCPercent(10)
	}
	m := newMeter(o.Stderr, log, "dumped")
	res, err := backup.Run(ctx, s, backup.RunOptions{DatabaseURL: cfg.DatabaseURL, Progress: m.update})
	m.done(res.Size, res.Elapsed, err)
	if err != nil {
		return err
	}
	if !m.tty {
		log.Info("backup written", "location", res.Location, "bytes", res.Size, "sha256", res.SHA256,
			"seconds", res.Elapsed.Seconds(), "mbPerSecond", res.MBps())
	}
	fmt.Fprintf(o.Stdout, "%s  %s  sha256 %s\n", res.Location, humanBytes(res.Size), res.SHA256)
	if keep == 0 {
		return nil
	}
	deleted, err := backup.Prune(ctx, s, keep)
	for _, d := range deleted {
		fmt.Fprintf(o.Stdout, "pruned %s\n", d.Location)
	}
	if err != nil {
		return errf("the backup was written, but pruning failed: %v", err)
	}
	return nil
}

// backupConfig loads the configuration and a logger. Unlike boot it opens no pool: restore
// may target another server, and run only needs DATABASE_URL for pg_dump.
func backupConfig(o *Options) (*configs.Config, *slog.Logger, error) {
	cfg, err := configs.Load(o.Getenv)
	if err != nil {
		return nil, nil, err
	}
	log := observe.NewLogger(o.Stderr, observe.LogOptions{Level: cfg.LogLevel, Format: cfg.LogFormat, Service: "axon-api", Env: cfg.Env})
	return cfg, log, nil
}

// backupStore is the local directory named by loc, else the S3 bucket of the configuration.
func backupStore(ctx context.Context, cfg *configs.Config, loc, flag string) (backup.Store, error) {
	if loc != "" {
		d, err := backup.ParseDir(loc)
		if err != nil {
			return nil, errf("%s: %v (S3 is configured with S3_BUCKET instead)", flag, err)
		}
		return d, nil
	}
	if cfg.S3Bucket == "" {
		return nil, errf("no backup location: set S3_BUCKET (with S3_REGION, S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY as needed) or pass %s file:///path/to/dir", flag)
	}
	st, err := storage.NewS3(ctx, storage.S3Config{
		Bucket: cfg.S3Bucket, Region: cfg.S3Region, Endpoint: cfg.S3Endpoint,
		AccessKeyID: cfg.AWSAccessKeyID, SecretAccessKey: cfg.AWSSecretAccessKey,
	})
	if err != nil {
		return nil, err
	}
	return backup.NewS3(st.Client(), st.Bucket()), nil
}

// dirOf splits file:///dir/name.dump into the directory URL and the name.
func dirOf(u string) (string, string) {
	i := strings.LastIndex(u, "/")
	if i < 0 {
		return u, ""
	}
	return u[:i], path.Base(u[i:])
}

// humanBytes formats a size in decimal units, as MB/s is.
func humanBytes(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1e6:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	case n < 1e9:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	default:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	}
}

// humanAge formats an age coarsely: 45s, 12m, 3h5m, 2d4h.
func humanAge(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
	}
}
