// Package configs loads the typed configuration of every role from the environment, layered
// over the embedded per-environment defaults in configs/<env>.env (a real environment
// variable always wins over a file). Validation errors name the variable and the form it
// expects; LogValue prints the effective configuration with secrets masked.
package configs

import (
	"bufio"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

//go:embed *.env
var envFiles embed.FS

// Environments that select a configs/<env>.env file.
const (
	EnvDevelopment = "development"
	EnvTest        = "test"
	EnvStaging     = "staging"
	EnvProduction  = "production"
)

// devJWTSecret signs tokens in development when JWT_SECRET is unset. It is public, so it is
// refused outside development and test.
const devJWTSecret = "axon-development-only-jwt-secret-do-not-use-in-prod"

// Config is the effective configuration of one process.
type Config struct {
	Env         string
	Port        int
	APIBaseURL  string
	FrontendURL []string
	// TrustedProxies are the peers whose X-Forwarded-For is believed (TRUSTED_PROXIES).
	TrustedProxies []*net.IPNet

	DatabaseURL   string        // without connection_limit / pool_timeout
	DBMaxConns    int           // from connection_limit (default 10)
	DBPoolTimeout time.Duration // from pool_timeout seconds (default 10 s)

	RedisURL string

	JWTSecret               string
	JWTExpiresIn            time.Duration
	RefreshTokenExpiresIn   time.Duration
	BcryptCost              int
	ChannelEncryptionKey    []byte
	ChannelEncryptionKeyOld []byte

	OpenAIAPIKey         string
	OpenAIBaseURL        string
	OpenAIModel          string
	OpenAIScorerModel    string
	OpenAIEmbeddingModel string
	RAGMinSimilarity     float64 // 0 = the provider's default
	IngestAllowPrivate   bool
	YouTubeTranscriptURL string

	// ZendeskAPIBase and FreshdeskAPIBase replace the per-tenant ticketing URLs
	// (https://{subdomain}.zendesk.com, https://{domain}.freshdesk.com); "" = per tenant.
	ZendeskAPIBase   string
	FreshdeskAPIBase string

	// The messaging platforms' API roots (tests and proxies point them elsewhere):
	// WHATSAPP_API_BASE and MESSENGER_API_BASE (Graph API with its version),
	// TELEGRAM_API_BASE, SLACK_API_BASE, TWILIO_API_BASE.
	WhatsAppAPIBase  string
	MessengerAPIBase string
	TelegramAPIBase  string
	SlackAPIBase     string
	TwilioAPIBase    string

	StripeSecretKey     string
	StripeWebhookSecret string
	StripeAPIBase       string
	StripePriceBuilder  string
	StripePricePro      string
	StripePriceTopup2K  string
	StripePriceTopup10K string
	StripePriceTopup50K string

	ResendAPIKey  string
	ResendFrom    string
	ResendBaseURL string

	SentryDSN string

	S3Bucket           string
	S3Region           string
	S3Endpoint         string
	AWSAccessKeyID     string
	AWSSecretAccessKey string
	LocalStorageDir    string

	RateLimitScale float64 // multiplies every rate limit; load tests only (default 1)

	AdminUser     string
	AdminPassword string
	BackupCron    string

	// WorkerMetricsPort is `work`'s own /health and /metrics port (WORKER_METRICS_PORT,
	// default 9091; 0: none, the test environment's default).
	WorkerMetricsPort int

	// ShutdownDrain is how long serve keeps answering, with /health at 503, after SIGTERM
	// before it closes its listener (SHUTDOWN_DRAIN; 0 in development and test).
	ShutdownDrain time.Duration
	// ShutdownTimeout bounds, after the drain, serve's in-flight requests and work's running
	// jobs (River's soft stop) before jobs are cancelled and released (SHUTDOWN_TIMEOUT).
	ShutdownTimeout time.Duration

	LogLevel  slog.Level
	LogFormat string // json | text
	Version   string
}

// Development reports whether embedded fallbacks (in-process cache, offline AI, logged
// e-mail, local storage) may replace missing production dependencies. The test environment
// shares them.
func (c *Config) Development() bool { return c.Env == EnvDevelopment || c.Env == EnvTest }

// Production reports whether this is the production environment.
func (c *Config) Production() bool { return c.Env == EnvProduction }

// AppURL is the base of the links e-mails and redirects send people to: the first
// FRONTEND_URL, or API_BASE_URL when none is set.
func (c *Config) AppURL() string {
	if len(c.FrontendURL) > 0 {
		return c.FrontendURL[0]
	}
	return c.APIBaseURL
}

// StripeEnabled reports whether billing routes can reach Stripe.
func (c *Config) StripeEnabled() bool { return c.StripeSecretKey != "" }

// Load reads the configuration. getenv is os.Getenv in production and a map in tests.
func Load(getenv func(string) string) (*Config, error) {
	env := strings.ToLower(strings.TrimSpace(getenv("APP_ENV")))
	if env == "" {
		env = strings.ToLower(strings.TrimSpace(getenv("NODE_ENV")))
	}
	if env == "" {
		env = EnvDevelopment
	}
	switch env {
	case EnvDevelopment, EnvTest, EnvStaging, EnvProduction:
	default:
		return nil, fmt.Errorf("APP_ENV: must be one of development, test, staging, production (got %q)", env)
	}
	file, err := readEnvFile(env + ".env")
	if err != nil {
		return nil, err
	}
	l := &loader{get: func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return file[k]
	}}
	c := &Config{Env: env}

	c.Port = l.int("PORT", 3001, 1, 65535)
	c.WorkerMetricsPort = l.int("WORKER_METRICS_PORT", 9091, 0, 65535)
	if c.WorkerMetricsPort != 0 && c.WorkerMetricsPort == c.Port {
		l.fail("WORKER_METRICS_PORT", fmt.Sprintf("0 or a port other than PORT (both %d)", c.Port))
	}
	c.APIBaseURL = strings.TrimRight(l.str("API_BASE_URL", fmt.Sprintf("http://localhost:%d", c.Port)), "/")
	l.url("API_BASE_URL", c.APIBaseURL)
	for _, o := range strings.Split(l.str("FRONTEND_URL", ""), ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.FrontendURL = append(c.FrontendURL, strings.TrimRight(o, "/"))
		}
	}
	c.TrustedProxies = l.cidrs("TRUSTED_PROXIES", DefaultTrustedProxies)

	c.DatabaseURL, c.DBMaxConns, c.DBPoolTimeout = l.database("DATABASE_URL",
		"postgres://postgres@127.0.0.1:5432/axon?sslmode=disable")
	c.RedisURL = l.str("REDIS_URL", "")
	if c.RedisURL != "" {
		l.url("REDIS_URL", c.RedisURL)
	}

	c.JWTSecret = l.str("JWT_SECRET", "")
	c.JWTExpiresIn = l.duration("JWT_EXPIRES_IN", 15*time.Minute)
	c.RefreshTokenExpiresIn = l.duration("REFRESH_TOKEN_EXPIRES_IN", 30*24*time.Hour)
	c.BcryptCost = l.int("BCRYPT_COST", 12, 4, 31)
	c.ChannelEncryptionKey = l.hexKey("CHANNEL_ENCRYPTION_KEY")
	c.ChannelEncryptionKeyOld = l.hexKey("CHANNEL_ENCRYPTION_KEY_OLD")

	c.OpenAIAPIKey = l.str("OPENAI_API_KEY", "")
	c.OpenAIBaseURL = l.str("OPENAI_BASE_URL", "https://api.openai.com/v1")
	l.url("OPENAI_BASE_URL", c.OpenAIBaseURL)
	c.OpenAIModel = l.str("OPENAI_MODEL", "gpt-4o")
	c.OpenAIScorerModel = l.str("OPENAI_SCORER_MODEL", "gpt-4o-mini")
	c.OpenAIEmbeddingModel = l.str("OPENAI_EMBEDDING_MODEL", "text-embedding-3-small")
	c.RAGMinSimilarity = l.float("RAG_MIN_SIMILARITY", 0, 0, 1)
	c.IngestAllowPrivate = l.bool("INGEST_ALLOW_PRIVATE", false)
	c.YouTubeTranscriptURL = l.str("YOUTUBE_TRANSCRIPT_BASE_URL", "https://www.youtube.com")

	c.ZendeskAPIBase = strings.TrimRight(l.str("ZENDESK_API_BASE", ""), "/")
	if c.ZendeskAPIBase != "" {
		l.url("ZENDESK_API_BASE", c.ZendeskAPIBase)
	}
	c.FreshdeskAPIBase = strings.TrimRight(l.str("FRESHDESK_API_BASE", ""), "/")
	if c.FreshdeskAPIBase != "" {
		l.url("FRESHDESK_API_BASE", c.FreshdeskAPIBase)
	}

	for _, v := range []struct {
		name, def string
		dst       *string
	}{
		{"WHATSAPP_API_BASE", "https://graph.facebook.com/v21.0", &c.WhatsAppAPIBase},
		{"MESSENGER_API_BASE", "https://graph.facebook.com/v21.0", &c.MessengerAPIBase},
		{"TELEGRAM_API_BASE", "https://api.telegram.org", &c.TelegramAPIBase},
		{"SLACK_API_BASE", "https://slack.com/api", &c.SlackAPIBase},
		{"TWILIO_API_BASE", "https://api.twilio.com", &c.TwilioAPIBase},
	} {
		*v.dst = strings.TrimRight(l.str(v.name, v.def), "/")
		l.url(v.name, *v.dst)
	}

	c.StripeSecretKey = l.str("STRIPE_SECRET_KEY", "")
	c.StripeWebhookSecret = l.str("STRIPE_WEBHOOK_SECRET", "")
	c.StripeAPIBase = l.str("STRIPE_API_BASE", "")
	if c.StripeAPIBase != "" {
		l.url("STRIPE_API_BASE", c.StripeAPIBase)
	}
	c.StripePriceBuilder = l.str("STRIPE_PRICE_BUILDER", "")
	c.StripePricePro = l.str("STRIPE_PRICE_PRO", "")
	c.StripePriceTopup2K = l.str("STRIPE_PRICE_TOPUP_2K", "")
	c.StripePriceTopup10K = l.str("STRIPE_PRICE_TOPUP_10K", "")
	c.StripePriceTopup50K = l.str("STRIPE_PRICE_TOPUP_50K", "")

	c.ResendAPIKey = l.str("RESEND_API_KEY", "")
	c.ResendFrom = l.str("RESEND_FROM", "Axon <noreply@axon.local>")
	c.ResendBaseURL = l.str("RESEND_BASE_URL", "")
	if c.ResendBaseURL != "" {
		l.url("RESEND_BASE_URL", c.ResendBaseURL)
	}
	c.SentryDSN = l.str("SENTRY_DSN", "")

	c.S3Bucket = l.str("S3_BUCKET", "")
	c.S3Region = l.str("S3_REGION", "us-east-1")
	c.S3Endpoint = l.str("S3_ENDPOINT", "")
	if c.S3Endpoint != "" {
		l.url("S3_ENDPOINT", c.S3Endpoint)
	}
	c.AWSAccessKeyID = l.str("AWS_ACCESS_KEY_ID", "")
	c.AWSSecretAccessKey = l.str("AWS_SECRET_ACCESS_KEY", "")
	c.LocalStorageDir = l.str("LOCAL_STORAGE_DIR", "./data/storage")

	c.RateLimitScale = l.float("RATE_LIMIT_SCALE", 1, 0.01, 100000)
	c.AdminUser = l.str("ADMIN_USER", "")
	c.AdminPassword = l.str("ADMIN_PASSWORD", "")
	c.BackupCron = l.str("BACKUP_CRON", "")
	drain := 5 * time.Second
	if c.Development() {
		drain = 0 // no load balancer to drain
	}
	c.ShutdownDrain = l.durationOrZero("SHUTDOWN_DRAIN", drain)
	c.ShutdownTimeout = l.duration("SHUTDOWN_TIMEOUT", 20*time.Second)

	c.LogLevel = l.level("LOG_LEVEL", slog.LevelInfo)
	c.LogFormat = l.str("LOG_FORMAT", map[bool]string{true: "text", false: "json"}[c.Development()])
	if c.LogFormat != "json" && c.LogFormat != "text" {
		l.fail("LOG_FORMAT", "json or text")
	}

	c.validateEnvironment(l)
	if err := errors.Join(l.errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// validateEnvironment applies the rules that differ between development and the deployed
// environments: outside development a missing production dependency is an error, never a
// silent fallback.
func (c *Config) validateEnvironment(l *loader) {
	if c.JWTSecret == "" && c.Development() {
		c.JWTSecret = devJWTSecret
	}
	if len(c.JWTSecret) < 32 {
		l.fail("JWT_SECRET", "at least 32 bytes (required outside development/test)")
	}
	if c.Production() && c.RateLimitScale != 1 {
		l.fail("RATE_LIMIT_SCALE", "1 in production (it exists for load tests)")
	}
	if c.Development() {
		return
	}
	if c.JWTSecret == devJWTSecret {
		l.fail("JWT_SECRET", "a private secret of at least 32 bytes, not the development default")
	}
	required := map[string]string{
		"REDIS_URL":              c.RedisURL,
		"OPENAI_API_KEY":         c.OpenAIAPIKey,
		"RESEND_API_KEY":         c.ResendAPIKey,
		"S3_BUCKET":              c.S3Bucket,
		"CHANNEL_ENCRYPTION_KEY": string(c.ChannelEncryptionKey),
	}
	for _, k := range []string{"REDIS_URL", "OPENAI_API_KEY", "RESEND_API_KEY", "S3_BUCKET", "CHANNEL_ENCRYPTION_KEY"} {
		if required[k] == "" {
			l.fail(k, "a value (required outside development/test)")
		}
	}
	if c.StripeSecretKey != "" && c.StripeWebhookSecret == "" {
		l.fail("STRIPE_WEBHOOK_SECRET", "the endpoint's whsec_… secret (required when STRIPE_SECRET_KEY is set)")
	}
}

// Secret names whose values are masked in LogValue.
func mask(s string) string {
	if s == "" {
		return ""
	}
	return "****"
}

// maskURL hides the password of a URL, also of one that does not parse (whose text goes into
// validation errors).
func maskURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if at := strings.LastIndex(s, "@"); at >= 0 {
			if sch := strings.Index(s, "://"); sch >= 0 && sch < at {
				return s[:sch+3] + "****" + s[at:]
			}
			return "****" + s[at:]
		}
		return s
	}
	if u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "****")
	}
	return u.String()
}

