package storage

import (
	"context"
	"crypto/sha256"
	"log/slog"

	"github.com/axonhq/axon/configs"
)

// FromConfig returns the upload store: S3 when S3_BUCKET is set (s3 is then also the
// backups' destination), else a local directory (logged as a default) whose signed URLs
// are served by the API (local is then non-nil). Exactly one of local and s3 is non-nil.
func FromConfig(ctx context.Context, cfg *configs.Config, log *slog.Logger) (store Store, local *Local, s3 *S3, err error) {
	if cfg.S3Bucket == "" {
		log.Info("default: no S3_BUCKET, uploads are kept in " + cfg.LocalStorageDir)
		// Derived from JWT_SECRET so that every replica and restart signs the same URLs.
		key := sha256.Sum256([]byte("axon-local-storage\x00" + cfg.JWTSecret))
		local = NewLocal(cfg.LocalStorageDir, cfg.APIBaseURL, key[:])
		return local, local, nil, nil
	}
	s3, err = NewS3(ctx, S3Config{
		Bucket: cfg.S3Bucket, Region: cfg.S3Region,
		Endpoint: cfg.S3Endpoint, AccessKeyID: cfg.AWSAccessKeyID, SecretAccessKey: cfg.AWSSecretAccessKey,
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return s3, nil, s3, nil
}
