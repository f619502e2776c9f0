// Package channels owns conversations, their messages and handoffs, the AI pipeline that
// answers one customer message (Service.Respond), human-agent replies, handoff execution
// (the channels.handoff job) and outbound delivery (the channels.send_message job).
//
// The pipeline, in order: resolve the conversation (newest OPEN or HANDED_OFF one of the
// customer on that agent and channel, else a new OPEN one) and store the USER message,
// deduplicated on the channel message id; stay silent when a human has the conversation;
// gate (inactive agent, business hours); check credits before any AI call; answer through
// the agents Responder; then either hand off or, in one transaction that re-checks the
// conversation's status, store the ASSISTANT message, deduct its credit and enqueue its
// delivery. Messages of one conversation are answered one at a time (a per-conversation
// lease, taken in the USER message's transaction and released by the reply's statement), so
// concurrent messages never interleave. See docs/decisions.md.
//
// channels reaches other modules only through the small interfaces declared in this file.
package channels

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/labstack/echo/v4"
	"github.com/riverqueue/river"

	"github.com/axonhq/axon/modules/agents/agentapi"
	"github.com/axonhq/axon/modules/billing/credit"
	"github.com/axonhq/axon/modules/channels/outbound"
	"github.com/axonhq/axon/modules/email/mail"
	"github.com/axonhq/axon/platform/pg"
	"github.com/axonhq/axon/platform/queue"
	"github.com/axonhq/axon/platform/realtime"
	"github.com/axonhq/axon/platform/secretbox"
)

// Responder answers customer messages (the agents module implements it).
type Responder interface {
	Gate(agent agentapi.Agent, now time.Time) agentapi.Gate
	Answer(ctx context.Context, req agentapi.AnswerRequest, onDelta func(delta string) error) (agentapi.Answer, error)
	Summarize(ctx context.Context, agent agentapi.Agent, history []agentapi.Turn) (string, error)
	Tag(ctx context.Context, agent agentapi.Agent, history []agentapi.Turn) ([]string, error)
}

// AgentDirectory reads an agent's settings (agents.Directory). Get returns an apperr
// NOT_FOUND error for a missing, deleted or other-workspace agent.
type AgentDirectory interface {
	Get(ctx context.Context, workspaceID, agentID string) (agentapi.Agent, error)
}

// Credits reads and takes a workspace's credits (credit.Credits). Deduct publishes
// credits_updated in tx itself.
type Credits interface {
	Balance(ctx context.Context, workspaceID string) (int, error)
	Deduct(ctx context.Context, tx *sqlx.Tx, d credit.Deduction) (newBalance int, err error)
}

// Staff lists who is told about a handoff: the e-mail addresses of the workspace's owners
// and admins (the auth module implements it).
type Staff interface {
	NotifyAddresses(ctx context.Context, workspaceID string) ([]string, error)
}

// Deps are what the module needs.
type Deps struct {
	DB        *pg.DB
	Queue     queue.Inserter
	Publisher realtime.Publisher
	Agents    AgentDirectory
	Responder Responder
	Credits   Credits
	Mailer    mail.Mailer
	Staff     Staff
	// Box decrypts integration (and channel) credentials; nil when CHANNEL_ENCRYPTION_KEY
	// is unset, in which case ZENDESK/FRESHDESK handoffs fall back to e-mail.
	Box *secretbox.Box
	// Authed is the middleware chain of every dashboard route (kernel.Deps.Authed).
	Authed []echo.MiddlewareFunc
	Log    *slog.Logger

	// FrontendURL is the dashboard base URL used in handoff e-mail links.
	FrontendURL string
	// APIBaseURL (API_BASE_URL) starts every channel's webhookUrl; "" gives path-only URLs.
	APIBaseURL string
	// ZendeskAPIBase and FreshdeskAPIBase override https://{subdomain}.zendesk.com and
	// https://{domain}.freshdesk.com (ZENDESK_API_BASE, FRESHDESK_API_BASE); "" = per tenant.
	ZendeskAPIBase   string
	FreshdeskAPIBase string
	// HTTPClient calls the ticketing APIs (default: 15 s timeout).
	HTTPClient *http.Client
	// Outbound delivers replies on the messaging platforms (channels.send_message) and
	// sets Telegram webhooks; nil: non-WEB replies are marked FAILED.
	Outbound *outbound.Senders
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// Surfaces are what the dashboard chat and the public widget need (chat_http.go).
	Surfaces SurfaceDeps
	// Events is the replica's realtime hub behind GET /v1/events (kernel.Deps.Hub); the route
	// is mounted only when it and AuthedQuery (the dashboard chain that also accepts
	// ?access_token=, for EventSource) are set.
	Events      *realtime.Hub
	AuthedQuery []echo.MiddlewareFunc
}