// LogValue prints the effective configuration with every secret masked.
func (c *Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("env", c.Env),
		slog.Int("port", c.Port),
		slog.Int("workerMetricsPort", c.WorkerMetricsPort),
		slog.String("apiBaseUrl", maskURL(c.APIBaseURL)),
		slog.Any("frontendUrl", c.FrontendURL),
		slog.Any("trustedProxies", c.TrustedProxies),
		slog.String("databaseUrl", maskURL(c.DatabaseURL)),
		slog.Int("dbMaxConns", c.DBMaxConns),
		slog.Duration("dbPoolTimeout", c.DBPoolTimeout),
		slog.String("redisUrl", maskURL(c.RedisURL)),
		slog.String("jwtSecret", mask(c.JWTSecret)),
		slog.Duration("jwtExpiresIn", c.JWTExpiresIn),
		slog.Duration("refreshTtl", c.RefreshTokenExpiresIn),
		slog.Int("bcryptCost", c.BcryptCost),
		slog.String("channelEncryptionKey", mask(string(c.ChannelEncryptionKey))),
		slog.String("openaiApiKey", mask(c.OpenAIAPIKey)),
		slog.String("openaiBaseUrl", maskURL(c.OpenAIBaseURL)),
		slog.String("openaiModel", c.OpenAIModel),
		slog.String("openaiScorerModel", c.OpenAIScorerModel),
		slog.String("openaiEmbeddingModel", c.OpenAIEmbeddingModel),
		slog.String("stripeSecretKey", mask(c.StripeSecretKey)),
		slog.String("stripeWebhookSecret", mask(c.StripeWebhookSecret)),
		slog.String("stripeApiBase", maskURL(c.StripeAPIBase)),
		slog.String("zendeskApiBase", maskURL(c.ZendeskAPIBase)),
		slog.String("freshdeskApiBase", maskURL(c.FreshdeskAPIBase)),
		slog.String("whatsappApiBase", maskURL(c.WhatsAppAPIBase)),
		slog.String("messengerApiBase", maskURL(c.MessengerAPIBase)),
		slog.String("telegramApiBase", maskURL(c.TelegramAPIBase)),
		slog.String("slackApiBase", maskURL(c.SlackAPIBase)),
		slog.String("twilioApiBase", maskURL(c.TwilioAPIBase)),
		slog.String("resendApiKey", mask(c.ResendAPIKey)),
		slog.String("resendBaseUrl", maskURL(c.ResendBaseURL)),
		slog.String("sentryDsn", mask(c.SentryDSN)),
		slog.String("s3Bucket", c.S3Bucket),
		slog.String("s3Endpoint", maskURL(c.S3Endpoint)),
		slog.String("awsSecretAccessKey", mask(c.AWSSecretAccessKey)),
		slog.String("adminUser", c.AdminUser),
		slog.String("adminPassword", mask(c.AdminPassword)),
		slog.Duration("shutdownDrain", c.ShutdownDrain),
		slog.Duration("shutdownTimeout", c.ShutdownTimeout),
		slog.String("logLevel", c.LogLevel.String()),
		slog.String("logFormat", c.LogFormat),
	)
}

