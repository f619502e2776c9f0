package configs

import (
	"bytes"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"
)

// env builds a getenv over a map, so no test depends on the process environment.
func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func mustLoad(t *testing.T, kv map[string]string) *Config {
	t.Helper()
	c, err := Load(env(kv))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

func loadErr(t *testing.T, kv map[string]string) string {
	t.Helper()
	_, err := Load(env(kv))
	if err == nil {
		t.Fatalf("Load(%v): want an error, got none", kv)
	}
	return err.Error()
}

// productionEnv is a complete, valid production environment.
func productionEnv() map[string]string {
	return map[string]string{
		"APP_ENV":                "production",
		"DATABASE_URL":           "postgres://axon:pw@db.internal:5432/axon?sslmode=require",
		"REDIS_URL":              "redis://cache.internal:6379/0",
		"JWT_SECRET":             strings.Repeat("p", 40),
		"OPENAI_API_KEY":         "sk-prod",
		"RESEND_API_KEY":         "re_prod",
		"S3_BUCKET":              "axon-prod",
		"CHANNEL_ENCRYPTION_KEY": strings.Repeat("ab", 32),
	}
}

func TestDefaultsDevelopment(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, nil)
	if c.Env != EnvDevelopment || !c.Development() || c.Production() {
		t.Fatalf("env = %q, want development", c.Env)
	}
	if c.Port != 3001 || c.APIBaseURL != "http://localhost:3001" || c.WorkerMetricsPort != 9091 {
		t.Errorf("port/api/worker metrics = %d %q %d", c.Port, c.APIBaseURL, c.WorkerMetricsPort)
	}
	if got := strings.Join(c.FrontendURL, ","); got != "http://localhost:3000,http://localhost:5173" {
		t.Errorf("FrontendURL = %q", got)
	}
	if c.DatabaseURL != "postgres://postgres@127.0.0.1:5432/axon?sslmode=disable" {
		t.Errorf("DatabaseURL = %q", c.DatabaseURL)
	}
	if c.DBMaxConns != 20 || c.DBPoolTimeout != 10*time.Second {
		t.Errorf("pool = %d %s, want 20 10s (from development.env)", c.DBMaxConns, c.DBPoolTimeout)
	}
	if c.JWTSecret != devJWTSecret {
		t.Errorf("development should fall back to the development JWT secret")
	}
	if c.BcryptCost != 12 || c.LogFormat != "text" || c.LogLevel != slog.LevelInfo {
		t.Errorf("bcrypt/log = %d %q %v", c.BcryptCost, c.LogFormat, c.LogLevel)
	}
	if c.JWTExpiresIn != 15*time.Minute || c.RefreshTokenExpiresIn != 30*24*time.Hour {
		t.Errorf("token ttls = %s %s", c.JWTExpiresIn, c.RefreshTokenExpiresIn)
	}
	if c.RedisURL != "" || c.OpenAIModel != "gpt-4o" || c.OpenAIEmbeddingModel != "text-embedding-3-small" {
		t.Errorf("redis/openai defaults = %q %q %q", c.RedisURL, c.OpenAIModel, c.OpenAIEmbeddingModel)
	}
}

func TestDefaultsTest(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, map[string]string{"APP_ENV": "test"})
	if c.Env != EnvTest || !c.Development() {
		t.Fatalf("env = %q", c.Env)
	}
	if !strings.Contains(c.DatabaseURL, "/axon_test?") {
		t.Errorf("DatabaseURL = %q, want the axon_test database", c.DatabaseURL)
	}
	if c.BcryptCost != 4 || c.LogLevel != slog.LevelWarn {
		t.Errorf("bcrypt/level = %d %v", c.BcryptCost, c.LogLevel)
	}
	if c.JWTSecret != "test-secret-test-secret-test-secret-0123456789" {
		t.Errorf("JWTSecret not taken from test.env")
	}
	if got := strings.Join(c.FrontendURL, ","); got != "http://localhost:3000" {
		t.Errorf("FrontendURL = %q", got)
	}
	if c.WorkerMetricsPort != 0 {
		t.Errorf("WorkerMetricsPort = %d, want 0 (tests start several workers at once)", c.WorkerMetricsPort)
	}
}

