package storage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/axonhq/axon/platform/testkit"
	"github.com/axonhq/axon/platform/testkit/testtool"
)

const (
	testBucket = "axon-test"
	testAccess = "AKIDAXONTEST"
	testSecret = "axon-test-secret-key-0123456789abcdef"
)

// newTestS3 connects a store to endpoint and creates the test bucket.
func newTestS3(t *testing.T, endpoint string) *S3 {
	t.Helper()
	testkit.IsolateAWSEnv(t)
	ctx := context.Background()
	s, err := NewS3(ctx, S3Config{
		Bucket:          testBucket,
		Region:          "us-east-1",
		Endpoint:        endpoint,
		AccessKeyID:     testAccess,
		SecretAccessKey: testSecret,
	})
	if err != nil {
		t.Fatal(err)
	}
	var owned *types.BucketAlreadyOwnedByYou
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(testBucket)}); err != nil && !errors.As(err, &owned) {
		t.Fatalf("create bucket: %v", err)
	}
	return s
}

// startGofakes3 serves an in-memory S3 on a local port. It does not check
// signatures.
func startGofakes3(t *testing.T) string {
	t.Helper()
	faker := gofakes3.New(s3mem.New())
	srv := httptest.NewServer(faker.Server())
	t.Cleanup(srv.Close)
	return srv.URL
}

// startVersitygw runs a versitygw S3 gateway over a temporary directory. A missing binary
// skips the test, or fails it where the tools are required (testtool.Required).
func startVersitygw(t *testing.T) string {
	t.Helper()
	bin, err := testtool.Find("versitygw", "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0")
	if err != nil {
		testtool.Missing(t, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	root, sidecar := t.TempDir(), t.TempDir()
	cmd := exec.Command(bin, "--access", testAccess, "--secret", testSecret, "--region", "us-east-1",
		"--port", addr, "--quiet", "posix", "--sidecar", sidecar, root)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start versitygw: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("versitygw exited: %s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw did not listen on %s: %s", addr, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "http://" + addr
}

// putURL performs the browser's upload to a presigned URL.
func putURL(t *testing.T, rawURL, contentType string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, rawURL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(msg)
}

// checkObject opens key and compares its bytes and content type.
func checkObject(t *testing.T, s Store, key string, want []byte, wantCT string) {
	t.Helper()
	rc, obj, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Open(%q) read %d bytes %.40q, want %d bytes %.40q", key, len(got), got, len(want), want)
	}
	if obj.Size != int64(len(want)) || obj.ContentType != wantCT {
		t.Fatalf("Open(%q) object = %+v, want size %d type %q", key, obj, len(want), wantCT)
	}
}

// testS3Store runs the Store contract against an S3 endpoint. With
// checksSignatures, it also expects the service to refuse uploads that
// break the presigned URL's terms.
func testS3Store(t *testing.T, endpoint string, checksSignatures bool) {
	ctx := context.Background()
	s := newTestS3(t, endpoint)

	data := []byte("%PDF-1.4\nnot really a pdf, but bytes are bytes\n")
	key := NewUploadKey(wsID, "pdf")
	before := time.Now()
	uploadURL, expiresAt, err := s.PresignPut(ctx, key, "application/pdf", int64(len(data)), PresignTTL)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(uploadURL, endpoint+"/"+testBucket+"/"+key+"?") {
		t.Fatalf("presigned URL %q is not path-style under %s", uploadURL, endpoint)
	}
	if !strings.Contains(uploadURL, "X-Amz-Expires=900") {
		t.Fatalf("presigned URL %q lacks X-Amz-Expires=900", uploadURL)
	}
	signed := uploadURL[strings.Index(uploadURL, "X-Amz-SignedHeaders="):]
	if !strings.Contains(signed, "content-length") || !strings.Contains(signed, "content-type") {
		t.Fatalf("signature does not bind content type and length: %q", uploadURL)
	}
	if d := expiresAt.Sub(before); d < PresignTTL-time.Second || d > PresignTTL+time.Second {
		t.Fatalf("expiresAt is %v after now, want about %v", d, PresignTTL)
	}

	if checksSignatures {
		if code, msg := putURL(t, uploadURL, "text/html", data); code != http.StatusForbidden {
			t.Fatalf("PUT with another content type: %d %s", code, msg)
		}
		if code, msg := putURL(t, uploadURL, "application/pdf", append(data, "more"...)); code != http.StatusForbidden {
			t.Fatalf("PUT with another size: %d %s", code, msg)
		}
		if code, msg := putURL(t, strings.Replace(uploadURL, key, NewUploadKey(wsID, "pdf"), 1), "application/pdf", data); code != http.StatusForbidden {
			t.Fatalf("PUT to another key: %d %s", code, msg)
		}
		if _, _, err := s.Open(ctx, key); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Open after refused uploads = %v, want ErrNotFound", err)
		}
	}

	if code, msg := putURL(t, uploadURL, "application/pdf", data); code != http.StatusOK {
		t.Fatalf("PUT to presigned URL: %d %s", code, msg)
	}
	checkObject(t, s, key, data, "application/pdf")

	// Put with a reader that is neither seekable nor sized.
	key2 := NewUploadKey(wsID, "txt")
	body := strings.Repeat("line of text\n", 1000)
	if err := s.Put(ctx, key2, iotest.OneByteReader(strings.NewReader(body)), int64(len(body)), "text/plain"); err != nil {
		t.Fatalf("Put: %v", err)
	}
	checkObject(t, s, key2, []byte(body), "text/plain")
	if err := s.Put(ctx, key2, strings.NewReader("too long"), 3, "text/plain"); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Put of a longer body = %v, want ErrTooLarge", err)
	}
	if err := s.Put(ctx, key2, strings.NewReader("ab"), 3, "text/plain"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Put of a shorter body = %v, want ErrInvalid", err)
	}
	checkObject(t, s, key2, []byte(body), "text/plain")
	if err := s.Put(ctx, key2, strings.NewReader("x"), 0, "text/plain"); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Put of a body declared empty = %v, want ErrTooLarge", err)
	}
	key3 := NewUploadKey(wsID, "txt")
	if err := s.Put(ctx, key3, strings.NewReader(""), 0, "text/plain"); err != nil {
		t.Fatalf("Put of an empty object: %v", err)
	}
	checkObject(t, s, key3, nil, "text/plain")

	if err := s.Delete(ctx, key2); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Open(ctx, key2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open after Delete = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, key2); err != nil {
		t.Fatalf("second Delete = %v", err)
	}
	if _, _, err := s.Open(ctx, "../etc/passwd"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Open of a bad key = %v, want ErrInvalid", err)
	}
}

