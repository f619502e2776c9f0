package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/axonhq/axon/configs"
	"github.com/axonhq/axon/modules/channels"
	"github.com/axonhq/axon/platform/cli"
	"github.com/axonhq/axon/platform/observe"
	"github.com/axonhq/axon/platform/pg"
	"github.com/axonhq/axon/platform/secretbox"
)

// newBox builds the process's secretbox from CHANNEL_ENCRYPTION_KEY and
// CHANNEL_ENCRYPTION_KEY_OLD. Outside development/test the key is required (configs checks
// it); there, without one, a key is derived from JWT_SECRET (as storage.FromConfig derives
// the local signing key).
func newBox(cfg *configs.Config) (*secretbox.Box, error) {
	boxKey, boxOld := cfg.ChannelEncryptionKey, cfg.ChannelEncryptionKeyOld
	if len(boxKey) == 0 {
		k := sha256.Sum256([]byte("axon-dev-secretbox\x00" + cfg.JWTSecret))
		boxKey = k[:]
	}
	return secretbox.New(boxKey, boxOld)
}

// channelsCmd is `axon channels rotate-key`.
func channelsCmd(o *cli.Options) *cobra.Command {
	root := &cobra.Command{
		Use:   "channels",
		Short: "Channel maintenance (re-encrypt credentials under a new key)",
	}
	var batch int
	rotate := &cobra.Command{
		Use:   "rotate-key",
		Short: "Re-encrypt every channel and integration credential under CHANNEL_ENCRYPTION_KEY",
		Long: `rotate-key re-encrypts, under the current CHANNEL_ENCRYPTION_KEY, every stored credential
(channels.credentials_enc and webhook_secret_enc, integrations.credentials_enc) sealed under
another key; the previous key must be in CHANNEL_ENCRYPTION_KEY_OLD. It works in batches, one
transaction each, and is resumable: only rows whose key_version is not the current key's are
touched, so a re-run after an interruption finishes the job and a run with nothing left
changes 0 rows. It prints how many rows it changed. It is safe beside serve and work.

Rotation: set CHANNEL_ENCRYPTION_KEY to a new key and CHANNEL_ENCRYPTION_KEY_OLD to the old
one, restart serve and work, run this command, then remove CHANNEL_ENCRYPTION_KEY_OLD.`,
		Example: `  CHANNEL_ENCRYPTION_KEY=$NEW CHANNEL_ENCRYPTION_KEY_OLD=$OLD axon channels rotate-key`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := configs.Load(o.Getenv)
			if err != nil {
				return err
			}
			box, err := newBox(cfg)
			if err != nil {
				return err
			}
			db, _, err := commandDB(cmd.Context(), o, cfg)
			if err != nil {
				return err
			}
			defer db.Close()
			r, err := channels.RotateKeys(cmd.Context(), db, box, batch)
			fmt.Fprintf(o.Stdout, "rotate-key: %d channels and %d integrations re-encrypted under key version %d (%d changed)\n",
				r.Channels, r.Integrations, box.CurrentVersion(), r.Channels+r.Integrations)
			return err
		},
	}
	rotate.Flags().IntVar(&batch, "batch", 100, "rows per transaction")
	root.AddCommand(rotate)
	return root
}

// commandDB opens a small pool for a one-shot maintenance command (analytics backfill,
// channels rotate-key), logging like the worker to the command's stderr.
func commandDB(ctx context.Context, o *cli.Options, cfg *configs.Config) (*pg.DB, *slog.Logger, error) {
	log := observe.NewLogger(o.Stderr, observe.LogOptions{Level: cfg.LogLevel, Format: cfg.LogFormat, Service: "axon-worker", Env: cfg.Env})
	db, err := pg.Open(ctx, pg.Options{URL: cfg.DatabaseURL, MaxConns: 2, Logger: log})
	return db, log, err
}