func readEnvFile(name string) (map[string]string, error) {
	out := map[string]string{}
	f, err := envFiles.Open(name)
	if err != nil {
		return out, nil //nolint:nilerr // an environment without a file has no defaults
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("configs/%s:%d: expected KEY=value", name, n)
		}
		out[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
	}
	return out, sc.Err()
}

// loader collects every validation error so that one start-up names all bad variables.
type loader struct {
	get  func(string) string
	errs []error
}

// DefaultTrustedProxies is TRUSTED_PROXIES when unset: loopback and the private ranges, where
// a platform's edge proxy (Railway, Fly, a compose network) reaches the app.
const DefaultTrustedProxies = "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"

// cidrs reads a comma-separated list of CIDRs; "none" is the empty, non-nil list (trust no
// proxy: web.Options reads nil as "the default ranges").
func (l *loader) cidrs(name, def string) []*net.IPNet {
	raw := l.str(name, def)
	if strings.EqualFold(strings.TrimSpace(raw), "none") {
		return []*net.IPNet{}
	}
	var out []*net.IPNet
	for _, part := range strings.Split(raw, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		_, n, err := net.ParseCIDR(part)
		if err != nil {
			l.fail(name, "comma-separated CIDRs such as 10.0.0.0/8,fc00::/7, or none")
			return nil
		}
		out = append(out, n)
	}
	return out
}