func TestS3Gofakes3(t *testing.T) {
	testS3Store(t, startGofakes3(t), false)
}

func TestS3Versitygw(t *testing.T) {
	endpoint := startVersitygw(t)
	testS3Store(t, endpoint, true)

	// A presigned URL stops working after its expiry.
	ctx := context.Background()
	s := newTestS3(t, endpoint)
	data := []byte("short lived")
	key := NewUploadKey(wsID, "txt")
	uploadURL, _, err := s.PresignPut(ctx, key, "text/plain", int64(len(data)), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2100 * time.Millisecond)
	if code, msg := putURL(t, uploadURL, "text/plain", data); code != http.StatusForbidden {
		t.Fatalf("PUT after expiry: %d %s", code, msg)
	}

	// Wrong credentials are refused, so the gateway really checks signatures.
	bad, err := NewS3(ctx, S3Config{Bucket: testBucket, Endpoint: endpoint, AccessKeyID: testAccess, SecretAccessKey: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.Put(ctx, key, strings.NewReader("x"), 1, "text/plain"); err == nil {
		t.Fatal("Put with a wrong secret succeeded")
	}
}

func TestNewS3RequiresBucket(t *testing.T) {
	if _, err := NewS3(context.Background(), S3Config{}); err == nil {
		t.Fatal("NewS3 without a bucket succeeded")
	}
}