func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, map[string]string{"APP_ENV": "test"})
	var got []string
	for _, n := range c.TrustedProxies {
		got = append(got, n.String())
	}
	if strings.Join(got, ",") != DefaultTrustedProxies {
		t.Errorf("default TrustedProxies = %v", got)
	}
	c = mustLoad(t, map[string]string{"APP_ENV": "test", "TRUSTED_PROXIES": " 172.16.0.0/12 , 2a09:8280::/32 "})
	if len(c.TrustedProxies) != 2 || c.TrustedProxies[1].String() != "2a09:8280::/32" {
		t.Errorf("TrustedProxies = %v", c.TrustedProxies)
	}
	if c = mustLoad(t, map[string]string{"APP_ENV": "test", "TRUSTED_PROXIES": "none"}); len(c.TrustedProxies) != 0 {
		t.Errorf("none = %v", c.TrustedProxies)
	}
}

func TestRealEnvWinsOverFile(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, map[string]string{
		"APP_ENV":      "test",
		"PORT":         "4100",
		"BCRYPT_COST":  "10",
		"LOG_LEVEL":    "debug",
		"FRONTEND_URL": " https://app.example.com/ , https://admin.example.com",
		"DATABASE_URL": "postgres://u@h:5432/other?sslmode=disable",
	})
	if c.Port != 4100 || c.BcryptCost != 10 || c.LogLevel != slog.LevelDebug {
		t.Errorf("env did not win: port %d bcrypt %d level %v", c.Port, c.BcryptCost, c.LogLevel)
	}
	if got := strings.Join(c.FrontendURL, ","); got != "https://app.example.com,https://admin.example.com" {
		t.Errorf("FrontendURL = %q", got)
	}
	if c.DatabaseURL != "postgres://u@h:5432/other?sslmode=disable" || c.DBMaxConns != 10 {
		t.Errorf("DATABASE_URL from the environment must replace the file's: %q max %d", c.DatabaseURL, c.DBMaxConns)
	}
}

func TestNodeEnvAlias(t *testing.T) {
	t.Parallel()
	if c := mustLoad(t, map[string]string{"NODE_ENV": "test"}); c.Env != EnvTest {
		t.Errorf("NODE_ENV=test gave env %q", c.Env)
	}
	if c := mustLoad(t, map[string]string{"NODE_ENV": "test", "APP_ENV": "development"}); c.Env != EnvDevelopment {
		t.Errorf("APP_ENV must win over NODE_ENV, got %q", c.Env)
	}
	msg := loadErr(t, map[string]string{"APP_ENV": "prod"})
	if !strings.Contains(msg, "APP_ENV") || !strings.Contains(msg, "development, test, staging, production") {
		t.Errorf("unknown APP_ENV error = %q", msg)
	}
}

