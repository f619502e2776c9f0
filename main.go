// Command axon is the Axon backend: one binary whose roles are serve, work, migrate,
// rollback-resolve and dev. This is the only file that knows every module: it builds the
// platform dependencies each module needs and lists the modules explicitly.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/axonhq/axon/modules/agents"
	"github.com/axonhq/axon/modules/analytics"
	"github.com/axonhq/axon/modules/auth"
	"github.com/axonhq/axon/modules/billing"
	"github.com/axonhq/axon/modules/channels"
	"github.com/axonhq/axon/modules/channels/outbound"
	"github.com/axonhq/axon/modules/email"
	"github.com/axonhq/axon/modules/ingestion"
	"github.com/axonhq/axon/modules/ops"
	"github.com/axonhq/axon/platform/ai"
	"github.com/axonhq/axon/platform/backup"
	"github.com/axonhq/axon/platform/cli"
	"github.com/axonhq/axon/platform/kernel"
	"github.com/axonhq/axon/platform/storage"
)

// version is set at build time (-ldflags "-X main.version=…").
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "axon:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return cli.Execute(ctx, cli.Options{
		Args: args, Getenv: getenv, Stdout: stdout, Stderr: stderr, Version: version,
		Modules: modules,
		Extra:   []func(*cli.Options) *cobra.Command{extractChildCmd, analyticsCmd, channelsCmd},
	})
}

// extractChildCmd is the hidden `axon extract-child KIND`: the process in which the
// ingestion worker parses one untrusted file (stdin) under memory and CPU limits.
func extractChildCmd(o *cli.Options) *cobra.Command {
	return &cobra.Command{
		Use:                ingestion.ChildCommand + " KIND",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			if code := ingestion.ExtractChildMain(args, os.Stdin, o.Stdout, o.Stderr); code != 0 {
				return fmt.Errorf("%s: exit status %d", ingestion.ChildCommand, code)
			}
			return nil
		},
	}
}

