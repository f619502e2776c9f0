package ai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

// Defaults applied by NewOpenAI to zero fields of OpenAIConfig.
const (
	DefaultChatModel         = "gpt-4o"
	DefaultScorerModel       = "gpt-4o-mini"
	DefaultEmbeddingModel    = "text-embedding-3-small"
	DefaultMaxRetries        = 3 // 4 attempts in all
	DefaultEmbedConcurrency  = 4
	DefaultEmbedRPS          = 20
	DefaultCompletionTimeout = 30 * time.Second
	DefaultEmbeddingTimeout  = 20 * time.Second
	DefaultRetryBaseDelay    = 500 * time.Millisecond
	DefaultMaxRetryWait      = 20 * time.Second

	// MaxEmbedBatch is the largest number of inputs sent in one embeddings request.
	MaxEmbedBatch = 100
)

// OpenAIConfig configures NewOpenAI. Zero fields (and negative counts and durations,
// except where noted) take the Default… values.
type OpenAIConfig struct {
	// APIKey is sent as a bearer token; it may be empty for local compatible servers.
	APIKey string
	// BaseURL is the API root including the version, such as "https://api.openai.com/v1"
	// or "http://localhost:11434/v1". Empty means OpenAI.
	BaseURL string
	// ChatModel answers customers (Complete and Stream); ScorerModel serves CompleteJSON
	// (confidence scores and handoff summaries); EmbeddingModel embeds knowledge.
	ChatModel, ScorerModel, EmbeddingModel string
	// HTTPClient replaces the SDK's default client (for proxies, tracing or tests).
	HTTPClient *http.Client
	// MaxRetries is the number of retries after the first attempt of each request
	// (default 3, so 4 attempts). A negative value disables retries.
	MaxRetries int
	// EmbedConcurrency caps the embeddings requests in flight for the whole instance,
	// across all concurrent Embed calls (default 4).
	EmbedConcurrency int
	// EmbedRPS caps embeddings requests (including retries) per second for the whole
	// instance (default 20). A negative value removes the rate cap.
	EmbedRPS float64
	// CompletionTimeout and EmbeddingTimeout bound each attempt, including reading the
	// streamed reply (defaults 30 s and 20 s). Backoff waits are not included; bound the
	// whole call with the context.
	CompletionTimeout, EmbeddingTimeout time.Duration
	// RetryBaseDelay is the first backoff step when the server gives no Retry-After
	// (default 500 ms, doubling per retry, with jitter).
	RetryBaseDelay time.Duration
	// MaxRetryWait caps one wait between attempts (default 20 s). When the server's
	// Retry-After asks for more, the call fails at once with ErrRateLimited and the hint
	// in Error.RetryAfter.
	MaxRetryWait time.Duration
}

// OpenAI is a Provider backed by the OpenAI API or any server that speaks its wire
// format (chat completions with SSE streaming and JSON mode, embeddings).
//
// Chat calls are not rate-limited here (a customer is waiting); embeddings calls share
// one limiter per *OpenAI, so create a single instance per process and pass it to every
// module. It is safe for concurrent use.
type OpenAI struct {
	client      openai.Client
	cfg         OpenAIConfig
	retry       retryPolicy
	embedLimits *limiter
}