func TestValidationErrorsNameVariableAndForm(t *testing.T) {
	t.Parallel()
	longKey := strings.Repeat("ab", 32)
	cases := []struct {
		name string
		kv   map[string]string
		want []string
	}{
		{"bad port", map[string]string{"PORT": "http"}, []string{"PORT", "an integer from 1 to 65535", `"http"`}},
		{"port out of range", map[string]string{"PORT": "70000"}, []string{"PORT", "an integer from 1 to 65535"}},
		{"bad worker metrics port", map[string]string{"WORKER_METRICS_PORT": "-1"}, []string{"WORKER_METRICS_PORT", "an integer from 0 to 65535", `"-1"`}},
		{"worker metrics port is PORT", map[string]string{"PORT": "4000", "WORKER_METRICS_PORT": "4000"}, []string{"WORKER_METRICS_PORT", "other than PORT"}},
		{
			"short JWT secret in production", merge(productionEnv(), map[string]string{"JWT_SECRET": "short"}),
			[]string{"JWT_SECRET", "at least 32 bytes"},
		},
		{
			"development JWT secret in production", merge(productionEnv(), map[string]string{"JWT_SECRET": devJWTSecret}),
			[]string{"JWT_SECRET", "not the development default"},
		},
		{
			"channel key not hex",
			map[string]string{"CHANNEL_ENCRYPTION_KEY": strings.Repeat("zz", 32)},
			[]string{"CHANNEL_ENCRYPTION_KEY", "64 hexadecimal characters"},
		},
		{
			"channel key too short",
			map[string]string{"CHANNEL_ENCRYPTION_KEY": longKey[:62]},
			[]string{"CHANNEL_ENCRYPTION_KEY", "64 hexadecimal characters"},
		},
		{
			"old channel key",
			map[string]string{"CHANNEL_ENCRYPTION_KEY_OLD": "abc"},
			[]string{"CHANNEL_ENCRYPTION_KEY_OLD", "64 hexadecimal characters"},
		},
		{
			"connection_limit not a number",
			map[string]string{"DATABASE_URL": "postgres://u@h/db?connection_limit=many"},
			[]string{"DATABASE_URL", "connection_limit", "integer from 1 to 1000", `"many"`},
		},
		{
			"connection_limit zero",
			map[string]string{"DATABASE_URL": "postgres://u@h/db?connection_limit=0"},
			[]string{"DATABASE_URL", "connection_limit"},
		},
		{
			"pool_timeout bad",
			map[string]string{"DATABASE_URL": "postgres://u@h/db?pool_timeout=soon"},
			[]string{"DATABASE_URL", "pool_timeout", "seconds"},
		},
		{
			"not a postgres url",
			map[string]string{"DATABASE_URL": "mysql://u@h/db"},
			[]string{"DATABASE_URL", "postgres://"},
		},
		{"bad duration", map[string]string{"JWT_EXPIRES_IN": "forever"}, []string{"JWT_EXPIRES_IN", "duration"}},
		{"bad bcrypt", map[string]string{"BCRYPT_COST": "3"}, []string{"BCRYPT_COST", "from 4 to 31"}},
		{"bad log format", map[string]string{"LOG_FORMAT": "xml"}, []string{"LOG_FORMAT", "json or text"}},
		{"bad trusted proxy", map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8,10.1.2.3"}, []string{"TRUSTED_PROXIES", "CIDRs"}},
		{"bad base url", map[string]string{"OPENAI_BASE_URL": "not a url"}, []string{"OPENAI_BASE_URL", "absolute URL"}},
		{
			"stripe without webhook secret", merge(productionEnv(), map[string]string{"STRIPE_SECRET_KEY": "sk_live_x"}),
			[]string{"STRIPE_WEBHOOK_SECRET"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := loadErr(t, tc.kv)
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestAllErrorsReportedAtOnce(t *testing.T) {
	t.Parallel()
	msg := loadErr(t, map[string]string{"PORT": "x", "BCRYPT_COST": "99", "LOG_LEVEL": "loud"})
	for _, v := range []string{"PORT", "BCRYPT_COST", "LOG_LEVEL"} {
		if !strings.Contains(msg, v) {
			t.Errorf("error %q does not name %s", msg, v)
		}
	}
}

func TestProductionRequiresItsDependencies(t *testing.T) {
	t.Parallel()
	msg := loadErr(t, map[string]string{"APP_ENV": "production"})
	for _, v := range []string{"JWT_SECRET", "REDIS_URL", "OPENAI_API_KEY", "RESEND_API_KEY", "S3_BUCKET", "CHANNEL_ENCRYPTION_KEY"} {
		if !strings.Contains(msg, v+": must be") {
			t.Errorf("production error %q does not name %s", msg, v)
		}
	}
	// Staging follows the same rules; the complete environment loads.
	if _, err := Load(env(merge(productionEnv(), map[string]string{"APP_ENV": "staging"}))); err != nil {
		t.Errorf("complete staging environment: %v", err)
	}
	c := mustLoad(t, productionEnv())
	if !c.Production() || c.Development() || c.LogFormat != "json" {
		t.Errorf("production flags: prod %v dev %v format %q", c.Production(), c.Development(), c.LogFormat)
	}
	if len(c.ChannelEncryptionKey) != 32 {
		t.Errorf("channel key decoded to %d bytes", len(c.ChannelEncryptionKey))
	}
	// Missing single dependency is named alone.
	kv := productionEnv()
	delete(kv, "REDIS_URL")
	if msg := loadErr(t, kv); !strings.Contains(msg, "REDIS_URL") || strings.Contains(msg, "OPENAI_API_KEY") {
		t.Errorf("missing REDIS_URL error = %q", msg)
	}
}

func TestDatabaseURLPoolParameters(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, map[string]string{
		"DATABASE_URL": "postgres://axon:pw@db:5432/axon?sslmode=disable&connection_limit=7&pool_timeout=2.5&application_name=api",
	})
	if c.DBMaxConns != 7 || c.DBPoolTimeout != 2500*time.Millisecond {
		t.Errorf("pool = %d %s, want 7 2.5s", c.DBMaxConns, c.DBPoolTimeout)
	}
	u, err := url.Parse(c.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Has("connection_limit") || q.Has("pool_timeout") {
		t.Errorf("pool parameters left in the driver URL: %q", c.DatabaseURL)
	}
	if q.Get("sslmode") != "disable" || q.Get("application_name") != "api" {
		t.Errorf("other parameters lost: %q", c.DatabaseURL)
	}
	if pw, _ := u.User.Password(); u.User.Username() != "axon" || pw != "pw" || u.Host != "db:5432" || u.Path != "/axon" {
		t.Errorf("URL mangled: %q", c.DatabaseURL)
	}
	// Without the parameters the defaults apply.
	c = mustLoad(t, map[string]string{"DATABASE_URL": "postgresql://h/db"})
	if c.DBMaxConns != 10 || c.DBPoolTimeout != 10*time.Second {
		t.Errorf("default pool = %d %s", c.DBMaxConns, c.DBPoolTimeout)
	}
}

func TestParseDurationDays(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, map[string]string{"REFRESH_TOKEN_EXPIRES_IN": "7d", "JWT_EXPIRES_IN": "30m"})
	if c.RefreshTokenExpiresIn != 7*24*time.Hour || c.JWTExpiresIn != 30*time.Minute {
		t.Errorf("durations = %s %s", c.RefreshTokenExpiresIn, c.JWTExpiresIn)
	}
}

func TestLogValueMasksSecrets(t *testing.T) {
	t.Parallel()
	secrets := map[string]string{
		"JWT_SECRET":                 "SECRETjwt-0123456789-0123456789-0123456789",
		"CHANNEL_ENCRYPTION_KEY":     strings.Repeat("c0", 32),
		"CHANNEL_ENCRYPTION_KEY_OLD": strings.Repeat("d1", 32),
		"OPENAI_API_KEY":             "sk-SECRETopenai",
		"STRIPE_SECRET_KEY":          "sk_test_SECRETstripe",
		"STRIPE_WEBHOOK_SECRET":      "whsec_SECRETwebhook",
		"RESEND_API_KEY":             "re_SECRETresend",
		"SENTRY_DSN":                 "https://SECRETsentrykey@o1.ingest.sentry.io/42",
		"AWS_SECRET_ACCESS_KEY":      "SECRETawssecret",
		"ADMIN_PASSWORD":             "SECRETadminpw",
	}
	kv := merge(productionEnv(), secrets)
	kv["DATABASE_URL"] = "postgres://axon:SECRETdbpw@db:5432/axon?sslmode=require&connection_limit=5"
	kv["REDIS_URL"] = "redis://:SECRETredispw@cache:6379/0"
	// Base URLs may carry credentials for a proxy in front of the provider.
	kv["OPENAI_BASE_URL"] = "https://proxy:SECREToaiproxy@llm.internal/v1"
	kv["STRIPE_API_BASE"] = "http://u:SECRETstripeproxy@stripe-mock:12111"
	kv["RESEND_BASE_URL"] = "http://u:SECRETresendproxy@resend.local"
	kv["S3_ENDPOINT"] = "https://u:SECRETs3proxy@minio.local:9000"
	kv["ADMIN_USER"] = "ops"
	c := mustLoad(t, kv)

	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("configuration", "config", c)
	out := buf.String()
	all := map[string]string{"DATABASE_URL password": "SECRETdbpw", "REDIS_URL password": "SECRETredispw"}
	for k, v := range secrets {
		all[k] = v
	}
	for name, v := range all {
		if strings.Contains(out, v) {
			t.Errorf("%s value appears in the config log line: %s", name, out)
		}
	}
	if strings.Contains(out, "SECRET") {
		t.Errorf("some secret leaked: %s", out)
	}
	for _, want := range []string{
		`"databaseUrl":"postgres://axon:%2A%2A%2A%2A@db:5432/axon?sslmode=require"`,
		`"jwtSecret":"****"`, `"openaiApiKey":"****"`, `"dbMaxConns":5`, `"env":"production"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log line lacks %s: %s", want, out)
		}
	}
}

func TestValidationErrorsDoNotEchoSecrets(t *testing.T) {
	t.Parallel()
	for name, v := range map[string]string{
		"REDIS_URL":       "redis://:SECRETpw@cache:notaport/0",
		"OPENAI_BASE_URL": "https://u:SECRETpw@llm internal/v1",
		"DATABASE_URL":    "postgres://u:SECRETpw@db:notaport/axon",
	} {
		msg := loadErr(t, map[string]string{name: v})
		if !strings.Contains(msg, name) {
			t.Errorf("%s: error %q does not name the variable", name, msg)
		}
		if strings.Contains(msg, "SECRETpw") {
			t.Errorf("%s: error echoes the password: %q", name, msg)
		}
	}
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func TestShutdownDeadlines(t *testing.T) {
	prod := mustLoad(t, productionEnv())
	if prod.ShutdownDrain != 5*time.Second || prod.ShutdownTimeout != 20*time.Second {
		t.Errorf("production: drain %s, timeout %s", prod.ShutdownDrain, prod.ShutdownTimeout)
	}
	if c := mustLoad(t, map[string]string{"APP_ENV": "test"}); c.ShutdownDrain != 0 || c.ShutdownTimeout != 20*time.Second {
		t.Errorf("test: drain %s, timeout %s", c.ShutdownDrain, c.ShutdownTimeout)
	}
	c := mustLoad(t, merge(productionEnv(), map[string]string{"SHUTDOWN_DRAIN": "0", "SHUTDOWN_TIMEOUT": "45s"}))
	if c.ShutdownDrain != 0 || c.ShutdownTimeout != 45*time.Second {
		t.Errorf("set: drain %s, timeout %s", c.ShutdownDrain, c.ShutdownTimeout)
	}
	for _, kv := range []map[string]string{{"SHUTDOWN_DRAIN": "-1s"}, {"SHUTDOWN_TIMEOUT": "0"}, {"SHUTDOWN_TIMEOUT": "soon"}} {
		for name := range kv {
			if msg := loadErr(t, merge(map[string]string{"APP_ENV": "test"}, kv)); !strings.Contains(msg, name) {
				t.Errorf("%v: error %q does not name %s", kv, msg, name)
			}
		}
	}
}
