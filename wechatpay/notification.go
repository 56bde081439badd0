package wechatpay

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"
)

// MaxNotificationBytes is the largest notification body worth reading.
// Real ones are 1 to 2 KB; a handler should cap its read at this size and
// refuse anything larger before verifying it.
const MaxNotificationBytes = 64 << 10

// Notification is the envelope WeChat Pay POSTs to notify_url. Its
// resource holds the event itself, encrypted under the APIv3 key.
type Notification struct {
	ID           string   `json:"id"` // unique per event; retries repeat it, so use it to drop duplicates
	CreateTime   string   `json:"create_time"`
	EventType    string   `json:"event_type"` // e.g. "TRANSACTION.SUCCESS", "REFUND.SUCCESS"
	ResourceType string   `json:"resource_type"`
	Summary      string   `json:"summary"`
	Resource     Resource `json:"resource"`
}

// ParseNotification decodes the envelope without verifying or decrypting
// it. It insists on an id and an encrypted resource, since a notification
// without them cannot be acted on. Failures are a *FormatError.
func ParseNotification(body []byte) (*Notification, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, &FormatError{What: "notification", Reason: "body is not a JSON object"}
	}
	if len(body) > MaxNotificationBytes {
		return nil, &FormatError{What: "notification", Reason: "body larger than the cap"}
	}
	var n Notification
	if err := json.Unmarshal(body, &n); err != nil {
		return nil, &FormatError{What: "notification", Reason: "not the expected JSON shape"}
	}
	if n.ID == "" || n.Resource.Ciphertext == "" {
		return nil, &FormatError{What: "notification", Reason: "no id or no resource"}
	}
	return &n, nil
}

// OpenNotification verifies and decrypts one notification: Verify over
// the raw body and h, then ParseNotification, then DecryptResource with
// apiV3Key. It returns the envelope and the decrypted resource's bytes as
// they came out of the cipher, not re-serialised.
//
// The error tells the two kinds of failure apart, for the answer to
// WeChat Pay: a *VerifyError means the notification is not proven to be
// WeChat Pay's (missing header, unknown serial, stale timestamp, bad
// signature; answer 401), while a *FormatError or a *DecryptError means a
// signed body that cannot be used (answer 400). Either way WeChat Pay
// retries. Nothing is parsed before the signature is checked.
func OpenNotification(h http.Header, body []byte, v *Verifier, apiV3Key []byte, now time.Time) (*Notification, []byte, error) {
	if err := v.Verify(h, body, now); err != nil {
		return nil, nil, err
	}
	n, err := ParseNotification(body)
	if err != nil {
		return nil, nil, err
	}
	plain, err := DecryptResource(apiV3Key, n.Resource)
	if err != nil {
		return nil, nil, err
	}
	return n, plain, nil
}
