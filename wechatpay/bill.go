package wechatpay

import (
	"context"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// DefaultMaxBillBytes caps a bill file when Client.MaxBillBytes is zero.
// Ask for tar_type=GZIP to stay well under it.
const DefaultMaxBillBytes = 64 << 20

// DownloadBill fetches a bill file from the download_url of a (verified)
// trade or fund-flow bill answer. The request is signed like any other,
// but the answer is NOT verified, because WeChat Pay does not sign bill
// files: use this for the bill file only, never for an API call, and
// check the file with CheckBillHash against the hash_value of the signed
// answer that gave the URL.
//
// The URL must be on the client's own origin (scheme and host of
// BaseURL), so that a signed request is never sent elsewhere. A status
// other than 200 is a *StatusError; the file is returned with its
// headers otherwise. Errors never include the URL, whose query holds a
// download token.
func (c *Client) DownloadBill(ctx context.Context, downloadURL string) (*Response, error) {
	const op = "GET bill file"
	u, err := url.Parse(downloadURL)
	if err != nil {
		return nil, errors.New("wechatpay: download_url does not parse")
	}
	base, err := url.Parse(c.base())
	if err != nil || u.Scheme != base.Scheme || !strings.EqualFold(u.Host, base.Host) || u.User != nil {
		return nil, errors.New("wechatpay: download_url is not on the API origin")
	}
	limit := c.MaxBillBytes
	if limit <= 0 {
		limit = DefaultMaxBillBytes
	}
	resp, raw, err := c.send(ctx, op, http.MethodGet, downloadURL, nil, limit)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &StatusError{Op: op, StatusCode: resp.StatusCode}
	}
	return &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: raw}, nil
}

// CheckBillHash compares a bill file with the hash_type and hash_value
// of the signed answer that listed it. WeChat Pay uses SHA1 here; any
// other hash_type is refused rather than skipped.
func CheckBillHash(file []byte, hashType, hashValue string) error {
	if !strings.EqualFold(hashType, "SHA1") {
		return errors.New("wechatpay: bill hash_type " + quoteClip(hashType) + " is not SHA1")
	}
	sum := sha1.Sum(file)
	want, err := hex.DecodeString(hashValue)
	if err != nil || subtle.ConstantTimeCompare(sum[:], want) != 1 {
		return errors.New("wechatpay: bill file does not match its hash_value")
	}
	return nil
}
