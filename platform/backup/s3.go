package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// Upload tuning: 8 MiB parts, 3 in flight. The uploader buffers Concurrency+1 parts, so a
// dump of any size costs about 40 MiB of memory (FINDINGS.md "Backups").
const (
	PartSize    = 8 << 20
	Concurrency = 3
)

// S3 is a Store in an S3 bucket under Prefix: backups/<name> and backups/<name>.sha256.
type S3 struct {
	client *s3.Client
	bucket string
	tm     *transfermanager.Client
}

// NewS3 returns an S3 store on client (storage.S3.Client()) and bucket.
func NewS3(client *s3.Client, bucket string) *S3 { return newS3(client, bucket, PartSize) }

// newS3 lets tests use parts smaller than S3's 5 MiB minimum (gofakes3 accepts them).
func newS3(client *s3.Client, bucket string, partSize int64) *S3 {
	tm := transfermanager.New(client, func(o *transfermanager.Options) {
		o.PartSizeBytes = partSize
		// One part's worth decides between PutObject and a multipart upload, so the first
		// read is never larger than a part.
		o.MultipartUploadThreshold = partSize
		o.Concurrency = Concurrency
		// Like platform/storage: no default CRC32 trailers, which several S3-compatible
		// services reject; the SDK signs each part's SHA-256 instead.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		// Abort the multipart upload even when the run was cancelled.
		o.FailTimeout = 30 * time.Second
	})
	return &S3{client: client, bucket: bucket, tm: tm}
}

func (s *S3) key(name string) string { return Prefix + name }

// URL implements Store.
func (s *S3) URL(name string) string { return "s3://" + s.bucket + "/" + s.key(name) }

// String returns the store's URL.
func (s *S3) String() string { return "s3://" + s.bucket + "/" + Prefix }

// Exists implements Store.
func (s *S3) Exists(ctx context.Context, name string) (bool, error) {
	_, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: aws.String(s.key(name))})
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, s.wrap("head", name, err)
	}
	return true, nil
}

// Write implements Store with a streaming multipart upload. A read error (pg_dump failed)
// aborts the upload, so no object appears; the sidecar is written after the dump.
func (s *S3) Write(ctx context.Context, name string, r io.Reader, sum func() string) error {
	_, err := s.tm.UploadObject(ctx, &transfermanager.UploadObjectInput{
		Bucket:      &s.bucket,
		Key:         aws.String(s.key(name)),
		Body:        r,
		ContentType: aws.String("application/octet-stream"),
		Metadata:    map[string]string{"format": "pg_dump-custom"},
	})
	if err != nil {
		return s.wrap("upload", name, err)
	}
	_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:      &s.bucket,
		Key:         aws.String(s.key(name) + SumSuffix),
		Body:        strings.NewReader(formatSum(sum(), name)),
		ContentType: aws.String("text/plain; charset=utf-8"),
	})
	if err != nil {
		_ = s.Delete(context.WithoutCancel(ctx), name)
		return s.wrap("write checksum of", name, err)
	}
	return nil
}

// Open implements Store.
func (s *S3) Open(ctx context.Context, name string) (io.ReadCloser, int64, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: aws.String(s.key(name))})
	if isNotFound(err) {
		return nil, 0, fmt.Errorf("%w: %s", ErrNotFound, s.URL(name))
	}
	if err != nil {
		return nil, 0, s.wrap("get", name, err)
	}
	return out.Body, aws.ToInt64(out.ContentLength), nil
}

// Sum implements Store.
func (s *S3) Sum(ctx context.Context, name string) (string, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: aws.String(s.key(name) + SumSuffix)})
	if isNotFound(err) {
		return "", fmt.Errorf("%w for %s", ErrNoSum, s.URL(name))
	}
	if err != nil {
		return "", s.wrap("get checksum of", name, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, 4096))
	if err != nil {
		return "", s.wrap("read checksum of", name, err)
	}
	return parseSum(b, name)
}

// List implements Store: one ListObjectsV2 walk, then one small GET per dump's sidecar.
func (s *S3) List(ctx context.Context) ([]Dump, error) {
	var ds []Dump
	sums := map[string]bool{}
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(Prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", s, err)
		}
		for _, o := range page.Contents {
			name := strings.TrimPrefix(aws.ToString(o.Key), Prefix)
			switch {
			case isDumpName(name):
				ds = append(ds, Dump{Name: name, Size: aws.ToInt64(o.Size), Created: aws.ToTime(o.LastModified).UTC(), Location: s.URL(name)})
			case strings.HasSuffix(name, SumSuffix):
				sums[strings.TrimSuffix(name, SumSuffix)] = true
			}
		}
	}
	for i := range ds {
		if !sums[ds[i].Name] {
			continue
		}
		sum, err := s.Sum(ctx, ds[i].Name)
		if err != nil && !errors.Is(err, ErrNoSum) {
			return nil, err
		}
		ds[i].SHA256 = sum
	}
	return ds, nil
}

// Delete implements Store.
func (s *S3) Delete(ctx context.Context, name string) error {
	for _, k := range []string{s.key(name), s.key(name) + SumSuffix} {
		if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: aws.String(k)}); err != nil && !isNotFound(err) {
			return s.wrap("delete", name, err)
		}
	}
	return nil
}

func (s *S3) wrap(op, name string, err error) error {
	return fmt.Errorf("%s %s: %w", op, s.URL(name), err)
}

func isNotFound(err error) bool {
	if err == nil {
		return false
	}
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound")
}

var _ Store = (*S3)(nil)
