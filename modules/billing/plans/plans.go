// Package plans is the plan catalogue: agent limits, monthly credits and prices of each plan,
// and the top-up packs. It belongs to billing and is shared read-only with agents (the agent
// limit) and auth (the STARTER grant at sign-up).
package plans

// Plan identifiers (workspaces.plan).
const (
	Starter    = "STARTER"
	Builder    = "BUILDER"
	Pro        = "PRO"
	Enterprise = "ENTERPRISE"
)

// Unlimited marks a limit that does not apply.
const Unlimited = -1

// Plan is one entry of the catalogue.
type Plan struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	MaxAgents      int    `json:"maxAgents"`      // Unlimited for ENTERPRISE
	MonthlyCredits int    `json:"monthlyCredits"` // granted on the 1st (not ENTERPRISE: contract-specific)
	PriceCents     int    `json:"priceCents"`     // per month, USD; 0 = free or custom
	SelfServe      bool   `json:"selfServe"`      // can be bought through Checkout
}

// Pack is a one-off credit top-up.
type Pack struct {
	ID         string `json:"id"` // "2k" | "10k" | "50k"
	Credits    int    `json:"credits"`
	PriceCents int    `json:"priceCents"`
}

// Catalogue, lowest plan first.
var catalogue = []Plan{
	{ID: Starter, Name: "Starter", MaxAgents: 1, MonthlyCredits: 500, PriceCents: 0},
	{ID: Builder, Name: "Builder", MaxAgents: 5, MonthlyCredits: 10_000, PriceCents: 4_900, SelfServe: true},
	{ID: Pro, Name: "Pro", MaxAgents: 20, MonthlyCredits: 50_000, PriceCents: 19_900, SelfServe: true},
	{ID: Enterprise, Name: "Enterprise", MaxAgents: Unlimited, MonthlyCredits: 0, PriceCents: 0},
}

var packs = []Pack{
	{ID: "2k", Credits: 2_000, PriceCents: 1_900},
	{ID: "10k", Credits: 10_000, PriceCents: 7_900},
	{ID: "50k", Credits: 50_000, PriceCents: 34_900},
}

// All returns the catalogue (a copy).
func All() []Plan { return append([]Plan(nil), catalogue...) }

// Get returns the plan with id.
func Get(id string) (Plan, bool) {
	for _, p := range catalogue {
		if p.ID == id {
			return p, true
		}
	}
	return Plan{}, false
}

// MustGet returns the plan with id or STARTER for an unknown id (stored plans are checked by
// the database, so this only guards against a catalogue edit).
func MustGet(id string) Plan {
	if p, ok := Get(id); ok {
		return p
	}
	return catalogue[0]
}

// Packs returns the top-up packs (a copy).
func Packs() []Pack { return append([]Pack(nil), packs...) }

// GetPack returns the pack with id.
func GetPack(id string) (Pack, bool) {
	for _, p := range packs {
		if p.ID == id {
			return p, true
		}
	}
	return Pack{}, false
}

// AgentLimitReached reports whether a workspace on plan with count agents may not add one.
func AgentLimitReached(plan string, count int) bool {
	p := MustGet(plan)
	return p.MaxAgents != Unlimited && count >= p.MaxAgents
}

// StarterCredits is the grant at sign-up.
const StarterCredits = 500
