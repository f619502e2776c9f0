package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"
)

// Upload tuning. A dump is streamed in parts of PartSize(its expected size) bytes, with
// Concurrency parts uploading while the next one is read from pg_dump, so an upload holds
// at most Concurrency+1 part buffers: 15 MiB for any database up to 24 GiB
// (docs/performance.md, "Backups at size").
const (
	// MinPartSize is S3's minimum size of every part but the last.
	MinPartSize = 5 << 20
	// MaxPartSize is S3's maximum part size.
	MaxPartSize = 5 << 30
	// MaxParts is S3's limit on the parts of one multipart upload.
	MaxParts = 10_000
	// UnknownSizePartSize is used when the dump's size cannot be estimated: 8 MiB parts
	// carry a dump of up to 78 GiB.
	UnknownSizePartSize = 8 << 20
	// Concurrency is the number of parts in flight. One is enough when S3 takes a part
	// faster than pg_dump writes one (pg_dump compresses at a few MB/s per core); the
	// second absorbs a slow or retried request.
	Concurrency = 2
)

// PartSize returns the part size for a dump expected to be at most expect bytes (0 when
// unknown): the smallest whole number of MiB, at least MinPartSize, with which twice the
// estimate fits in MaxParts parts. Run passes the database's size (pg_database_size): a
// custom-format dump is compressed and holds no index, so it is much smaller (330 MB for
// a 1.57 GiB database in bench/backup); the factor 2 covers columns whose text form
// compresses worse than their stored form. S3-compatible services such as R2 want every
// part but the last of one size, so the size is chosen once, up front.
func PartSize(expect int64) int64 {
	if expect <= 0 {
		return UnknownSizePartSize
	}
	const mib = 1 << 20
	p := (2*expect + MaxParts - 1) / MaxParts
	p = (p + mib - 1) / mib * mib
	return min(max(p, MinPartSize), MaxPartSize)
}

// S3 is a Store in an S3 bucket under Prefix: backups/<name> and backups/<name>.sha256.
type S3 struct {
	client *s3.Client
	bucket string
	// partSize, when set, overrides PartSize (tests use parts below S3's minimum, which
	// gofakes3 accepts).
	partSize int64
}

// NewS3 returns an S3 store on client (storage.S3.Client()) and bucket.
func NewS3(client *s3.Client, bucket string) *S3 { return &S3{client: client, bucket: bucket} }

// newS3 returns a store that uploads in parts of partSize bytes whatever the dump's size.
func newS3(client *s3.Client, bucket string, partSize int64) *S3 {
	return &S3{client: client, bucket: bucket, partSize: partSize}
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

// Write implements Store with a streaming multipart upload (upload). A read error
// (pg_dump failed) aborts the upload, so no object appears; the sidecar is written after
// the dump.
func (s *S3) Write(ctx context.Context, name string, r io.Reader, sum func() string, expect int64) error {
	partSize := s.partSize
	if partSize <= 0 {
		partSize = PartSize(expect)
	}
	if err := s.upload(ctx, s.key(name), r, partSize); err != nil {
		return s.wrap("upload", name, err)
	}
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
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

// upload streams r to key: one PutObject when r ends within the first part, else a
// multipart upload of partSize-byte parts with Concurrency parts in flight while the next
// is read. It holds at most Concurrency+1 part buffers, allocated as needed and reused.
// On any error the multipart upload is aborted (even when ctx was cancelled), so no
// object and no billed parts are left.
func (s *S3) upload(ctx context.Context, key string, r io.Reader, partSize int64) error {
	free := make(chan []byte, Concurrency+1)
	allocated := 0
	buffer := func() []byte {
		select {
		case b := <-free:
			return b
		default:
		}
		if allocated < Concurrency+1 {
			allocated++
			return make([]byte, partSize)
		}
		return <-free // a part in flight gives its buffer back before it ends
	}

	buf := buffer()
	n, err := io.ReadFull(r, buf)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: &s.bucket, Key: aws.String(key), Body: bytes.NewReader(buf[:n]),
			ContentLength: aws.Int64(int64(n)), ContentType: aws.String("application/octet-stream"),
			Metadata: map[string]string{"format": "pg_dump-custom"},
		})
		return err
	} else if err != nil {
		return err
	}

	created, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: &s.bucket, Key: aws.String(key), ContentType: aws.String("application/octet-stream"),
		Metadata: map[string]string{"format": "pg_dump-custom"},
	})
	if err != nil {
		return err
	}
	uploadID := created.UploadId
	abort := func(cause error) error {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_, _ = s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: aws.String(key), UploadId: uploadID})
		return cause
	}

	var mu sync.Mutex
	var parts []types.CompletedPart
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(Concurrency)
	var readErr error
	last := false // buf holds the end of the dump
	for num := int32(1); ; num++ {
		if num > MaxParts {
			readErr = fmt.Errorf("the dump is larger than %d parts of %d MiB: the database's size (the estimate) was too low", MaxParts, partSize>>20)
			break
		}
		part := buf[:n]
		g.Go(func() error {
			out, err := s.client.UploadPart(gctx, &s3.UploadPartInput{
				Bucket: &s.bucket, Key: aws.String(key), UploadId: uploadID,
				PartNumber: aws.Int32(num), Body: bytes.NewReader(part), ContentLength: aws.Int64(int64(len(part))),
			})
			free <- part[:cap(part)]
			if err != nil {
				return fmt.Errorf("part %d: %w", num, err)
			}
			mu.Lock()
			parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
			mu.Unlock()
			return nil
		})
		if last || gctx.Err() != nil {
			break // done, or a part failed or ctx ended (g.Wait reports which)
		}
		buf = buffer()
		n, err = io.ReadFull(r, buf)
		if err == io.EOF {
			break // the previous part ended exactly at the end of the dump
		}
		if err != nil && err != io.ErrUnexpectedEOF {
			readErr = err
			break
		}
		last = err == io.ErrUnexpectedEOF // a shorter part is the last
	}
	if err := g.Wait(); readErr != nil {
		// pg_dump's failure (or the part limit) is the cause, whatever the parts did.
		return abort(readErr)
	} else if err != nil {
		return abort(err)
	}
	if err := ctx.Err(); err != nil {
		return abort(err)
	}
	slices.SortFunc(parts, func(a, b types.CompletedPart) int { return int(aws.ToInt32(a.PartNumber) - aws.ToInt32(b.PartNumber)) })
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &s.bucket, Key: aws.String(key), UploadId: uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return abort(err)
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
