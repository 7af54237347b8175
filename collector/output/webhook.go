package output

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"github.com/rs/zerolog"
)

// SignatureHeader carries the HMAC-SHA256 of a webhook body, keyed with
// the webhook's secret: "sha256=" and the hex digest.
const SignatureHeader = "X-Farmwatch-Signature"

// Sign is the value of SignatureHeader for body.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify says whether sig is body's signature under secret (for
// receivers, and tests).
func Verify(secret, body []byte, sig string) bool {
	return hmac.Equal([]byte(sig), []byte(Sign(secret, body)))
}

// Webhook posts each queued message to a URL, oldest first, retrying with
// backoff until the receiver answers 2xx.
type Webhook struct {
	URL     string
	Secret  []byte
	Queue   *Queue
	Client  *http.Client
	Log     zerolog.Logger
	Metrics *Metrics
	// MinBackoff and MaxBackoff bound the wait after a failed delivery
	// (it doubles from min to max); 1 s and 5 min when zero.
	MinBackoff, MaxBackoff time.Duration
}

// CheckURL refuses a webhook URL that is not http(s) with a host.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("webhook %q: %w", raw, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("webhook %q: want an http:// or https:// URL with a host", raw)
	}
	return nil
}

// Run delivers until ctx ends.
func (w *Webhook) Run(ctx context.Context) {
	minB, maxB := w.MinBackoff, w.MaxBackoff
	if minB <= 0 {
		minB = time.Second
	}
	if maxB <= 0 {
		maxB = 5 * time.Minute
	}
	backoff := minB
	name := "webhook " + redact(w.URL)
	for {
		seq, body, ok, err := w.Queue.Peek()
		if err != nil {
			w.Log.Error().Err(err).Str("output", name).Msg("webhook queue unreadable")
		}
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-w.Queue.Ready():
			case <-time.After(time.Second):
			}
			continue
		}
		if err := w.post(ctx, body); err != nil {
			if ctx.Err() != nil {
				return
			}
			w.Metrics.failed(name)
			wait := backoff/2 + rand.N(backoff/2+1) // jitter: replicas and hooks do not retry in step
			w.Log.Warn().Err(err).Str("output", name).Int("queued", w.Queue.Len()).Dur("retry_in", wait).Msg("webhook delivery failed")
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			backoff = min(backoff*2, maxB)
			continue
		}
		backoff = minB
		w.Metrics.sent(name)
		if err := w.Queue.Done(seq); err != nil {
			w.Log.Error().Err(err).Str("output", name).Msg("delivered message not removed: it will be sent again")
		}
	}
}

func (w *Webhook) post(ctx context.Context, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "farmwatch-collector")
	req.Header.Set(SignatureHeader, Sign(w.Secret, body))
	resp, err := w.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("the receiver answered %s", resp.Status)
	}
	return nil
}

// redact is a URL without its user info and query, for logs and metrics
// (either may hold a credential).
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}
