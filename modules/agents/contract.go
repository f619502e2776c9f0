package agents

import "github.com/axonhq/axon/modules/agents/agentapi"

// The types other modules use live in the contract package agentapi (which they import
// instead of this one); these aliases keep the agents module's own code unchanged.

// Agent is an agent's settings as other modules see them (agentapi.Agent).
type Agent = agentapi.Agent

// PublicAgent is what the public chat widget may learn about an agent (agentapi.PublicAgent).
type PublicAgent = agentapi.PublicAgent

// Widget is an agent's chat-widget configuration (agentapi.Widget).
type Widget = agentapi.Widget

// Channel is one channel linked to an agent (agentapi.Channel).
type Channel = agentapi.Channel

// BusinessHours is an agent's opening schedule (agentapi.BusinessHours).
type BusinessHours = agentapi.BusinessHours

// DayHours are one weekday's hours (agentapi.DayHours).
type DayHours = agentapi.DayHours

// Weekdays are the schedule's keys, indexed by time.Weekday (agentapi.Weekdays).
var Weekdays = agentapi.Weekdays

// Responder is the contract through which channels gets an agent's answer to one customer
// message (agentapi.Responder).
type Responder = agentapi.Responder

// Turn is one message of a conversation as the responder sees it (agentapi.Turn).
type Turn = agentapi.Turn

// AnswerRequest is one customer message to answer (agentapi.AnswerRequest).
type AnswerRequest = agentapi.AnswerRequest

// Gate kinds (agentapi.Gate*).
const (
	GateOpen     = agentapi.GateOpen
	GateInactive = agentapi.GateInactive
	GateClosed   = agentapi.GateClosed
)

// Gate is what Responder.Gate decided (agentapi.Gate).
type Gate = agentapi.Gate

// Scores are the reply's confidence scores (agentapi.Scores).
type Scores = agentapi.Scores

// Source is one knowledge chunk the answer was given (agentapi.Source).
type Source = agentapi.Source

// HandoffDecision says why the conversation should go to a human (agentapi.HandoffDecision).
type HandoffDecision = agentapi.HandoffDecision

// Answer is the responder's reply to one message (agentapi.Answer).
type Answer = agentapi.Answer

// Knowledge finds an agent's knowledge for a question (agentapi.Knowledge).
type Knowledge = agentapi.Knowledge

// Passage is one retrieved knowledge chunk (agentapi.Passage).
type Passage = agentapi.Passage