// Module is the channels module.
type Module struct {
	svc         *Service
	hooks       *webhookChannels
	authed      []echo.MiddlewareFunc
	surf        *surfaces
	events      *realtime.Hub
	authedQuery []echo.MiddlewareFunc
}

// New builds the module. It fails when a required dependency is missing.
func New(d Deps) (*Module, error) {
	if d.DB == nil || d.Queue == nil || d.Publisher == nil || d.Agents == nil || d.Responder == nil ||
		d.Credits == nil || d.Mailer == nil || d.Staff == nil || len(d.Authed) == 0 {
		return nil, errors.New("channels: DB, Queue, Publisher, Agents, Responder, Credits, Mailer, Staff and Authenticated are required")
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.HTTPClient == nil {
		d.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	svc := &Service{
		db: d.DB, st: store{}, queue: d.Queue, pub: d.Publisher, agents: d.Agents, resp: d.Responder,
		credits: d.Credits, mailer: d.Mailer, staff: d.Staff, box: d.Box, log: d.Log,
		frontendURL: strings.TrimRight(d.FrontendURL, "/"), apiBase: strings.TrimRight(d.APIBaseURL, "/"),
		zendeskBase: strings.TrimRight(d.ZendeskAPIBase, "/"), freshdeskBase: strings.TrimRight(d.FreshdeskAPIBase, "/"),
		http: d.HTTPClient, outbound: d.Outbound, now: d.Now, leaseRenew: leaseRenewEvery,
	}
	surf, err := newSurfaces(svc, d.Surfaces)
	if err != nil {
		return nil, err
	}
	return &Module{svc: svc, hooks: newWebhookChannels(svc), authed: d.Authed, surf: surf, events: d.Events, authedQuery: d.AuthedQuery}, nil
}

// Name implements kernel.Module.
func (m *Module) Name() string { return "channels" }

// Workers registers channels.process_inbound, channels.handoff and channels.send_message.
func (m *Module) Workers(w *river.Workers) error {
	if err := river.AddWorkerSafely(w, &inboundWorker{svc: m.svc}); err != nil {
		return err
	}
	if err := river.AddWorkerSafely(w, &handoffWorker{svc: m.svc}); err != nil {
		return err
	}
	return river.AddWorkerSafely(w, &sendWorker{svc: m.svc})
}

// Rescues implements kernel.Rescuer: a customer waits on every reply and handoff, so a job
// lost with its worker is retried about RescueMargin after its timeout, not after River's
// 15 minutes.
func (m *Module) Rescues() []queue.Rescue {
	return []queue.Rescue{
		queue.RescueOf[ProcessInboundArgs](&inboundWorker{}),
		queue.RescueOf[HandoffArgs](&handoffWorker{}),
		queue.RescueOf[SendMessageArgs](&sendWorker{}),
	}
}

// Service returns the module's service (the pipeline entry point Respond, used by the
// chat, widget and webhook surfaces).
func (m *Module) Service() *Service { return m.svc }

// The agents routes' link contract (agents.ChannelLinks).

// ChannelCounts returns how many channels each of the agents is linked to, in one query;
// an agent without links is absent from the map.
func (m *Module) ChannelCounts(ctx context.Context, workspaceID string, agentIDs []string) (map[string]int, error) {
	return m.svc.st.channelCounts(ctx, m.svc.db, workspaceID, agentIDs)
}

// AgentChannels returns the channels linked to the agent, ordered by type; IsActive is
// true when both the channel and its link are active.
func (m *Module) AgentChannels(ctx context.Context, workspaceID, agentID string) ([]agentapi.Channel, error) {
	return m.svc.st.agentChannels(ctx, m.svc.db, workspaceID, agentID)
}

// UnlinkAgent removes the agent's channel links inside the caller's transaction (the
// agent's delete); the channels stay.
func (m *Module) UnlinkAgent(ctx context.Context, tx *sqlx.Tx, workspaceID, agentID string) error {
	return m.svc.st.unlinkAgent(ctx, tx, workspaceID, agentID)
}