// modules builds every module, in order, from the platform dependencies. A module reaches
// another only through the contract passed here.
func modules(ctx context.Context, d *kernel.Deps) ([]kernel.Module, error) {
	cfg := d.Config
	appURL := cfg.AppURL()
	// One provider per process: its embedding limiter is process-wide.
	provider := ai.FromConfig(cfg, d.Log)
	store, localStore, s3, err := storage.FromConfig(ctx, cfg, d.Log) // s3 is also the backups' destination
	if err != nil {
		return nil, err
	}
	sender, err := email.SenderFromConfig(cfg, d.Log)
	if err != nil {
		return nil, err
	}
	// Links with invitation, verification and reset tokens are sealed in the emails table
	// until sent. Outside development/test CHANNEL_ENCRYPTION_KEY is required; there, a key
	// is derived from JWT_SECRET (as storage.FromConfig derives the local signing key).
	box, err := newBox(cfg)
	if err != nil {
		return nil, err
	}
	mail, err := email.New(email.Deps{DB: d.DB, Queue: d.Queue, Sender: sender, Log: d.Log, AppURL: appURL, Box: box})
	if err != nil {
		return nil, err
	}

	// Directories: read-only views of a module's tables, built before the modules that
	// consult them. accounts (auth's users and members) serves billing and channels.
	accounts := auth.NewDirectory(d.DB)
	// agentDir (agents' settings) serves ingestion and channels.
	agentDir := agents.NewDirectory(d.DB)

	if !cfg.StripeEnabled() {
		d.Log.Info("default: no STRIPE_SECRET_KEY, billing routes answer 501 BILLING_NOT_CONFIGURED; credits work")
	}
	billingMod, err := billing.New(billing.Deps{
		DB: d.DB, Queue: d.Queue, Publisher: d.Publisher, Mailer: mail.Mailer(), Log: d.Log,
		Roles: accounts, Addresses: accounts, Authed: d.Authed,
		Stripe: billing.StripeFromConfig(cfg),
	})
	if err != nil {
		return nil, err
	}
	authMod, err := auth.New(auth.Deps{
		DB: d.DB, Queue: d.Queue, Issuer: d.Issuer, Limiter: d.Limiter, Mailer: mail.Mailer(), Log: d.Log,
		SignupGrant: billingMod.SignupGrant,
		BcryptCost:  cfg.BcryptCost, RefreshTTL: cfg.RefreshTokenExpiresIn,
		SecureCookie: !cfg.Development(), AppURL: appURL,
	})
	if err != nil {
		return nil, err
	}

	ingestMod, err := ingestion.New(ingestion.Deps{
		DB: d.DB, Queue: d.Queue, Publisher: d.Publisher, Cache: d.Cache,
		Embedder: provider, Store: store, Local: localStore, Agents: agentDir,
		Authed: d.Authed, Log: d.Log,
		AllowPrivate: cfg.IngestAllowPrivate, YouTubeTranscriptURL: cfg.YouTubeTranscriptURL,
		MinSimilarity: cfg.RAGMinSimilarity,
	})
	if err != nil {
		return nil, err
	}

	// The responder (agents) reads knowledge through ingestion's Retriever, with the same
	// threshold as ingestion's search route; channels answers customers through it.
	responder, err := agents.NewResponder(agents.ResponderDeps{
		Chatter: provider, Knowledge: ingestMod.Passages(),
		MinSimilarity: ingestMod.MinSimilarity(), Log: d.Log,
	})
	if err != nil {
		return nil, err
	}

	// The model named in the chat stream's OpenAI-compatible frames.
	chatModel := cfg.OpenAIModel
	if provider.Name() == "offline" {
		chatModel = "axon-offline"
	}
	channelsMod, err := channels.New(channels.Deps{
		DB: d.DB, Queue: d.Queue, Publisher: d.Publisher, Agents: agentDir,
		Responder: responder, Credits: billingMod.Credits(), Mailer: mail.Mailer(), Staff: accounts, Box: box,
		Authed: d.Authed, Log: d.Log, FrontendURL: appURL, APIBaseURL: cfg.APIBaseURL,
		ZendeskAPIBase: cfg.ZendeskAPIBase, FreshdeskAPIBase: cfg.FreshdeskAPIBase,
		Events: d.Hub, AuthedQuery: d.AuthedQuery,
		Outbound: outbound.New(outbound.Config{
			WhatsAppBase: cfg.WhatsAppAPIBase, MessengerBase: cfg.MessengerAPIBase, TelegramBase: cfg.TelegramAPIBase,
			SlackBase: cfg.SlackAPIBase, TwilioBase: cfg.TwilioAPIBase, ResendBase: cfg.ResendBaseURL, ResendAPIKey: cfg.ResendAPIKey,
		}),
		Surfaces: channels.SurfaceDeps{
			Issuer: d.Issuer, Limiter: d.Limiter, Widgets: agentDir, Model: chatModel,
			WidgetDemo: cfg.Development(), // GET /widget/demo/:agentId
		},
	})
	if err != nil {
		return nil, err
	}

	// The agents routes come last: they show and delete each agent's knowledge (ingestion)
	// and channel links (channels).
	agentsMod, err := agents.New(agents.Deps{
		DB: d.DB, Publisher: d.Publisher, Authed: d.Authed, Log: d.Log,
		Knowledge: ingestMod, Channels: channelsMod,
	})
	if err != nil {
		return nil, err
	}

	opsMod, err := ops.New(ops.Deps{DB: d.DB, Log: d.Log})
	if err != nil {
		return nil, err
	}

	// analytics reads channels' tables directly (its documented exception) and the ledger
	// through billing's Usage.
	analyticsMod, err := analytics.New(analytics.Deps{
		DB: d.DB, Credits: billingMod.Usage(), Agents: agentDir, Log: d.Log, Authed: d.Authed,
	})
	if err != nil {
		return nil, err
	}

	mods := []kernel.Module{authMod, billingMod, mail, agentsMod, ingestMod, channelsMod, opsMod, analyticsMod}

	if cfg.BackupCron != "" {
		if s3 == nil {
			return nil, fmt.Errorf("BACKUP_CRON: needs S3_BUCKET, the periodic backup writes to S3")
		}
		backupMod, err := backup.NewModule(backup.ModuleDeps{
			Cron: cfg.BackupCron, Store: backup.NewS3(s3.Client(), s3.Bucket()),
			DatabaseURL: cfg.DatabaseURL, Log: d.Log,
		})
		if err != nil {
			return nil, err
		}
		mods = append(mods, backupMod)
	}
	return mods, nil
}