// NewOpenAI returns a client configured by cfg. It does not contact the server.
// Environment variables read by openai-go (OPENAI_API_KEY, OPENAI_BASE_URL) are
// overridden by cfg, so configuration flows through the application's Config only.
func NewOpenAI(cfg OpenAIConfig) *OpenAI {
	cfg.ChatModel = orDefault(cfg.ChatModel, DefaultChatModel)
	cfg.ScorerModel = orDefault(cfg.ScorerModel, DefaultScorerModel)
	cfg.EmbeddingModel = orDefault(cfg.EmbeddingModel, DefaultEmbeddingModel)
	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = DefaultMaxRetries
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = 0
	}
	cfg.EmbedConcurrency = positiveOr(cfg.EmbedConcurrency, DefaultEmbedConcurrency)
	cfg.EmbedRPS = orDefault(cfg.EmbedRPS, DefaultEmbedRPS) // negative: no rate cap
	cfg.CompletionTimeout = positiveOr(cfg.CompletionTimeout, DefaultCompletionTimeout)
	cfg.EmbeddingTimeout = positiveOr(cfg.EmbeddingTimeout, DefaultEmbeddingTimeout)
	cfg.RetryBaseDelay = positiveOr(cfg.RetryBaseDelay, DefaultRetryBaseDelay)
	cfg.MaxRetryWait = positiveOr(cfg.MaxRetryWait, DefaultMaxRetryWait)

	opts := []option.RequestOption{
		option.WithAPIKey(cfg.APIKey),
		// Our retry loop (retry.go) is the only one; see retryPolicy.
		option.WithMaxRetries(0),
	}
	if cfg.BaseURL != "" {
		opts = append(opts, option.WithBaseURL(cfg.BaseURL))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	}
	return &OpenAI{
		client: openai.NewClient(opts...),
		cfg:    cfg,
		retry: retryPolicy{
			maxRetries: cfg.MaxRetries,
			baseDelay:  cfg.RetryBaseDelay,
			maxWait:    cfg.MaxRetryWait,
			sleep:      sleepContext,
			now:        time.Now,
		},
		embedLimits: newLimiter(cfg.EmbedConcurrency, cfg.EmbedRPS),
	}
}

// positiveOr returns v, or def when v is zero or negative.
func positiveOr[T int | float64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// orDefault returns v, or def when v is the zero value.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Name returns "openai".
func (o *OpenAI) Name() string { return "openai" }

// Complete sends a chat completion and returns the first choice. Errors are *Error
// values, or the context's error when the caller cancelled.
func (o *OpenAI) Complete(ctx context.Context, req ChatRequest) (ChatResponse, error) {
	params, err := o.chatParams(req, o.cfg.ChatModel)
	if err != nil {
		return ChatResponse{}, err
	}
	return o.complete(ctx, params)
}

func (o *OpenAI) complete(ctx context.Context, params openai.ChatCompletionNewParams) (ChatResponse, error) {
	var out ChatResponse
	err := o.retry.run(ctx, o.cfg.CompletionTimeout, nil, func(ctx context.Context, res **http.Response) error {
		c, err := o.client.Chat.Completions.New(ctx, params, option.WithResponseInto(res))
		if err != nil {
			return err
		}
		if len(c.Choices) == 0 {
			return newError(ErrBadResponse, http.StatusOK, errors.New("chat completion has no choices"))
		}
		out = ChatResponse{
			Content:          c.Choices[0].Message.Content,
			PromptTokens:     int(c.Usage.PromptTokens),
			CompletionTokens: int(c.Usage.CompletionTokens),
		}
		return nil
	})
	return out, err
}

// Stream sends a streaming chat completion (SSE chat.completion.chunk events) and calls
// onDelta for every non-empty content delta, in order. It retries like Complete only
// until the first delta was delivered; after that a failure ends the call, so the caller
// never sees text twice. Token usage is requested with stream_options.include_usage and
// is zero when the server does not send it.
func (o *OpenAI) Stream(ctx context.Context, req ChatRequest, onDelta func(delta string) error) (ChatResponse, error) {
	params, err := o.chatParams(req, o.cfg.ChatModel)
	if err != nil {
		return ChatResponse{}, err
	}
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}

	var out ChatResponse
	err = o.retry.run(ctx, o.cfg.CompletionTimeout, nil, func(ctx context.Context, res **http.Response) error {
		var text strings.Builder
		out = ChatResponse{}
		stream := o.client.Chat.Completions.NewStreaming(ctx, params, option.WithResponseInto(res))
		defer stream.Close()
		for stream.Next() {
			chunk := stream.Current()
			if chunk.Usage.PromptTokens != 0 || chunk.Usage.CompletionTokens != 0 {
				out.PromptTokens = int(chunk.Usage.PromptTokens)
				out.CompletionTokens = int(chunk.Usage.CompletionTokens)
			}
			if len(chunk.Choices) == 0 || chunk.Choices[0].Delta.Content == "" {
				continue
			}
			delta := chunk.Choices[0].Delta.Content
			text.WriteString(delta)
			if err := onDelta(delta); err != nil {
				return callbackError{err}
			}
		}
		if err := stream.Err(); err != nil {
			if text.Len() > 0 {
				return noRetryError{err}
			}
			return err
		}
		out.Content = text.String()
		return nil
	})
	return out, err
}