func (l *loader) fail(name, form string) {
	l.errs = append(l.errs, fmt.Errorf("%s: must be %s", name, form))
}

func (l *loader) str(name, def string) string {
	if v := strings.TrimSpace(l.get(name)); v != "" {
		return v
	}
	return def
}

func (l *loader) int(name string, def, min, max int) int {
	v := l.get(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < min || n > max {
		l.fail(name, fmt.Sprintf("an integer from %d to %d (got %q)", min, max, v))
		return def
	}
	return n
}

func (l *loader) float(name string, def, min, max float64) float64 {
	v := l.get(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || f < min || f > max {
		l.fail(name, fmt.Sprintf("a number from %g to %g (got %q)", min, max, v))
		return def
	}
	return f
}

func (l *loader) bool(name string, def bool) bool {
	v := l.get(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		l.fail(name, fmt.Sprintf("true or false (got %q)", v))
		return def
	}
	return b
}

// duration accepts Go durations ("15m") plus the "30d" day form of the deployment doc.
func (l *loader) duration(name string, def time.Duration) time.Duration {
	v := strings.TrimSpace(l.get(name))
	if v == "" {
		return def
	}
	d, err := ParseDuration(v)
	if err != nil || d <= 0 {
		l.fail(name, fmt.Sprintf("a positive duration such as 15m, 12h or 30d (got %q)", v))
		return def
	}
	return d
}

// durationOrZero is duration that also accepts 0 (off).
func (l *loader) durationOrZero(name string, def time.Duration) time.Duration {
	if v := strings.TrimSpace(l.get(name)); v == "0" || v == "0s" {
		return 0
	}
	return l.duration(name, def)
}

// ParseDuration parses Go durations and whole days ("30d").
func ParseDuration(v string) (time.Duration, error) {
	if strings.HasSuffix(v, "d") {
		n, err := strconv.Atoi(strings.TrimSuffix(v, "d"))
		if err != nil {
			return 0, err
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(v)
}

func (l *loader) url(name, v string) {
	u, err := url.Parse(v)
	if err != nil || u.Scheme == "" || u.Host == "" {
		l.fail(name, fmt.Sprintf("an absolute URL such as https://host (got %q)", maskURL(v)))
	}
}

func (l *loader) hexKey(name string) []byte {
	v := strings.TrimSpace(l.get(name))
	if v == "" {
		return nil
	}
	b, err := hex.DecodeString(v)
	if err != nil || len(b) != 32 {
		l.fail(name, "64 hexadecimal characters (32 bytes)")
		return nil
	}
	return b
}

func (l *loader) level(name string, def slog.Level) slog.Level {
	v := strings.TrimSpace(l.get(name))
	if v == "" {
		return def
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(v)); err != nil {
		l.fail(name, fmt.Sprintf("debug, info, warn or error (got %q)", v))
		return def
	}
	return lv
}

// database parses DATABASE_URL, takes the pool settings out of its query and returns the URL
// the driver may see. connection_limit sets the pool size; pool_timeout (seconds) the wait
// for a free connection.
func (l *loader) database(name, def string) (string, int, time.Duration) {
	raw := l.str(name, def)
	maxConns, poolTimeout := 10, 10*time.Second
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		l.fail(name, "a postgres:// URL (got an unparseable value)")
		return raw, maxConns, poolTimeout
	}
	q := u.Query()
	if v := q.Get("connection_limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			l.fail(name, fmt.Sprintf("a URL whose connection_limit is an integer from 1 to 1000 (got %q)", v))
		} else {
			maxConns = n
		}
		q.Del("connection_limit")
	}
	if v := q.Get("pool_timeout"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 3600 {
			l.fail(name, fmt.Sprintf("a URL whose pool_timeout is a number of seconds from 0 to 3600 (got %q)", v))
		} else {
			poolTimeout = time.Duration(f * float64(time.Second))
		}
		q.Del("pool_timeout")
	}
	u.RawQuery = q.Encode()
	return u.String(), maxConns, poolTimeout
}
