// Package ai provides the language-model and embedding providers Axon uses to answer
// customers: an OpenAI-compatible client ([OpenAI]) and a deterministic offline provider
// ([Offline]) that needs no network and no API key.
//
// Modules depend on the small interfaces [Embedder] and [Chatter] (or [Provider], which
// combines both); main.go decides which implementation they get.
//
// # OpenAI
//
// [NewOpenAI] wraps the official openai-go client. It adds what the SDK leaves to the
// caller: per-attempt timeouts, a retry loop that honours Retry-After, typed errors
// ([Error], [IsRetryable]), and batched, concurrent, process-wide rate-limited embeddings.
// Build one *OpenAI per process and share it, because its embedding limiter is what keeps
// all ingestion jobs and query embeddings of the process under the configured rate.
//
// # Offline
//
// [NewOffline] returns the provider used in development when no OPENAI_API_KEY is set.
// Its embedder is deterministic: the same text always yields the same vector, on every
// machine and in every process, with no model files. Texts are lower-cased and split into
// tokens of Unicode letters and digits; a tiny English stop-word list is dropped and
// plurals are reduced to the singular (Harman's S stemmer); word unigrams (weight 1.0),
// word bigrams (0.7) and character 3-grams of each word with boundary markers (0.3) are
// hashed with FNV-1a 64 into 1536 signed dimensions, weighted by sublinear term frequency
// (1 + ln tf), and the vector is L2-normalised.
//
// Its cosine similarities are lower than those of neural embeddings and fall with text
// length: texts on different topics score about -0.05 to 0.06 (hash collisions
// occasionally push short texts to 0.1); a question scores 0.15 to 0.5 against a short
// passage that answers it and 0.06 to 0.2 against a 250–500-word chunk containing the
// answer; near-duplicates score above 0.7. Use [OfflineMinSimilarity] (not the 0.78 used
// with OpenAI embeddings, [OpenAIMinSimilarity]) as the retrieval threshold with this
// embedder.
//
// The offline chatter is extractive: it answers with the sentences of the knowledge
// entry in the system prompt that best match the customer's last message (see
// [KnowledgeMarker]), or with [OfflineDontKnow]. Its JSON mode returns heuristic
// confidence scores or a summary. See [Offline] for the exact conventions.
package ai

import "context"

// Chat message roles accepted in [ChatMessage.Role].
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// EmbeddingDimensions is the length of every vector an [Embedder] in this package returns;
// it matches the vector(1536) column of knowledge_chunks.
const EmbeddingDimensions = 1536

// OpenAIMinSimilarity is the default cosine-similarity threshold for retrieval with
// OpenAI's text-embedding-3 models when RAG_MIN_SIMILARITY is not set.
const OpenAIMinSimilarity = 0.78

// Embedder turns texts into vectors of Dimensions() floats.
type Embedder interface {
	// Embed returns one vector per text, in input order. An empty slice returns nil
	// without doing any work. Errors are *Error values (see [IsRetryable]) or the
	// context's error.
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	// Dimensions is the length of every returned vector.
	Dimensions() int
	// Model names the embedding model, for storing next to the vectors.
	Model() string
}

// ChatMessage is one turn of a chat prompt. Role is RoleSystem, RoleUser or RoleAssistant.
type ChatMessage struct {
	Role    string
	Content string
}

// ChatRequest is a chat-completion request. An empty Model selects the provider's default
// (the chat model for Complete and Stream, the scorer model for CompleteJSON).
// Temperature is always sent, so the zero value means deterministic sampling; MaxTokens
// of zero leaves the limit to the server.
type ChatRequest struct {
	Model       string
	Messages    []ChatMessage
	Temperature float64
	MaxTokens   int
}

// ChatResponse is the assistant's reply with the token usage the provider reported.
type ChatResponse struct {
	Content          string
	PromptTokens     int
	CompletionTokens int
}

// Chatter completes chat prompts.
type Chatter interface {
	// Complete returns the whole reply.
	Complete(ctx context.Context, req ChatRequest) (ChatResponse, error)
	// Stream calls onDelta with each piece of the reply as it arrives, in order, and
	// returns the whole reply. An error from onDelta stops the stream and is returned
	// unchanged.
	Stream(ctx context.Context, req ChatRequest, onDelta func(delta string) error) (ChatResponse, error)
	// CompleteJSON asks for a JSON object (JSON mode) and unmarshals it into out, which
	// must be a pointer. A reply that is not valid JSON for out is an ErrBadResponse.
	CompleteJSON(ctx context.Context, req ChatRequest, out any) error
}

// Provider is a complete AI backend: embeddings and chat. *OpenAI and *Offline implement it.
type Provider interface {
	Embedder
	Chatter
	// Name is "openai" or "offline", for start-up logs and metrics.
	Name() string
}

var (
	_ Provider = (*OpenAI)(nil)
	_ Provider = (*Offline)(nil)
)
