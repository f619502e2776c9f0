package ai

import (
	"log/slog"

	"github.com/axonhq/axon/configs"
)

// FromConfig returns the process's provider: OpenAI when OPENAI_API_KEY is set, else the
// offline provider (logged as a default). Build one per process: its embedding limiter is
// process-wide.
func FromConfig(cfg *configs.Config, log *slog.Logger) Provider {
	if cfg.OpenAIAPIKey == "" {
		log.Info("default: no OPENAI_API_KEY, using the offline AI provider (hashing embedder, extractive responder)")
		return NewOffline()
	}
	return NewOpenAI(OpenAIConfig{
		APIKey: cfg.OpenAIAPIKey, BaseURL: cfg.OpenAIBaseURL, ChatModel: cfg.OpenAIModel,
		ScorerModel: cfg.OpenAIScorerModel, EmbeddingModel: cfg.OpenAIEmbeddingModel,
	})
}