// CompleteJSON sends the request in JSON mode (response_format json_object) with the
// scorer model by default, and unmarshals the reply into out. OpenAI rejects JSON mode
// unless a message mentions JSON, so a short system instruction is prepended when none
// does. A reply that does not unmarshal into out is an ErrBadResponse.
func (o *OpenAI) CompleteJSON(ctx context.Context, req ChatRequest, out any) error {
	if !mentionsJSON(req.Messages) {
		req.Messages = append([]ChatMessage{{Role: RoleSystem, Content: "Reply with a single JSON object."}}, req.Messages...)
	}
	params, err := o.chatParams(req, o.cfg.ScorerModel)
	if err != nil {
		return err
	}
	params.ResponseFormat = openai.ChatCompletionNewParamsResponseFormatUnion{
		OfJSONObject: &shared.ResponseFormatJSONObjectParam{},
	}
	resp, err := o.complete(ctx, params)
	if err != nil {
		return err
	}
	if err := decodeJSONReply(resp.Content, out); err != nil {
		return newError(ErrBadResponse, http.StatusOK, err)
	}
	return nil
}

func mentionsJSON(msgs []ChatMessage) bool {
	for _, m := range msgs {
		if strings.Contains(strings.ToLower(m.Content), "json") {
			return true
		}
	}
	return false
}

// decodeJSONReply unmarshals content into out. Some compatible servers wrap JSON-mode
// replies in a Markdown code fence; it is removed first.
func decodeJSONReply(content string, out any) error {
	s := strings.TrimSpace(content)
	if strings.HasPrefix(s, "```") {
		s = strings.TrimPrefix(s, "```json")
		s = strings.TrimPrefix(s, "```")
		s = strings.TrimSuffix(strings.TrimSpace(s), "```")
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("decode JSON reply: %w", err)
	}
	return nil
}

func (o *OpenAI) chatParams(req ChatRequest, defaultModel string) (openai.ChatCompletionNewParams, error) {
	if len(req.Messages) == 0 {
		return openai.ChatCompletionNewParams{}, newError(ErrInvalidRequest, 0, errors.New("no messages"))
	}
	msgs := make([]openai.ChatCompletionMessageParamUnion, 0, len(req.Messages))
	for i, m := range req.Messages {
		switch m.Role {
		case RoleSystem:
			msgs = append(msgs, openai.SystemMessage(m.Content))
		case RoleUser:
			msgs = append(msgs, openai.UserMessage(m.Content))
		case RoleAssistant:
			msgs = append(msgs, openai.AssistantMessage(m.Content))
		default:
			return openai.ChatCompletionNewParams{}, newError(ErrInvalidRequest, 0, fmt.Errorf("message %d: unknown role %q", i, m.Role))
		}
	}
	params := openai.ChatCompletionNewParams{
		Model:       orDefault(req.Model, defaultModel),
		Messages:    msgs,
		Temperature: openai.Float(req.Temperature),
	}
	if req.MaxTokens > 0 {
		// max_tokens rather than max_completion_tokens: gpt-4o accepts both, and most
		// OpenAI-compatible servers only know max_tokens.
		params.MaxTokens = openai.Int(int64(req.MaxTokens))
	}
	return params, nil
}
