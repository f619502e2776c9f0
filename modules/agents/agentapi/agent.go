// Package agentapi is the agents module's contract: the types other modules use to read an
// agent (Agent, PublicAgent, Widget, BusinessHours), to get its answers (the Responder
// interface with its Turn, AnswerRequest, Gate, Answer and Source) and the Channel the
// agents routes read back from the channels module. It holds only types, constants and the
// pure business-hours arithmetic, no store and no service, so any module may import it (see
// the modules-through-contracts rule in .golangci.yml); the agents module implements the
// interfaces and main.go passes them in the consumers' Deps.
package agentapi

// Agent is an agent's settings as other modules see them.
type Agent struct {
	ID               string
	WorkspaceID      string
	Name             string
	SystemPrompt     string
	Status           string // ACTIVE | INACTIVE | DRAFT
	Mode             string // TEXT | VOICE | BOTH
	HandoffEnabled   bool
	HandoffThreshold float64 // 0..1: answers scored below it are handed off
	HandoffDest      string  // NONE | LIVE_AGENT | EMAIL_QUEUE | ZENDESK | FRESHDESK
	RoutingPolicy    string  // free text for the handoff decision; "" when none
	BusinessHours    *BusinessHours
	TaggingEnabled   bool
	AvailableTags    []string
	AllowedOrigins   []string // widget CORS origins; empty = any origin
}

// PublicAgent is what the public chat widget may learn about an agent (it knows no
// workspace): the agent's settings for the pipeline and CORS, its avatar and its widget
// configuration.
type PublicAgent struct {
	Agent
	Avatar string
	Widget Widget
}

// Widget is an agent's chat-widget configuration (widget_configs).
type Widget struct {
	PrimaryColor     string `db:"primary_color"`
	Theme            string `db:"theme"`
	Greeting         string `db:"greeting"`
	Position         string `db:"position"`
	CornerRadius     int    `db:"corner_radius"`
	Shadow           bool   `db:"shadow"`
	HeaderTitle      string `db:"header_title"`
	InputPlaceholder string `db:"input_placeholder"`
	Streaming        bool   `db:"streaming"`
	Template         string `db:"template"`
}

// Channel is one channel linked to an agent (the channels module owns them).
type Channel struct {
	ID       string
	Type     string
	IsActive bool // the channel is on and linked actively to this agent
}
