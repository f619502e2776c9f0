package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// defaultRegion is used when neither S3Config.Region nor the AWS environment
// names a region. MinIO and versitygw accept it; R2 expects "auto".
const defaultRegion = "us-east-1"

// S3Config configures an S3 store. It mirrors the S3_* and AWS_*
// variables of configs.Config.
type S3Config struct {
	// Bucket is the bucket that holds every object (S3_BUCKET). Required.
	Bucket string
	// Region is the bucket's region (S3_REGION). When empty, the AWS
	// environment's region is used, else "us-east-1".
	Region string
	// Endpoint is the base URL of an S3-compatible service such as MinIO or
	// R2 (S3_ENDPOINT), for example "http://localhost:9000". Empty means AWS.
	// Setting it also turns on path-style addressing.
	Endpoint string
	// AccessKeyID and SecretAccessKey are static credentials
	// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY). When AccessKeyID is empty
	// the SDK's default credential chain is used (environment, shared files,
	// instance or task role).
	AccessKeyID     string
	SecretAccessKey string
	// UsePathStyle requests path-style URLs (https://host/bucket/key) instead
	// of virtual-hosted ones even without an Endpoint.
	UsePathStyle bool
}

// S3 is a Store backed by an S3 bucket. It is safe for concurrent use.
type S3 struct {
	client  *s3.Client
	presign *s3.PresignClient
	bucket  string
}

// NewS3 builds an S3 store from cfg with aws-sdk-go-v2. It does not contact
// the service.
//
// Checksums are computed and validated only when an operation requires them
// (aws.RequestChecksumCalculationWhenRequired), because several
// S3-compatible services reject or mishandle the SDK's default CRC32
// checksums, and because a presigned URL must not bind a checksum of a body
// the SDK never saw.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if cfg.Bucket == "" {
		return nil, fmt.Errorf("storage: S3 bucket is required (S3_BUCKET)")
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("storage: load AWS config: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = defaultRegion
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
			o.UsePathStyle = true
		}
		if cfg.UsePathStyle {
			o.UsePathStyle = true
		}
	})
	return &S3{client: client, presign: s3.NewPresignClient(client), bucket: cfg.Bucket}, nil
}

// Client returns the underlying S3 client, for callers that need more than
// Store offers (for example streaming multipart uploads of backups).
func (s *S3) Client() *s3.Client { return s.client }

// Bucket returns the bucket the store writes to.
func (s *S3) Bucket() string { return s.bucket }

// PresignPut returns a presigned PutObject URL. Content-Type and
// Content-Length are part of the signature, so S3 rejects an upload with
// another content type or another size. The client must send both headers
// unchanged.
func (s *S3) PresignPut(ctx context.Context, key, contentType string, size int64, ttl time.Duration) (string, time.Time, error) {
	if err := checkPresign(key, contentType, size, ttl); err != nil {
		return "", time.Time{}, err
	}
	now := time.Now()
	req, err := s.presign.PresignPutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(key),
		ContentType:   aws.String(contentType),
		ContentLength: aws.Int64(size),
	}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("storage: presign put %q: %w", key, err)
	}
	// The signature counts the ttl from the signing time, which is at or
	// after now; reporting now+ttl is therefore never later than the truth.
	return req.URL, now.Add(ttl).Truncate(time.Second), nil
}

// Open fetches the object under key. A missing key yields an error wrapping
// ErrNotFound.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, Object, error) {
	if err := CheckKey(key); err != nil {
		return nil, Object{}, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(key),
	})
	if err != nil {
		if isNotFound(err) {
			return nil, Object{}, fmt.Errorf("%w: %s", ErrNotFound, key)
		}
		return nil, Object{}, fmt.Errorf("storage: get %q: %w", key, err)
	}
	obj := Object{Size: aws.ToInt64(out.ContentLength), ContentType: aws.ToString(out.ContentType)}
	return out.Body, obj, nil
}

// Put uploads exactly size bytes from r under key in one PutObject request,
// reading r once (it need not be seekable; a failed request is therefore not
// retried). A body longer than size fails with an error wrapping ErrTooLarge and a
// shorter one with ErrInvalid. For large streams (backups) use Client with a
// multipart uploader instead.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("%w: negative size", ErrInvalid)
	}
	body, err := exactBody(r, size)
	if err != nil {
		return err
	}
	if size == 0 {
		// The transport never reads a zero-length body, so check it here.
		if _, err := body.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			return err
		}
	}
	in := &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(key),
		Body:          body,
		ContentLength: aws.Int64(size),
	}
	if contentType != "" {
		in.ContentType = aws.String(contentType)
	}
	// The body is streamed once, so the payload is sent as UNSIGNED-PAYLOAD
	// instead of being read twice to hash it; TLS protects it in transit.
	// A stream read once cannot be sent again, so the request is not retried.
	_, err = s.client.PutObject(ctx, in,
		s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware),
		func(o *s3.Options) { o.RetryMaxAttempts = 1 })
	if err != nil {
		if m := body.mismatch(); m != nil {
			return m
		}
		return fmt.Errorf("storage: put %q: %w", key, err)
	}
	return nil
}

// Delete removes the object under key. S3 treats a missing key as success.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(key),
	})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("storage: delete %q: %w", key, err)
	}
	return nil
}

// isNotFound recognises S3's ways of saying that a key does not exist.
func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return true
	}
	var nf *types.NotFound
	if errors.As(err, &nf) {
		return true
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode() == "NoSuchKey" || apiErr.ErrorCode() == "NotFound") {
		return true
	}
	var respErr *awshttp.ResponseError
	return errors.As(err, &respErr) && respErr.HTTPStatusCode() == http.StatusNotFound
}

// checkPresign validates the arguments shared by both PresignPut methods.
func checkPresign(key, contentType string, size int64, ttl time.Duration) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if contentType == "" {
		return fmt.Errorf("%w: content type is required", ErrInvalid)
	}
	if size <= 0 {
		return fmt.Errorf("%w: size must be a positive number of bytes", ErrInvalid)
	}
	if ttl <= 0 {
		return fmt.Errorf("%w: ttl must be positive", ErrInvalid)
	}
	return nil
}
