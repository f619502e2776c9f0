// Package credit is the billing module's credits contract: the Credits interface other
// modules use to read and move a workspace's credits, the Deduction, Grant and Refund it
// takes, the ledger reasons, the consumption costs and ErrInsufficientCredits. It holds
// only types, constants and that error, so any module may import it (see the
// modules-through-contracts rule in .golangci.yml); the billing module implements Credits
// and main.go passes it in the consumers' Deps.
package credit

import (
	"context"

	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/platform/apperr"
)

// Credits is the contract other modules use to read and move a workspace's credits. Every
// method that changes the balance writes a credit_ledger row, publishes credits_updated and
// may enqueue the low-credit e-mail, all in tx when tx is not nil (the caller commits) or in
// a transaction of its own when tx is nil. A non-empty IdempotencyKey makes a repeated call
// a no-op that returns the current balance; keys are unique across all workspaces, so build
// them from a unique id ("reply:<messageId>").
type Credits interface {
	// Balance returns the workspace's credit balance, or NOT_FOUND.
	Balance(ctx context.Context, workspaceID string) (int, error)
	// Deduct takes Amount credits and returns the new balance. With too few credits it
	// returns an INSUFFICIENT_CREDITS (402) error and changes nothing, so the caller's
	// transaction stays usable.
	Deduct(ctx context.Context, tx *sqlx.Tx, d Deduction) (newBalance int, err error)
	// Grant adds Amount credits (plan grant, top-up or adjustment).
	Grant(ctx context.Context, tx *sqlx.Tx, g Grant) (newBalance int, err error)
	// Refund gives back Amount credits of an earlier deduction (reason REFUND).
	Refund(ctx context.Context, tx *sqlx.Tx, r Refund) (newBalance int, err error)
}

// Reason says why credits moved (credit_ledger.reason).
type Reason string

// The ledger reasons (credit_ledger.reason; the same names appear in GET /v1/billing/ledger).
const (
	ReasonPlanGrant       Reason = "PLAN_GRANT"
	ReasonTopupPurchase   Reason = "TOPUP_PURCHASE"
	ReasonMessageConsumed Reason = "MESSAGE_CONSUMED"
	ReasonVoiceConsumed   Reason = "VOICE_CONSUMED"
	ReasonTaggingConsumed Reason = "TAGGING_CONSUMED"
	ReasonRefund          Reason = "REFUND"
	ReasonAdjustment      Reason = "ADJUSTMENT"
)

// Credit costs of consumption.
const (
	CostReply       = 1 // one AI reply
	CostTagging     = 2 // one auto-tagged conversation
	CostVoiceMinute = 5 // one voice minute
)

// Deduction takes credits for consumption.
type Deduction struct {
	WorkspaceID string
	Amount      int    // > 0
	Reason      Reason // MESSAGE_CONSUMED, VOICE_CONSUMED, TAGGING_CONSUMED or ADJUSTMENT
	RefID       string // what was paid for (message id, conversation id, call id); optional
	// IdempotencyKey makes a retried deduction a no-op (e.g. "reply:<messageId>"); optional.
	IdempotencyKey string
}

// Grant adds credits.
type Grant struct {
	WorkspaceID    string
	Amount         int    // > 0
	Reason         Reason // PLAN_GRANT, TOPUP_PURCHASE or ADJUSTMENT
	RefID          string
	IdempotencyKey string
}

// Refund gives back credits of an earlier deduction (reason REFUND).
type Refund struct {
	WorkspaceID    string
	Amount         int // > 0
	RefID          string
	IdempotencyKey string
}

// ErrInsufficientCredits is returned by Deduct when the balance is below the amount
// (errors.Is matches it; the returned copy carries {balance, required} details).
var ErrInsufficientCredits = apperr.E(apperr.InsufficientCredits, "Not enough credits")
